"""The CPU one /search answer costs in process, with and without its per-IP limit.

`python bench/search_limit_cost.py [--rounds 5] [--requests 20000]` calls the ASGI app
directly (no HTTP server, no network) for cached answers of 100 distinct queries, from one
client address, alternating rounds with the real `BatchedLimit` and with a limit that lets
everything through uncounted; it prints the CPU time per request (process time, so the load
of other processes on the machine weighs on both sides alike) and their ratio. Without an HTTP
server in the way, the limit's share is larger here than in `bench/run.py catalog`.

Uses RHYTHM_BENCH_DATABASE_URL / RHYTHM_BENCH_REDIS_URL (or the local servers, as the other
benchmarks do); the catalog is replaced by a generated one.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rhythm.catalog.search_cache import SearchCache
from rhythm.platform.ratelimit import BatchedLimit
from rhythm.platform.resources import Resources

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.catalog_scenario import write_feed
from bench.harness import bench_database


class Unlimited:
    async def hit(self, key: str) -> None:
        return None


async def measure(database_url: str, redis_url: str, rounds: int, requests: int) -> None:
    from rhythm.app import create_app
    from rhythm.catalog import service
    from rhythm.migrations import upgrade
    from rhythm.platform.settings import Settings

    upgrade(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE catalog_base_events, catalog_syncs CASCADE")
    settings = Settings(
        env="test",
        database_url=database_url,
        redis_url=redis_url,
        secret_key="bench-secret-key-0123456789-abcdefghijklmnop",
        rate_limit_search="1000000000/minute",
        log_level="WARNING",
    )
    app = create_app(settings)
    feed = Path(tempfile.mkdtemp(prefix="rhythm-limit-cost-")) / "feed.xml"
    write_feed(feed, 200, 5, 3)
    rng = random.Random(3)
    queries = []
    for _ in range(100):
        first = datetime(2030, 1, 1) + timedelta(days=rng.randrange(0, 800))
        last = first + timedelta(days=rng.randrange(1, 90))
        queries.append(f"starts_at={first:%Y-%m-%dT%H:%M:%S}&ends_at={last:%Y-%m-%dT%H:%M:%S}")
    async with app.router.lifespan_context(app):
        await service.sync(
            app.state.services[Resources].session_factory,
            app.state.services[Resources].redis,
            path=feed,
            max_bytes=1 << 30,
        )
        await app.state.services[SearchCache].load_version()
        limited = app.state.services[BatchedLimit]
        sent: list[Any] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent.append(message["status"])

        async def one(query: str) -> None:
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": "/search",
                "raw_path": b"/search",
                "query_string": query.encode(),
                "headers": [(b"host", b"bench")],
                "client": ("10.0.0.1", 40000),
                "server": ("bench", 80),
            }
            await app(scope, receive, send)

        for q in queries:  # cached from here on
            await one(q)
        costs: dict[str, list[float]] = {"with the limit": [], "without": []}
        for _ in range(rounds):
            for label, limit in (("with the limit", limited), ("without", Unlimited())):
                app.state.services[BatchedLimit] = limit
                sent.clear()
                started = time.process_time()
                for n in range(requests):
                    await one(queries[n % len(queries)])
                costs[label].append((time.process_time() - started) / requests * 1e6)
                assert set(sent) == {200}, set(sent)
        app.state.services[BatchedLimit] = limited
    with_limit = statistics.median(costs["with the limit"])
    without = statistics.median(costs["without"])
    print(f"without the limit: {without:.1f} us CPU per request (median of {rounds})")
    print(f"with the limit:    {with_limit:.1f} us CPU per request (median of {rounds})")
    print(f"ratio: {with_limit / without:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    with bench_database() as (database_url, redis_url):
        asyncio.run(measure(database_url, redis_url, args.rounds, args.requests))


if __name__ == "__main__":
    main()
