"""Issue 4's benchmark: focus writes, streak reads and a 3-year recalculation.

- `POST /api/v1/focus/sessions`: each request a new session (random user of 2,000, random day
  of the last year, 20 to 60 minutes), so every one splits, recalculates its dates' unions and
  the user's whole streak in its transaction; throughput at 64 connections;
- `GET /api/v1/users/{id}/streak`: a random viewer asks for a random user's streak (warmed
  first); throughput at 64 connections, latency at 8;
- a full recalculation for a user with 3 years of daily sessions (1,096 dates): the service's
  own recalculation (all daily totals read, the walk, the anchor saved), timed in-process in
  rolled-back transactions, and POSTs of new sessions for that user over HTTP.

A bare FastAPI hello-world is measured in the same rounds. Users and device sessions are
written with COPY and tokens minted directly (10,000 argon2 logins would take minutes).
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

from bench.harness import (
    TABLE_HEADER,
    Result,
    bench_database,
    granian,
    median_result,
    rhythm_env,
    wrk,
)
from bench.sleep_scenario import SECRET, mint_tokens

USERS = 2_000
HEAVY_DAYS = 3 * 365 + 1

POST_LUA = """
local tokens = {}
for line in io.lines("%s") do tokens[#tokens + 1] = line end
math.randomseed(os.time() + %d)
local counter = 0
local now = os.time()
request = function()
  counter = counter + 1
  local token = tokens[math.random(#tokens)]
  local start = now - math.random(1, 365) * 86400 - math.random(0, 86000)
  local stop = start + math.random(20, 60) * 60
  local body = string.format(
    '{"session_id":"wrk-%%d-%%d-%%d","started_at":"%%s","ended_at":"%%s","timezone":"%%s"}',
    %d, counter, math.random(1000000000), os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", start),
    os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", stop), "Europe/Paris")
  local headers = {["Authorization"] = "Bearer " .. token,
                   ["Content-Type"] = "application/json"}
  return wrk.format("POST", "/api/v1/focus/sessions", headers, body)
end
"""

STREAK_LUA = """
local tokens = {}
for line in io.lines("%s") do tokens[#tokens + 1] = line end
local users = {}
for line in io.lines("%s") do users[#users + 1] = line end
math.randomseed(os.time())
request = function()
  local headers = {["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]}
  return wrk.format("GET", "/api/v1/users/" .. users[math.random(#users)] .. "/streak", headers)
end
"""


def create_users(conn: psycopg.Connection, count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    zones = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Lord_Howe"]
    tag = uuid.uuid4().hex[:8]
    with (
        conn.cursor() as cur,
        cur.copy("COPY users (id, email, password_hash, name, timezone) FROM STDIN") as copy,
    ):
        for i, uid in enumerate(ids):
            copy.write_row((uid, f"focus{i}-{tag}@bench", "!", f"Focus {i}", zones[i % 5]))
    conn.commit()
    return ids


def load_heavy_history(conn: psycopg.Connection, user_id: uuid.UUID) -> None:
    """3 years of daily 45-minute sessions, written as the service would have."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=HEAVY_DAYS)
    conn.execute(
        "INSERT INTO focus_sessions (id, user_id, session_id, started_at, ended_at, timezone,"
        " response) SELECT gen_random_uuid(), %(u)s, 'history-' || d::text,"
        " d + time '08:00', d + time '08:45', 'UTC', '{}'"
        " FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d",
        {"u": user_id, "first": first, "last": today - timedelta(days=1)},
    )
    conn.execute(
        "INSERT INTO focus_session_parts (session_pk, day, user_id, started_at, ended_at)"
        " SELECT id, (started_at AT TIME ZONE 'UTC')::date, user_id, started_at, ended_at"
        " FROM focus_sessions WHERE user_id = %(u)s",
        {"u": user_id},
    )
    conn.execute(
        "INSERT INTO focus_days (user_id, day, micros) SELECT user_id, day, 2700000000"
        " FROM focus_session_parts WHERE user_id = %(u)s",
        {"u": user_id},
    )
    conn.commit()


async def time_recalculation(database_url: str, user_id: uuid.UUID, runs: int = 50) -> list[float]:
    """The service's recalculation, as a POST or DELETE runs it (one date's union recomputed,
    every daily total read back, the walk, the anchor saved), in rolled-back transactions."""
    from rhythm.focus import repository
    from rhythm.focus.streaks import summarize
    from rhythm.platform.database import create_engine, create_session_factory

    engine = create_engine(database_url, 2)
    factory = create_session_factory(engine)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    timings: list[float] = []
    try:
        for _ in range(runs + 5):
            async with factory() as session:
                start = time.perf_counter()
                days = await repository.recompute_days(session, [(user_id, yesterday)], [user_id])
                anchor = summarize(d for d, micros in days[user_id] if micros >= 30 * 60_000_000)
                await repository.save_anchors(session, {user_id: anchor}, 30)
                timings.append((time.perf_counter() - start) * 1000)
                assert anchor.qualified_days == HEAVY_DAYS, anchor
                await session.rollback()
    finally:
        await engine.dispose()
    return timings[5:]


def heavy_posts(api: str, token: str, count: int = 50) -> list[float]:
    """New sessions for the 3-year user, today (each recalculates all 1,096 dates)."""
    headers = {"Authorization": f"Bearer {token}"}
    base = datetime.now(UTC).replace(hour=0, minute=1, second=0, microsecond=0)
    timings: list[float] = []
    with httpx.Client(base_url=api, timeout=30) as client:
        for i in range(count):
            start = base + timedelta(minutes=i)
            body = {
                "session_id": f"heavy-{uuid.uuid4().hex}",
                "started_at": start.isoformat(),
                "ended_at": (start + timedelta(seconds=30)).isoformat(),
                "timezone": "UTC",
            }
            t = time.perf_counter()
            response = client.post("/api/v1/focus/sessions", json=body, headers=headers)
            timings.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 201, response.text
            streak = response.json()["streak"]
            assert streak["qualified_days_count"] >= HEAVY_DAYS, streak
    return timings


async def warm(api: str, tokens: list[str], users: list[uuid.UUID]) -> None:
    """Every user's streak read once (with their own token, so every device session is known
    to the auth cache too, as it is for a client that has been signed in a while)."""
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        queue = list(zip(users, tokens, strict=True))

        async def worker() -> None:
            while queue:
                user, token = queue.pop()
                response = await client.get(
                    f"/api/v1/users/{user}/streak", headers={"Authorization": f"Bearer {token}"}
                )
                assert response.status_code == 200, response.text

        await asyncio.gather(*[worker() for _ in range(16)])


def percentile(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def run(rounds: int = 3, seconds: int = 10) -> None:
    from rhythm.migrations import upgrade

    with bench_database() as (database_url, redis_url):
        upgrade(database_url)
        with psycopg.connect(database_url) as conn:
            users = create_users(conn, USERS)
            tokens = mint_tokens(conn, users)
            load_heavy_history(conn, users[0])
        token_file = Path(tempfile.mkstemp(suffix=".tokens")[1])
        token_file.write_text("\n".join(tokens))
        user_file = Path(tempfile.mkstemp(suffix=".users")[1])
        user_file.write_text("\n".join(str(u) for u in users))
        streak_script = Path(tempfile.mkstemp(suffix=".lua")[1])
        streak_script.write_text(STREAK_LUA % (token_file, user_file))

        env = rhythm_env(database_url, redis_url, RHYTHM_SECRET_KEY=SECRET)
        hello_env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
        results: dict[str, list[Result]] = {}
        with (
            granian("bench.hello:app", hello_env) as hello,
            granian("rhythm.app:create_app", env) as api,
        ):
            asyncio.run(warm(api, tokens, users))
            for round_ in range(rounds):
                post_script = Path(tempfile.mkstemp(suffix=".lua")[1])
                post_script.write_text(POST_LUA % (token_file, round_, round_))
                streak_url = api + "/api/v1/users/x/streak"
                for key, label, url, connections, script in [
                    ("hello", "hello-world (baseline)", hello + "/hello", 64, None),
                    (
                        "post",
                        "POST /focus/sessions",
                        api + "/api/v1/focus/sessions",
                        64,
                        post_script,
                    ),
                    ("get64", "GET /users/{id}/streak", streak_url, 64, streak_script),
                    ("get8", "GET /users/{id}/streak", streak_url, 8, streak_script),
                ]:
                    result = wrk(
                        label, url, connections=connections, seconds=seconds, script=script
                    )
                    result.label = f"{label}, {connections} connections"
                    results.setdefault(key, []).append(result)
                post_script.unlink()
            posts = heavy_posts(api, tokens[0])
        recalcs = asyncio.run(time_recalculation(database_url, users[0]))
        for path in (token_file, user_file, streak_script):
            path.unlink()

    print(f"medians of {rounds} rounds; {USERS:,} users\n")
    print(TABLE_HEADER)
    medians = {key: median_result(values) for key, values in results.items()}
    for result in medians.values():
        print(result.row())
    hello_rps = medians["hello"].rps
    print(
        f"\nPOST / hello-world: {medians['post'].rps / hello_rps:.1%}; "
        f"GET streak / hello-world: {medians['get64'].rps / hello_rps:.1%}\n"
    )
    print("| what | p50 ms | p99 ms |\n|---|---|---|")
    print(
        f"| recalculation, 3 years of daily sessions ({HEAVY_DAYS:,} dates), in-process "
        f"| {statistics.median(recalcs):.1f} | {percentile(recalcs, 99):.1f} |"
    )
    print(
        f"| POST /focus/sessions for that user, sequential, end to end "
        f"| {statistics.median(posts):.1f} | {percentile(posts, 99):.1f} |"
    )


if __name__ == "__main__":
    sys.exit(run())
