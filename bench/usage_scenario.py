"""Issue 5's benchmark: heartbeat ingestion, reports, and aw-server side by side.

- `POST /api/v1/usage/heartbeats`: one heartbeat per request, a random user of 2,000 per
  request, timestamps moving forward 1 ms per request (so heartbeats merge and sometimes start
  a new interval, as a tracker's would); throughput at 64 connections, latency at 8;
- `POST /api/v1/usage/heartbeats/bulk`: 1,000 heartbeats per request (bodies generated first,
  each continuing its user's timeline); heartbeats/s at 8 connections;
- the report of a day built from 20,000 heartbeats, end to end over HTTP (median of 50);
- the report by category of such a day (with titles) under 50 rules, over HTTP (200 runs; also
  alone: `bench/run.py usage-categories`);
- aw-server (from its own virtualenv, see tests/usage/awserver.py) and rhythm's /api/0
  heartbeat route, the same wrk script against each in one run: 64 buckets, request i sends
  bucket i mod 64 its next heartbeat.

A bare FastAPI hello-world is measured in the same rounds. Every answer is a 202 sent after the
commit, so every counted heartbeat is durable.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.focus_scenario import create_users, warm
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
APPS = ["Editor", "Browser", "Terminal", "Mail", "Chat"]

SINGLE_LUA = """
local tokens = {}
for line in io.lines("%s") do tokens[#tokens + 1] = line end
local apps = {"Editor", "Browser", "Terminal", "Mail", "Chat"}
math.randomseed(%d)
local base = %d
local n = 0
request = function()
  n = n + 1
  local t = base + n / 1000
  local body = string.format(
    '{"timestamp":"%%s.%%03dZ","app":"%%s","source":"wrk","pulsetime":30}',
    os.date("!%%Y-%%m-%%dT%%H:%%M:%%S", math.floor(t)), math.floor((t %% 1) * 1000),
    apps[math.random(#apps)])
  local headers = {["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
                   ["Content-Type"] = "application/json"}
  return wrk.format("POST", "/api/v1/usage/heartbeats", headers, body)
end
"""

BULK_LUA = """
local bodies = {}
local tokens = {}
for line in io.lines("%s") do
  local sep = string.find(line, " ", 1, true)
  tokens[#tokens + 1] = string.sub(line, 1, sep - 1)
  bodies[#bodies + 1] = string.sub(line, sep + 1)
end
local n = 0
request = function()
  n = n %% #bodies + 1  -- wraps only if the run outlasts the bodies (then: retries)
  local headers = {["Authorization"] = "Bearer " .. tokens[n],
                   ["Content-Type"] = "application/json"}
  return wrk.format("POST", "/api/v1/usage/heartbeats/bulk", headers, bodies[n])
end
"""

AW_LUA = """
local apps = {"Editor", "Browser", "Terminal", "Mail", "Chat"}
local base = %d
local n = 0
local auth = "%s"
request = function()
  n = n + 1
  local bucket = n %% 64
  local step = math.floor(n / 64)
  local t = base + step * 2
  local app = apps[math.floor(step / 10) %% #apps + 1]
  local body = string.format(
    '{"timestamp":"%%s+00:00","duration":0,"data":{"app":"%%s","title":"t"}}',
    os.date("!%%Y-%%m-%%dT%%H:%%M:%%S", t), app)
  local headers = {["Content-Type"] = "application/json"}
  if auth ~= "" then headers["Authorization"] = auth end
  return wrk.format("POST", "/api/0/buckets/bench" .. bucket .. "/heartbeat?pulsetime=5",
                    headers, body)
end
"""


def bulk_bodies(
    users: list[uuid.UUID],
    tokens: list[str],
    count: int,
    clock: dict[uuid.UUID, datetime] | None = None,
) -> Path:
    """`count` bulk bodies of 1,000 heartbeats, each continuing a random user's timeline
    (`clock`, carried from one call to the next, so no body repeats another's time)."""
    rng = random.Random(len(clock or ()) + count)
    if clock is None:
        clock = {}
    for u in users:
        clock.setdefault(u, datetime.now(UTC) - timedelta(days=3))
    lines = []
    for _ in range(count):
        i = rng.randrange(len(users))
        t = clock[users[i]]
        beats = []
        app = rng.choice(APPS)
        for _ in range(1000):
            t += timedelta(milliseconds=rng.randint(200, 3000))
            if rng.random() < 0.05:
                app = rng.choice(APPS)
            beats.append({"timestamp": t.isoformat(), "app": app, "source": "bulk"})
        clock[users[i]] = t
        lines.append(f"{tokens[i]} {json.dumps(beats, separators=(',', ':'))}")
    path = Path(tempfile.mkstemp(suffix=".bodies")[1])
    path.write_text("\n".join(lines))
    return path


def send_day(
    client: httpx.Client,
    headers: dict[str, str],
    day: date,
    title: Callable[[int, str], str | None] = lambda i, app: None,
    *,
    minute: int = 6 * 60,
    steps: tuple[int, ...] = (1, 2, 3, 5, 40),
) -> int:
    """20,000 heartbeats for one user (two sources, five apps) from `minute` of `day`, `steps`
    seconds apart; how many were sent."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=minute)
    rng = random.Random(9)
    sent = 0
    for source in ("laptop", "desktop"):
        t = start
        for _ in range(10):
            beats = []
            for _ in range(1000):
                t += timedelta(seconds=rng.choice(steps))
                app = APPS[(sent // 300) % len(APPS)]
                url = f"https://www.site{sent % 7}.example/page" if app == "Browser" else None
                beat: dict[str, Any] = {"timestamp": t.isoformat(), "app": app, "source": source}
                if url:
                    beat["url"] = url
                if (text := title(sent, app)) is not None:
                    beat["title"] = text
                beats.append(beat)
                sent += 1
            posted = client.post("/api/v1/usage/heartbeats/bulk", json=beats, headers=headers)
            assert posted.status_code == 202, posted.text
    return sent


def report_timings(api: str, token: str, runs: int = 50) -> tuple[int, list[float]]:
    """A day of 20,000 heartbeats for one user (two sources, five apps, URLs) with each
    source's AFK status, then its report (active time, as aw-webui counts it)."""
    headers = {"Authorization": f"Bearer {token}"}
    day = datetime.now(UTC).date() - timedelta(days=5)
    with httpx.Client(base_url=api, timeout=60) as client:
        sent = send_day(client, headers, day)
        # Each device's AFK status: 25 minutes in use, 5 away, as aw-watcher-afk reports it
        # (so the report intersects window time with not-AFK periods), over the heartbeats'
        # span (from 06:00, about 28 hours at send_day's steps).
        start = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
        for source in ("laptop", "desktop"):
            at, active = start, True
            while at < start + timedelta(hours=30):
                length = 1500 if active else 300
                status = "not-afk" if active else "afk"
                afk = {"timestamp": at.isoformat(), "duration": length, "status": status}
                afk["host"] = source
                posted = client.post("/api/v1/usage/afk", json=afk, headers=headers)
                assert posted.status_code == 202, posted.text
                at += timedelta(seconds=length)
                active = not active
        timings = []
        for i in range(runs + 5):
            group = ("app", "domain", "title")[i % 3]
            t0 = time.perf_counter()
            got = client.get(
                "/api/v1/usage/report",
                params={"date": day.isoformat(), "timezone": "UTC", "group_by": group},
                headers=headers,
            )
            timings.append((time.perf_counter() - t0) * 1000)
            assert got.status_code == 200 and got.json()["total_seconds"] > 0, got.text
    return sent, timings[5:]


# Titles for the category report's day: each app cycles through 40 of them, a new one every
# 7 heartbeats, so that rules see many distinct events.
TITLES = {
    "Editor": "{n}.py - rhythm - Visual Studio Code",
    "Browser": "Issue #{n} · ActivityWatch/aw-core · GitHub",
    "Terminal": "vim notes-{n}.md",
    "Mail": "Inbox ({n}) - Thunderbird",
    "Chat": "#channel-{n} | Slack",
}
CATEGORY_RULES = 50


def category_rules() -> list[dict[str, Any]]:
    """Rules added to a new account's 16 defaults (aw-webui's) to make 50."""
    rules: list[dict[str, Any]] = []
    for i in range(CATEGORY_RULES - 16):
        path = ["Projects", f"Project {i // 4}", f"Part {i}"][: 2 + i % 2]
        regex = f"notes-{i}\\.md|Issue #{i}\\b|(?:^|/)p{i}/|ticket-{i:03d}"
        rules.append({"name": path, "rule": {"type": "regex", "regex": regex,
                                              "ignore_case": i % 3 == 0}})  # fmt: skip
    return rules


def category_report_timings(
    api: str, token: str, runs: int = 200
) -> tuple[int, int, dict[str, list[float]]]:
    """A day of 20,000 heartbeats with titles, 50 category rules, then its report by category,
    alternating with the same day by app (the baseline): (heartbeats, rules, milliseconds per
    report by group)."""
    headers = {"Authorization": f"Bearer {token}"}
    day = datetime.now(UTC).date() - timedelta(days=6)
    with httpx.Client(base_url=api, timeout=60) as client:
        # All of them inside the day: 00:10 to about 23:30 (pauses of 31 s end an interval).
        sent = send_day(
            client,
            headers,
            day,
            lambda i, app: TITLES[app].format(n=(i // 7) % 40),
            minute=10,
            steps=(1, 2, 3, 5, 31),
        )
        for rule in category_rules():
            made = client.post("/api/v1/usage/categories", json=rule, headers=headers)
            assert made.status_code == 201, made.text
        rules = client.get("/api/v1/usage/categories", headers=headers).json()
        timings: dict[str, list[float]] = {"category": [], "app": []}
        for i in range(2 * (runs + 5)):
            group = ("category", "app")[i % 2]
            t0 = time.perf_counter()
            got = client.get(
                "/api/v1/usage/report",
                params={"date": day.isoformat(), "timezone": "UTC", "group_by": group},
                headers=headers,
            )
            if i >= 10:
                timings[group].append((time.perf_counter() - t0) * 1000)
            assert got.status_code == 200 and len(got.json()["items"]) >= 4, got.text
    return sent, len(rules), timings


def p99(timings: list[float]) -> float:
    return sorted(timings)[max(0, int(len(timings) * 0.99) - 1)]


def category_line(sent: int, rules: int, timings: dict[str, list[float]]) -> str:
    by = timings["category"]
    app = timings["app"]
    return (
        f"report by category of a day built from {sent:,} heartbeats, {rules} rules, "
        f"{len(by)} runs: p50 {statistics.median(by):.1f} ms, p99 {p99(by):.1f} ms "
        f"(the same day by app, alternating: p50 {statistics.median(app):.1f} ms, "
        f"p99 {p99(app):.1f} ms)"
    )


def run_categories(rounds: int = 3, seconds: int = 10) -> None:
    """The category report alone (`bench/run.py usage-categories`): one server, no wrk."""
    del rounds, seconds
    with bench_database() as (database_url, redis_url):
        from rhythm.migrations import upgrade

        upgrade(database_url)
        with psycopg.connect(database_url) as conn:
            users = create_users(conn, 2)
            tokens = mint_tokens(conn, users)
        env = rhythm_env(database_url, redis_url, RHYTHM_SECRET_KEY=SECRET)
        with granian("rhythm.app:create_app", env) as api:
            print(category_line(*category_report_timings(api, tokens[0])))


def aw_key(api: str, token: str) -> str:
    key = httpx.post(
        api + "/api/v1/auth/api-keys",
        json={"name": "bench"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert key.status_code == 201, key.text
    secret: str = key.json()["key"]
    return secret


def create_aw_buckets(base: str, auth: tuple[str, str] | None) -> None:
    with httpx.Client(timeout=30, auth=auth) as client:
        for i in range(64):
            created = client.post(
                f"{base}/api/0/buckets/bench{i}",
                json={"client": "bench", "type": "currentwindow", "hostname": "bench"},
            )
            assert created.status_code in (200, 304), created.text


def run(rounds: int = 3, seconds: int = 10) -> None:
    from tests.usage.awserver import ensure_aw_venv, run_aw_server

    from rhythm.migrations import upgrade

    aw_python = ensure_aw_venv(Path(__file__).resolve().parent.parent / ".venv-aw")
    with bench_database() as (database_url, redis_url):
        upgrade(database_url)
        with psycopg.connect(database_url) as conn:
            users = create_users(conn, USERS)
            tokens = mint_tokens(conn, users)
        token_file = Path(tempfile.mkstemp(suffix=".tokens")[1])
        token_file.write_text("\n".join(tokens))
        clock: dict[uuid.UUID, datetime] = {}

        env = rhythm_env(database_url, redis_url, RHYTHM_SECRET_KEY=SECRET)
        hello_env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
        results: dict[str, list[Result]] = {}
        with (
            granian("bench.hello:app", hello_env) as hello,
            granian("rhythm.app:create_app", env) as api,
            run_aw_server(aw_python, testing=False) as aw,
        ):
            asyncio.run(warm(api, tokens, users))
            key = aw_key(api, tokens[0])
            basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
            create_aw_buckets(api, (key, ""))
            create_aw_buckets(aw, None)
            now = int(time.time())
            for round_ in range(rounds):
                single = Path(tempfile.mkstemp(suffix=".lua")[1])
                single.write_text(SINGLE_LUA % (token_file, round_, now - 3600 + round_ * 600))
                aw_rhythm = Path(tempfile.mkstemp(suffix=".lua")[1])
                aw_rhythm.write_text(AW_LUA % (now - 86_400 * (round_ + 2), basic))
                aw_real = Path(tempfile.mkstemp(suffix=".lua")[1])
                aw_real.write_text(AW_LUA % (now - 86_400 * (round_ + 2), ""))
                # Fresh bodies every round (each used once: ~120 requests/s for 5 s).
                bodies = bulk_bodies(users, tokens, 800, clock)
                bulk_script = Path(tempfile.mkstemp(suffix=".lua")[1])
                bulk_script.write_text(BULK_LUA % bodies)
                for key_, label, url, connections, script in [
                    ("hello", "hello-world (baseline)", hello + "/hello", 64, None),
                    (
                        "single64",
                        "POST /usage/heartbeats",
                        api + "/api/v1/usage/heartbeats",
                        64,
                        single,
                    ),
                    (
                        "single8",
                        "POST /usage/heartbeats",
                        api + "/api/v1/usage/heartbeats",
                        8,
                        single,
                    ),
                    (
                        "bulk",
                        "POST /usage/heartbeats/bulk (1,000 each)",
                        api + "/api/v1/usage/heartbeats/bulk",
                        8,
                        bulk_script,
                    ),
                    ("aw_rhythm", "rhythm /api/0 heartbeat", api + "/api/0/info", 64, aw_rhythm),
                    ("aw_server", "aw-server /api/0 heartbeat", aw + "/api/0/info", 64, aw_real),
                ]:
                    result = wrk(
                        label, url, connections=connections, seconds=seconds, script=script
                    )
                    result.label = f"{label}, {connections} connections"
                    results.setdefault(key_, []).append(result)
                for path in (single, aw_rhythm, aw_real, bodies, bulk_script):
                    path.unlink()
            sent, timings = report_timings(api, tokens[1])
            categorized = category_report_timings(api, tokens[2])
        token_file.unlink()

    medians = {k: median_result(v) for k, v in results.items()}
    print(f"medians of {rounds} rounds; {USERS:,} users\n")
    print(TABLE_HEADER)
    for result in medians.values():
        print(result.row())
    bulk_hb = medians["bulk"].rps * 1000
    print(f"\nbulk: {bulk_hb:,.0f} heartbeats/s")
    ratio = medians["aw_rhythm"].rps / medians["aw_server"].rps
    print(f"rhythm / aw-server heartbeats/s, same wrk script: {ratio:.1f}x")
    print(
        f"report of a day built from {sent:,} heartbeats: p50 {statistics.median(timings):.1f} ms,"
        f" p99 {p99(timings):.1f} ms"
    )
    print(category_line(*categorized))
