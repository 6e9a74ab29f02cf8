"""Issue 3's benchmark on the dataset of bench/dataset.py (run that first).

- `GET /sleep/following` (last week, first page) for 10,000 random active viewers, warm:
  throughput at 64 connections, latency at 8; wrk picks a random viewer's token per request;
- the 5,000-followee viewer, cold: Redis flushed before each of 5 requests; median latency;
- clock-out by the 100,000-follower account: 200 sequential clock-in/clock-out cycles;
- how long until that clock-out is visible in a sample of 20 followers' feeds;
- Redis memory per active viewer after the warm runs.

The database is `RHYTHM_BENCH_SLEEP_DATABASE_URL`, by default the local rhythm_bench_sleep. A
`rhythm worker` runs beside the server, as in production, to apply the fan-out jobs.

Tokens are minted directly (a device session row per viewer and a JWT signed with the bench
secret), since 10,000 argon2 logins would take 15 minutes.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import redis

from bench.harness import TABLE_HEADER, granian, median_result, rhythm_env, wrk
from rhythm.identity.tokens import AccessTokenCodec
from rhythm.platform.process import spawn_child
from rhythm.platform.timeutil import previous_week

DATABASE = "postgresql://postgres@127.0.0.1:5432/rhythm_bench_sleep"
REDIS = "redis://127.0.0.1:6379/15"
SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"
VIEWERS = 10_000

FEED_LUA = """
local tokens = {}
for line in io.lines("%s") do tokens[#tokens + 1] = line end
math.randomseed(os.time())
request = function()
  local token = tokens[math.random(#tokens)]
  local headers = {["Authorization"] = "Bearer " .. token}
  return wrk.format("GET", "/api/v1/sleep/following?week=%s", headers)
end
"""


def mint_tokens(conn: psycopg.Connection, user_ids: list[uuid.UUID]) -> list[str]:
    codec = AccessTokenCodec(SECRET, "rhythm", "rhythm-api", 3600)
    expires = datetime.now(UTC) + timedelta(days=1)
    sessions = [(uuid.uuid4(), uid) for uid in user_ids]
    with (
        conn.cursor() as cur,
        cur.copy("COPY device_sessions (id, user_id, device_name, expires_at) FROM STDIN") as copy,
    ):
        for sid, uid in sessions:
            copy.write_row((sid, uid, "bench", expires))
    conn.commit()
    return [codec.encode(uid, sid) for sid, uid in sessions]


def active_viewers(conn: psycopg.Connection, week: str, count: int) -> list[uuid.UUID]:
    rows = conn.execute(
        "SELECT DISTINCT f.follower_id FROM follows f"
        " JOIN sleep_records r ON r.user_id = f.followee_id AND r.week = %s"
        " WHERE r.wake_at IS NOT NULL LIMIT %s",
        (week, count * 5),
    ).fetchall()
    import random

    chosen = random.Random(11).sample([r[0] for r in rows], min(count, len(rows)))
    return chosen


def run(rounds: int = 3, seconds: int = 10) -> None:
    database_url = os.environ.get("RHYTHM_BENCH_SLEEP_DATABASE_URL", DATABASE)
    week = previous_week(datetime.now(UTC), "UTC")
    conn = psycopg.connect(database_url)
    viewers = active_viewers(conn, week, VIEWERS)
    celebrity = conn.execute("SELECT id FROM users WHERE email = 'celebrity@bench'").fetchone()[0]
    heavy = conn.execute("SELECT id FROM users WHERE email = 'viewer5k@bench'").fetchone()[0]
    followers = [
        r[0]
        for r in conn.execute(
            "SELECT follower_id FROM follows WHERE followee_id = %s LIMIT 20", (celebrity,)
        ).fetchall()
    ]
    # The clock-out cycles below use the last 3 hours: clear what an earlier run left there.
    conn.execute(
        "DELETE FROM sleep_records WHERE user_id = %s AND sleep_at > now() - interval '3 hours'",
        (celebrity,),
    )
    tokens = mint_tokens(conn, [*viewers, celebrity, heavy, *followers])
    viewer_tokens = tokens[: len(viewers)]
    celebrity_token, heavy_token = tokens[len(viewers)], tokens[len(viewers) + 1]
    follower_tokens = tokens[len(viewers) + 2 :]
    cache = redis.Redis.from_url(REDIS)
    cache.flushdb()
    memory_before = cache.info("memory")["used_memory"]

    token_file = Path(tempfile.mkstemp(suffix=".tokens")[1])
    token_file.write_text("\n".join(viewer_tokens))
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(FEED_LUA % (token_file, week))

    env = rhythm_env(database_url, REDIS, RHYTHM_SECRET_KEY=SECRET)
    results: dict[str, list] = {}
    worker = spawn_child([sys.executable, "-m", "rhythm", "worker"], env=env)
    hello_env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
    with (
        granian("bench.hello:app", hello_env) as hello,
        granian("rhythm.app:create_app", env) as api,
    ):
        url = api + "/api/v1/sleep/following"
        warm_seconds = asyncio.run(warm(api, week, viewer_tokens))
        print(f"warm pass over {len(viewer_tokens):,} viewers: {warm_seconds:.1f} s")
        for _ in range(rounds):
            results.setdefault("hello", []).append(
                wrk("hello", hello + "/hello", connections=64, seconds=seconds)
            )
            results.setdefault("c64", []).append(
                wrk("feed c64", url, connections=64, seconds=seconds, script=script)
            )
            results.setdefault("c8", []).append(
                wrk("feed c8", url, connections=8, seconds=seconds, script=script)
            )
        memory_after = cache.info("memory")["used_memory"]

        cold = []
        with httpx.Client(base_url=api, timeout=30) as client:
            for _ in range(5):
                cache.flushdb()
                start = time.perf_counter()
                response = client.get(
                    "/api/v1/sleep/following",
                    params={"week": week},
                    headers={"Authorization": f"Bearer {heavy_token}"},
                )
                cold.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.text
            clock_outs, visible = celebrity_cycles(client, celebrity_token, follower_tokens)
    worker.terminate()
    worker.wait(20)

    feed64, feed8 = median_result(results["c64"]), median_result(results["c8"])
    baseline = median_result(results["hello"])
    baseline.label = "hello-world (baseline, same run), 64 connections"
    feed64.label = "GET /sleep/following, 10,000 viewers, 64 connections"
    feed8.label = "GET /sleep/following, 10,000 viewers, 8 connections"
    print(f"week {week}; {len(viewers):,} active viewers; medians of {rounds} rounds\n")
    print(TABLE_HEADER)
    print(baseline.row())
    print(feed64.row())
    print(feed8.row())
    print(f"\nfeed / hello-world throughput: {feed64.rps / baseline.rps:.1%}\n")
    per_viewer = (memory_after - memory_before) / max(1, len(viewers))
    figures = [
        ("5,000-followee viewer, cold (Redis flushed), median of 5", statistics.median(cold)),
        ("clock-out by the 100k-follower account, p50", percentile(clock_outs, 50)),
        ("clock-out by the 100k-follower account, p99", percentile(clock_outs, 99)),
        ("clock-out visible in 20 followers' feeds, worst", max(visible)),
    ]
    print("| what | figure |\n|---|---|")
    for label, ms in figures:
        print(f"| {label} | {ms:.1f} ms |")
    print(f"| Redis memory per active viewer | {per_viewer:,.0f} bytes |")


async def warm(base: str, week: str, tokens: list[str], concurrency: int = 32) -> float:
    """Request every viewer's first page once, so their feeds are built."""
    queue = list(tokens)
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def worker() -> None:
            while queue:
                token = queue.pop()
                response = await client.get(
                    "/api/v1/sleep/following",
                    params={"week": week},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.status_code == 200, response.text

        await asyncio.gather(*[worker() for _ in range(concurrency)])
    return time.perf_counter() - start


def percentile(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def celebrity_cycles(
    client: httpx.Client, token: str, follower_tokens: list[str], cycles: int = 200
) -> tuple[list[float], list[float]]:
    """Short nights in the last hours; returns clock-out latencies and visibility delays."""
    headers = {"Authorization": f"Bearer {token}"}
    latest = client.get("/api/v1/sleep/records", params={"limit": 1}, headers=headers).json()
    if latest["data"] and latest["data"][0]["status"] == "sleeping":  # left by an aborted run
        client.delete(f"/api/v1/sleep/records/{latest['data'][0]['id']}", headers=headers)
        latest = client.get("/api/v1/sleep/records", params={"limit": 1}, headers=headers).json()
    start = datetime.now(UTC) - timedelta(hours=3)
    if latest["data"] and latest["data"][0]["wake_at"]:
        start = max(start, datetime.fromisoformat(latest["data"][0]["wake_at"]))
    # Fit every cycle between the latest night and now (a rerun starts after the last one).
    step = min(40.0, (datetime.now(UTC) - start).total_seconds() / (cycles + 1))
    assert step >= 2, "no room for the clock-out cycles; regenerate the dataset"
    latencies: list[float] = []
    record = None
    for i in range(cycles):
        bed = start + timedelta(seconds=step * i + 1)
        assert (
            client.post(
                "/api/v1/sleep/clock-in", json={"at": bed.isoformat()}, headers=headers
            ).status_code
            == 201
        )
        t = time.perf_counter()
        out = client.post(
            "/api/v1/sleep/clock-out",
            json={"at": (bed + timedelta(seconds=step * 0.5)).isoformat()},
            headers=headers,
        )
        latencies.append((time.perf_counter() - t) * 1000)
        assert out.status_code == 200, out.text
        record = out.json()["record"]
    assert record is not None
    delays = asyncio.run(visibility(client.base_url, record, follower_tokens))
    return latencies, delays


async def visibility(base: httpx.URL, record: dict, tokens: list[str]) -> list[float]:
    week = record["week"]
    done = time.perf_counter()

    async def wait_for(token: str) -> float:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            while True:
                cursor = None
                while True:
                    params = {"week": week, "limit": 100, **({"cursor": cursor} if cursor else {})}
                    page = (
                        await client.get(
                            "/api/v1/sleep/following",
                            params=params,
                            headers={"Authorization": f"Bearer {token}"},
                        )
                    ).json()
                    if any(item["id"] == record["id"] for item in page["data"]):
                        return (time.perf_counter() - done) * 1000
                    cursor = page["next_cursor"]
                    if not cursor:
                        break
                if time.perf_counter() - done > 30:
                    return float("inf")
                await asyncio.sleep(0.05)

    return list(await asyncio.gather(*[wait_for(t) for t in tokens]))
