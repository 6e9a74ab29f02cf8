"""What one slot per script costs (issue 15, Redis Cluster): the warm followings feed and the
focus leaderboard, served side by side in one run by the code before the change and by this
tree, each as a ratio to a hello-world measured in the same rounds.

    RHYTHM_BENCH_BEFORE_SRC=/path/to/a/checkout/of/main/src python bench/run.py slots \\
        --rounds 1 --seconds 8

on the dataset of `bench/dataset.py --scale small` (RHYTHM_BENCH_SLEEP_DATABASE_URL, by default
the local rhythm_bench_sleep). Both servers run on standalone Redis (RHYTHM_BENCH_REDIS_URL's
server, databases 14 and 15, one each) against the same PostgreSQL, with 2 Granian workers each;
every viewer's page is requested once by each server before the timed runs, so the timed
requests are warm (served from Redis; the leaderboard still reads the follows from
PostgreSQL, as it always does). No writes happen, so no worker runs.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import redis

from bench.harness import ROOT, TABLE_HEADER, Result, granian, median_result, rhythm_env, wrk
from bench.sleep_scenario import DATABASE, SECRET, active_viewers, mint_tokens
from rhythm.platform.timeutil import previous_week

VIEWERS = 1_000
REDIS = "redis://127.0.0.1:6379"

ROUTE_LUA = """
local tokens = {}
for line in io.lines("%s") do tokens[#tokens + 1] = line end
math.randomseed(os.time())
request = function()
  local token = tokens[math.random(#tokens)]
  local headers = {["Authorization"] = "Bearer " .. token}
  return wrk.format("GET", "%s", headers)
end
"""


async def warm(base: str, path: str, tokens: list[str], concurrency: int = 8) -> float:
    """Request `path` once as every viewer, so what it reads is cached (a 503, PostgreSQL
    busy with the cold rebuilds, is asked again)."""
    queue = list(tokens)
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def worker() -> None:
            while queue:
                token = queue.pop()
                headers = {"Authorization": f"Bearer {token}"}
                response = await client.get(path, headers=headers)
                while response.status_code == 503:
                    await asyncio.sleep(0.5)
                    response = await client.get(path, headers=headers)
                assert response.status_code == 200, response.text

        await asyncio.gather(*[worker() for _ in range(concurrency)])
    return time.perf_counter() - start


def run(rounds: int = 1, seconds: int = 8, processes: object = None) -> None:
    before_src = os.environ.get("RHYTHM_BENCH_BEFORE_SRC")
    if not before_src or not (Path(before_src) / "rhythm" / "app.py").is_file():
        sys.exit("slots: set RHYTHM_BENCH_BEFORE_SRC to the src directory of the code to compare")
    database_url = os.environ.get("RHYTHM_BENCH_SLEEP_DATABASE_URL", DATABASE)
    redis_server = os.environ.get("RHYTHM_BENCH_REDIS_URL", REDIS).rstrip("/")
    week = previous_week(datetime.now(UTC), "UTC")
    with psycopg.connect(database_url) as conn:
        viewers = active_viewers(conn, week, VIEWERS)
        tokens = mint_tokens(conn, viewers)
    token_file = Path(tempfile.mkstemp(suffix=".tokens")[1])
    token_file.write_text("\n".join(tokens))
    routes = {
        "feed": f"/api/v1/sleep/following?week={week}",
        "board": "/api/v1/focus/leaderboard?by=week_minutes",
    }
    scripts = {}
    for name, path in routes.items():
        scripts[name] = Path(tempfile.mkstemp(suffix=".lua")[1])
        scripts[name].write_text(ROUTE_LUA % (token_file, path))

    trees = {"before": before_src, "after": str(ROOT / "src")}
    caches = {"before": f"{redis_server}/14", "after": f"{redis_server}/15"}
    for url in caches.values():
        redis.Redis.from_url(url).flushdb()
    hello_env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
    results: dict[str, list[Result]] = {}
    with (
        granian("bench.hello:app", hello_env) as hello,
        granian(
            "rhythm.app:create_app", _env(database_url, caches["before"], trees["before"])
        ) as before,
        granian(
            "rhythm.app:create_app", _env(database_url, caches["after"], trees["after"])
        ) as after,
    ):
        servers = {"before": before, "after": after}
        for tree, base in servers.items():
            for name, path in routes.items():
                took = asyncio.run(warm(base, path, tokens))
                print(f"warm {name} ({tree}) over {len(tokens):,} viewers: {took:.1f} s")
        for round_ in range(rounds):
            results.setdefault("hello", []).append(
                wrk("hello", hello + "/hello", connections=64, seconds=seconds)
            )
            for i, (name, path) in enumerate(routes.items()):
                # Before then after, then after then before: drift in the machine's load
                # favours neither.
                order = list(servers.items())[:: -1 if (round_ + i) % 2 else 1]
                for tree, base in order:
                    result = wrk(
                        f"{name} {tree}",
                        base + path.split("?")[0],
                        connections=64,
                        seconds=seconds,
                        script=scripts[name],
                    )
                    results.setdefault(f"{name} {tree}", []).append(result)
    for path in (token_file, *scripts.values()):
        path.unlink()

    labels = {
        "hello": "hello-world (baseline, same run)",
        "feed before": "GET /sleep/following, warm: before (one Lua call per page)",
        "feed after": "GET /sleep/following, warm: after (single-slot calls, 2-3 round trips)",
        "board before": "GET /focus/leaderboard, warm: before (one Lua call for all users)",
        "board after": "GET /focus/leaderboard, warm: after (one call per user, one pipeline)",
    }
    medians = {key: median_result(values) for key, values in results.items()}
    print(f"\nweek {week}; {len(tokens):,} viewers; 64 connections; medians of {rounds} rounds\n")
    print(TABLE_HEADER)
    for key, label in labels.items():
        medians[key].label = label
        print(medians[key].row())
    hello_rps = medians["hello"].rps
    print()
    for name in routes:
        was, now = medians[f"{name} before"].rps, medians[f"{name} after"].rps
        print(
            f"- {name}: before {was / hello_rps:.1%} of hello-world, after "
            f"{now / hello_rps:.1%}; after / before {now / was:.1%}"
        )


def _env(database_url: str, redis_url: str, src: str) -> dict[str, str]:
    env = rhythm_env(database_url, redis_url, RHYTHM_SECRET_KEY=SECRET)
    env["PYTHONPATH"] = os.pathsep.join([src, str(ROOT)])
    # Two servers of two workers each: a smaller pool than the other scenarios' keeps the
    # four within a stock PostgreSQL's 100 connections.
    env["RHYTHM_DB_POOL_SIZE"] = "10"
    return env
