"""Issue 10's mixed benchmark: every context at once, on 1, 2 and 4 API processes.

`python bench/run.py mixed --processes 1 2 4` starts, for each N, N Granian processes (one
worker each, each on its own port) and 2 `rhythm worker` processes against one PostgreSQL
database (rhythm_bench_mixed, recreated) and one Redis (a private redis-server started here,
or RHYTHM_BENCH_REDIS_URL). Separate processes, not one Granian with N workers, so that each
can be addressed on its own: the correctness checks below make a change through one process
and read it through another, as two machines behind a load balancer would.

The load is N wrk processes (1 thread each, 64 connections in all, split evenly), one per API
process, each with its own share of 500 users. Every request picks, by weight: GET /users/me
(10), GET /sleep/following (15), a sleep clock-in or clock-out (10, alternating per user),
POST /focus/sessions (10), GET /users/{id}/streak (15), POST /usage/heartbeats (20),
GET /usage/report (5), GET /search (15). A bare FastAPI hello-world served the same way (N
processes, N wrk) is measured in the same rounds: its ratio is the figure to compare.

After each N, across the processes: a login-failure limit set low (5 per 15 minutes on one
account) is enforced in total; a profile change made through process A is seen through B at
once; a follow made through A shows in the feed through B; a catalog sync shows the new search
version (ETag and answer) in every process.

`--via direct direct-nocache pgbouncer` (issue 15) measures, in the same rounds, the same
load on clusters that reach PostgreSQL differently: `direct` (the default, alone), `direct-nocache`
(direct, with RHYTHM_DATABASE_POOLER=transaction: no statement cache, unnamed statements,
workers polling) and `pgbouncer` (through Debian's PgBouncer in transaction mode, started here,
with that setting). Each via also reports a job's latency, with one worker of its own running
alone: deferred on a direct connection, until the worker has finished it (LISTEN/NOTIFY direct,
polling with the setting).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from psycopg import sql
from tests.pgbouncer import PgBouncer

from bench.catalog_scenario import sync_child, write_feed
from bench.dataset import nights
from bench.focus_scenario import create_users, warm
from bench.harness import (
    ROOT,
    TABLE_HEADER,
    Result,
    free_port,
    granian,
    median_result,
    rhythm_env,
    wrk,
)
from bench.sleep_scenario import SECRET, mint_tokens
from rhythm.platform.process import spawn_child
from rhythm.platform.timeutil import previous_week

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "rhythm_bench_mixed"
USERS = 500
FOLLOWS_PER_USER = 10
CONNECTIONS = 64
LOGIN_FAILURES = 5

MIXED_LUA = """
local users = {}
for line in io.lines("%(users)s") do
  local sep = string.find(line, " ", 1, true)
  users[#users + 1] = {token = string.sub(line, 1, sep - 1), id = string.sub(line, sep + 1)}
end
local queries = {}
for line in io.lines("%(queries)s") do queries[#queries + 1] = line end
math.randomseed(%(seed)d)
local week = "%(week)s"
local today = "%(today)s"
local tag = "%(tag)s"
-- Half the users clock in and out, the other half in the next run: a run can end with a
-- clock-in still in flight, and the open nights it leaves are closed before that half's turn.
local sleepers = {}
for i = 1 + %(parity)d, #users, 2 do sleepers[#sleepers + 1] = users[i] end
-- Each sleeper's requests are strictly sequential, driven by the answers: awake (nil) -> "in"
-- (clock-in sent) -> asleep (answered 2xx) -> "out" (clock-out sent) -> awake (answered). A
-- sleeper with a request in flight is skipped. Answers are matched to sleepers through the
-- X-Request-ID rhythm echoes ("sleep-<index>-<in|out>"): wrk cannot tell which of its
-- requests an answer belongs to, and counting time since the request is not enough (wrk calls
-- request() once more than it sends, see below).
local state = {}
local next_sleeper = 0
local n = 0
local beat = %(beat_base)d
local apps = {"Editor", "Browser", "Terminal", "Mail", "Chat"}
local json = {["Content-Type"] = "application/json"}

local function auth(user, extra)
  local h = {["Authorization"] = "Bearer " .. user.token}
  if extra then h["Content-Type"] = "application/json" end
  return h
end

local function idle_sleeper()
  for _ = 1, #sleepers do
    next_sleeper = next_sleeper %% #sleepers + 1
    local st = state[next_sleeper]
    if st == nil or st == "asleep" then return next_sleeper end
  end
  return nil
end

request = function()
  n = n + 1
  if n == 1 then
    -- wrk (4.1, 4.2) calls request() once at start-up to count the requests it returns, and
    -- never sends that one: it must not be a clock-in or clock-out (one was, and its
    -- sleeper's clock-out then met 409 not-clocked-in).
    return wrk.format("GET", "/api/v1/users/me", auth(users[1]))
  end
  local user = users[math.random(#users)]
  local r = math.random(100)
  if r <= 10 then
    return wrk.format("GET", "/api/v1/users/me", auth(user))
  elseif r <= 25 then
    return wrk.format("GET", "/api/v1/sleep/following?week=" .. week, auth(user))
  elseif r <= 35 then
    local i = idle_sleeper()
    if i == nil then
      return wrk.format("GET", "/api/v1/sleep/following?week=" .. week, auth(user))
    end
    local h = auth(sleepers[i], true)
    if state[i] == "asleep" then
      state[i] = "out"
      h["X-Request-ID"] = "sleep-" .. i .. "-out"
      return wrk.format("POST", "/api/v1/sleep/clock-out", h, "{}")
    end
    state[i] = "in"
    h["X-Request-ID"] = "sleep-" .. i .. "-in"
    return wrk.format("POST", "/api/v1/sleep/clock-in", h, "{}")
  elseif r <= 45 then
    local start = os.time() - math.random(1, 365) * 86400 - math.random(0, 86000)
    local body = string.format(
      '{"session_id":"%%s-%%d-%%d","started_at":"%%s","ended_at":"%%s","timezone":"UTC"}',
      tag, n, math.random(1000000000), os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", start),
      os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", start + math.random(20, 60) * 60))
    return wrk.format("POST", "/api/v1/focus/sessions", auth(user, true), body)
  elseif r <= 60 then
    local other = users[math.random(#users)]
    return wrk.format("GET", "/api/v1/users/" .. other.id .. "/streak", auth(user))
  elseif r <= 80 then
    beat = beat + 0.001
    local body = string.format(
      '{"timestamp":"%%s.%%03dZ","app":"%%s","source":"wrk","pulsetime":30}',
      os.date("!%%Y-%%m-%%dT%%H:%%M:%%S", math.floor(beat)), math.floor((beat %% 1) * 1000),
      apps[math.random(#apps)])
    return wrk.format("POST", "/api/v1/usage/heartbeats", auth(user, true), body)
  elseif r <= 85 then
    return wrk.format("GET", "/api/v1/usage/report?timezone=UTC&date=" .. today, auth(user))
  end
  return wrk.format("GET", "/search?" .. queries[math.random(#queries)])
end

local shown = 0
response = function(status, headers, body)
  local rid = headers["x-request-id"] or headers["X-Request-ID"] or ""
  local i, op = string.match(rid, "^sleep%%-(%%d+)%%-(%%a+)$")
  if i then
    i = tonumber(i)
    -- 409 already-clocked-in leaves a night open; any answer to a clock-out leaves none.
    if op == "in" and (status < 300 or status == 409) then
      state[i] = "asleep"
    else
      state[i] = nil
    end
  end
  if status >= 300 and shown < 3 then
    shown = shown + 1
    io.stderr:write(status .. " " .. rid .. " " .. string.sub(body, 1, 300) .. "\\n")
  end
end
"""


VIAS = ("direct", "direct-nocache", "pgbouncer", "replica", "pgbouncer+replica")
VIA_LABELS = {
    "direct": "direct",
    "direct-nocache": "direct, no statement cache",
    "pgbouncer": "PgBouncer (transaction mode)",
    "replica": "direct, with a streaming replica",
    "pgbouncer+replica": "PgBouncer before the primary and before the replica",
}
# PgBouncer's server connections per database: as many as one cluster's pools hold at 2 API
# processes (2 x 8 + 2 workers x 4, whose LISTEN connections it does not need), so that the
# pooler's own cost is measured, not a smaller pool's.
PGBOUNCER_POOL = 24
JOB_SAMPLES = 10


@dataclass
class Via:
    """How one cluster reaches PostgreSQL: its URL and its RHYTHM_DATABASE_POOLER."""

    name: str
    database_url: str
    pooler: str
    # RHYTHM_DATABASE_REPLICA_URLS: empty, or the run's streaming replica (through a PgBouncer
    # of its own for pgbouncer+replica).
    replica_urls: str = ""


@dataclass
class Fixture:
    """What the load and the checks need: users with tokens, files for wrk, the week."""

    database_url: str
    redis_url: str
    users: list[uuid.UUID]
    tokens: list[str]
    work: Path
    queries: Path
    week: str


def recreate_database(name: str = DATABASE) -> str:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """RHYTHM_BENCH_REDIS_URL, else a redis-server of our own on a free port (never the
    machine's shared one, which the bench would have to flush)."""
    url = os.environ.get("RHYTHM_BENCH_REDIS_URL")
    if url:
        yield url
        return
    port = free_port()
    server = spawn_child(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            if time.monotonic() > deadline:
                raise TimeoutError("redis-server did not start")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


def prepare(database_url: str, redis_url: str) -> Fixture:
    """Migrate, then users with device sessions, follows, last week's nights and a catalog."""
    from rhythm.migrations import upgrade

    upgrade(database_url)
    rng = random.Random(10)
    now = datetime.now(UTC)
    week = previous_week(now, "UTC")
    with psycopg.connect(database_url) as conn:
        users = create_users(conn, USERS)
        tokens = mint_tokens(conn, users)
        with conn.cursor() as cur:
            with cur.copy("COPY follows (follower_id, followee_id, created_at) FROM STDIN") as cp:
                for follower in users:
                    for followee in rng.sample(users, FOLLOWS_PER_USER + 1):
                        if followee != follower:
                            cp.write_row((follower, followee, now - timedelta(days=30)))
            monday = _monday(week)
            days = [monday + timedelta(days=d) for d in range(7)]
            columns = (
                "id, user_id, sleep_at, wake_at, sleep_timezone, wake_timezone,"
                " duration_seconds, week, created_at"
            )
            with cur.copy(f"COPY sleep_records ({columns}) FROM STDIN") as cp:
                for user in users:
                    for row in nights(user, "UTC", sorted(rng.sample(days, 3)), rng):
                        cp.write_row(row)
        conn.commit()
    work = Path(tempfile.mkdtemp(prefix="rhythm-mixed-"))
    feed = work / "feed.xml"
    write_feed(feed, 200, 5, 5)
    env = rhythm_env(database_url, redis_url, RHYTHM_SECRET_KEY=SECRET)
    _, _, report = sync_child(env, "--file", str(feed))
    print(f"catalog: {report}", file=sys.stderr)
    queries = []
    for _ in range(100):
        first = datetime(2030, 1, 1) + timedelta(days=rng.randrange(0, 800))
        last = first + timedelta(days=rng.randrange(1, 90))
        queries.append(f"starts_at={first:%Y-%m-%dT%H:%M:%S}&ends_at={last:%Y-%m-%dT%H:%M:%S}")
    query_file = work / "queries.txt"
    query_file.write_text("\n".join(queries))
    return Fixture(database_url, redis_url, users, tokens, work, query_file, week)


def _monday(week: str) -> date:
    year, number = week.split("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def mixed_env(fixture: Fixture, via: Via | None = None, **extra: str) -> dict[str, str]:
    """The bench environment: request limits out of the way (still checked on every request),
    the login-failure limit low for the cross-process check, small pools (4 processes and 2
    workers share one PostgreSQL with everyone else on the machine); PostgreSQL reached as
    `via` says (directly by default)."""
    return rhythm_env(
        via.database_url if via else fixture.database_url,
        fixture.redis_url,
        RHYTHM_SECRET_KEY=SECRET,
        RHYTHM_DB_POOL_SIZE="8",
        RHYTHM_LOGIN_FAILURE_LIMIT=f"{LOGIN_FAILURES}/15minutes",
        RHYTHM_DATABASE_POOLER=via.pooler if via else "none",
        RHYTHM_DATABASE_REPLICA_URLS=via.replica_urls if via else "",
        **extra,
    )


@contextlib.contextmanager
def vias(names: list[str], database_url: str, replica_url: str | None) -> Iterator[list[Via]]:
    """The ways to PostgreSQL named, a PgBouncer started for each `pgbouncer` (one before the
    replica too for `pgbouncer+replica`)."""
    with contextlib.ExitStack() as stack:
        found = []
        for name in names:
            replicas = ""
            if name.endswith("replica"):
                assert replica_url is not None
                replicas = replica_url
            if name.startswith("pgbouncer"):
                bouncer = stack.enter_context(PgBouncer(database_url, pool_size=PGBOUNCER_POOL))
                if replicas:
                    before_replica = stack.enter_context(
                        PgBouncer(replicas, pool_size=PGBOUNCER_POOL)
                    )
                    replicas = before_replica.url(DATABASE)
                found.append(Via(name, bouncer.url(DATABASE), "transaction", replicas))
            else:
                pooler = "transaction" if name == "direct-nocache" else "none"
                found.append(Via(name, database_url, pooler, replicas))
        yield found


@contextlib.contextmanager
def databases(names: list[str]) -> Iterator[tuple[str, str | None]]:
    """(primary URL, replica URL or None) of the bench database: on the machine's PostgreSQL,
    or, when a via needs a replica, on a primary and a streaming replica started for the run
    as the replica tests start theirs (tests/replica_pair.py), every via on that primary."""
    if not any(name.endswith("replica") for name in names):
        yield recreate_database(), None
        return
    from tests.replica_pair import start_pair

    pair = start_pair()
    try:
        with psycopg.connect(pair.primary_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        yield pair.url("primary", DATABASE), pair.url("replica", DATABASE)
    finally:
        pair.stop()


@contextlib.contextmanager
def cluster(
    fixture: Fixture, processes: int, workers: int = 2, via: Via | None = None
) -> Iterator[list[str]]:
    """`processes` API processes (Granian, one worker each) and `workers` job workers; yields
    the API base URLs."""
    env = mixed_env(fixture, via)
    jobs = [
        spawn_child([sys.executable, "-m", "rhythm", "worker"], env=env, cwd=ROOT)
        for _ in range(workers)
    ]
    try:
        with contextlib.ExitStack() as stack:
            yield [
                stack.enter_context(granian("rhythm.app:create_app", env, workers=1))
                for _ in range(processes)
            ]
    finally:
        for job in jobs:
            job.terminate()
        for job in jobs:
            job.wait(30)


@contextlib.contextmanager
def hello_cluster(processes: int) -> Iterator[list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(granian("bench.hello:app", env, workers=1))
            for _ in range(processes)
        ]


def scripts(fixture: Fixture, shares: int, round_: int) -> list[Path]:
    """One wrk script per share of the users (one share per API process). A sleeper's
    clock-out is sent only once its clock-in has been answered, and the reverse."""
    paths = []
    today = datetime.now(UTC).date().isoformat()
    for share in range(shares):
        users = fixture.work / f"users-{shares}-{share}.txt"
        users.write_text(
            "\n".join(
                f"{token} {uid}"
                for i, (token, uid) in enumerate(zip(fixture.tokens, fixture.users, strict=True))
                if i % shares == share
            )
        )
        script = fixture.work / f"mixed-{shares}-{share}-{round_}.lua"
        script.write_text(
            MIXED_LUA
            % {
                "users": users,
                "queries": fixture.queries,
                "seed": round_ * 100 + share,
                "parity": round_ % 2,
                "week": fixture.week,
                "today": today,
                "tag": f"mixed-{shares}-{share}-{round_}-{uuid.uuid4().hex[:6]}",
                "beat_base": int(time.time()) - 3000 + share * 10 + round_,
            }
        )
        paths.append(script)
    return paths


def load(
    label: str,
    urls: list[str],
    seconds: int,
    scripts: list[Path] | None = None,
    connections: int = CONNECTIONS,
) -> Result:
    """wrk against every URL at once (connections split evenly); summed req/s, the worst
    p50/p99 of the parts."""
    share = max(1, connections // len(urls))
    with ThreadPoolExecutor(len(urls)) as pool:
        parts = list(
            pool.map(
                lambda i: wrk(
                    label,
                    urls[i] + ("/hello" if scripts is None else "/"),
                    connections=share,
                    seconds=seconds,
                    script=None if scripts is None else scripts[i],
                    # wrk's default of 2 s would count as failed the requests that a loaded
                    # 2-core machine answers late: a slow answer shows in p99 instead.
                    timeout=30,
                ),
                range(len(urls)),
            )
        )
    return Result(
        label,
        sum(p.rps for p in parts),
        max(p.p50_ms for p in parts),
        max(p.p99_ms for p in parts),
        sum(p.errors for p in parts),
        sum(p.socket_errors for p in parts),
        sum(p.requests for p in parts),
    )


def close_open_nights(database_url: str) -> None:
    """A run can end between a clock-in and its clock-out; the run after next, when those
    users clock in and out again, starts them awake (each wrk script alternates from
    clock-in). Called before every run."""
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM sleep_records WHERE wake_at IS NULL")


# --- correctness across processes -------------------------------------------------------


def check_login_limit(urls: list[str], email: str) -> str:
    """LOGIN_FAILURES wrong passwords, spread over the processes, then one more on each: every
    one of those must be refused (429), so the limit counts once in all, not once per process."""
    body = {"email": email, "password": "not-the-password"}
    statuses = [
        httpx.post(urls[i % len(urls)] + "/api/v1/auth/login", json=body, timeout=30).status_code
        for i in range(LOGIN_FAILURES)
    ]
    assert statuses == [401] * LOGIN_FAILURES, statuses
    after = [httpx.post(url + "/api/v1/auth/login", json=body, timeout=30) for url in urls]
    assert all(r.status_code == 429 for r in after), [(r.status_code, r.text) for r in after]
    return (
        f"login-failure limit {LOGIN_FAILURES}: attempt {LOGIN_FAILURES + 1} refused (429)"
        f" by all {len(urls)}"
    )


def check_profile(urls: list[str], token: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    name = f"Renamed {uuid.uuid4().hex[:6]}"
    changed = httpx.patch(urls[0] + "/api/v1/users/me", json={"name": name}, headers=headers)
    assert changed.status_code == 200, changed.text
    seen = [httpx.get(url + "/api/v1/users/me", headers=headers).json()["name"] for url in urls]
    assert seen == [name] * len(urls), seen
    return f"name changed through process 1, read back at once through all {len(urls)}"


def check_follow(urls: list[str], fixture: Fixture, conn: psycopg.Connection) -> str:
    """A user follows someone new through process 1 (the last process when there is more
    than one reads the feed) and that person's night from last week must be in the feed."""
    follower = fixture.users[0]
    followed = {
        r[0]
        for r in conn.execute("SELECT followee_id FROM follows WHERE follower_id = %s", (follower,))
    }
    newcomer = next(u for u in fixture.users[1:] if u not in followed)
    night = conn.execute(
        "SELECT id FROM sleep_records WHERE user_id = %s AND week = %s LIMIT 1",
        (newcomer, fixture.week),
    ).fetchone()
    assert night is not None
    headers = {"Authorization": f"Bearer {fixture.tokens[0]}"}

    def feed_ids(url: str) -> set[str]:
        ids: set[str] = set()
        cursor = None
        while True:
            params = {"week": fixture.week, "limit": 100, **({"cursor": cursor} if cursor else {})}
            page = httpx.get(url + "/api/v1/sleep/following", params=params, headers=headers).json()
            ids.update(item["id"] for item in page["data"])
            cursor = page["next_cursor"]
            if not cursor:
                return ids

    reader = urls[-1]
    assert str(night[0]) not in feed_ids(reader)  # read first, so a cached feed exists there
    put = httpx.put(f"{urls[0]}/api/v1/users/me/following/{newcomer}", headers=headers)
    assert put.status_code == 201, put.text
    started = time.perf_counter()
    while str(night[0]) not in feed_ids(reader):
        assert time.perf_counter() - started < 10, "the follow never reached the feed"
        time.sleep(0.05)
    waited = (time.perf_counter() - started) * 1000
    return (
        f"followed through process 1, in the feed through process {len(urls)} after {waited:.0f} ms"
    )


def check_search_version(
    urls: list[str], fixture: Fixture, added: int, via: Via | None = None
) -> str:
    """Sync the catalog with `added` more base events than the first (one more each time);
    every process must answer the new version."""
    query = "/search?starts_at=2031-06-01T00:00:00&ends_at=2031-06-30T00:00:00"
    before = {httpx.get(url + query).headers["etag"] for url in urls}
    assert len(before) == 1, before
    feed = fixture.work / "feed-next.xml"
    write_feed(feed, 200 + added, 5, 5)
    env = mixed_env(fixture, via)
    _, _, report = sync_child(env, "--file", str(feed))
    assert "catalog version" in report, report
    synced = time.perf_counter()
    waits = []
    for url in urls:
        while httpx.get(url + query).headers["etag"] in before:
            assert time.perf_counter() - synced < 10, f"{url} kept the old search version"
            time.sleep(0.02)
        waits.append((time.perf_counter() - synced) * 1000)
    after = {httpx.get(url + query).headers["etag"] for url in urls}
    assert len(after) == 1, after
    return f"new search version (ETag) in all {len(urls)} after {max(waits):.0f} ms at most"


def job_latency(fixture: Fixture, via: Via) -> str:
    """One `rhythm worker` reaching PostgreSQL as `via` says, alone: a job
    (identity:purge_expired_sessions, cheap) deferred and committed on a direct connection,
    JOB_SAMPLES times one at a time, and how long until the worker has finished it."""
    worker = spawn_child(
        [sys.executable, "-m", "rhythm", "worker"], env=mixed_env(fixture, via), cwd=ROOT
    )
    waits = []
    try:
        with psycopg.connect(fixture.database_url, autocommit=True) as conn:
            for sample in range(JOB_SAMPLES + 1):
                started = time.perf_counter()
                row = conn.execute(
                    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('maintenance',"
                    " 'identity:purge_expired_sessions', 0, NULL, NULL, '{\"timestamp\": 0}',"
                    " NULL)::procrastinate_job_to_defer_v1])"
                ).fetchone()
                assert row is not None
                job = row[0][0]
                while conn.execute(
                    "SELECT status::text FROM procrastinate_jobs WHERE id = %s", (job,)
                ).fetchone() != ("succeeded",):
                    assert time.perf_counter() - started < 60, "a deferred job never ran"
                    time.sleep(0.005)
                if sample:  # the first one waited for the worker to start
                    waits.append((time.perf_counter() - started) * 1000)
                time.sleep(random.uniform(0, 0.5))  # not in step with the worker's polling
    finally:
        worker.terminate()
        worker.wait(30)
    waits.sort()
    return (
        f"{VIA_LABELS[via.name]}: a deferred job finished after {waits[len(waits) // 2]:.0f} ms"
        f" (median of {JOB_SAMPLES}, worst {waits[-1]:.0f} ms)"
    )


def check_correctness(
    urls: list[str], fixture: Fixture, round_: int, via: Via | None = None
) -> list[str]:
    with psycopg.connect(fixture.database_url) as conn:
        email = conn.execute(
            "SELECT email FROM users WHERE id = %s", (fixture.users[-1 - round_],)
        ).fetchone()[0]
        return [
            check_login_limit(urls, email),
            check_profile(urls, fixture.tokens[1]),
            check_follow(urls, fixture, conn),
            check_search_version(urls, fixture, round_ + 1, via),
        ]


def run(
    rounds: int = 3,
    seconds: int = 10,
    processes: list[int] | None = None,
    via: list[str] | None = None,
) -> None:
    processes = processes or [1, 2, 4]
    names = via or ["direct"]
    with (
        databases(names) as (database_url, replica_url),
        private_redis() as redis_url,
        vias(names, database_url, replica_url) as ways,
    ):
        fixture = prepare(database_url, redis_url)
        rows: list[tuple[int, Result, dict[str, Result]]] = []
        checks: dict[tuple[int, str], list[str]] = {}
        check_index = 0
        for n in processes:
            results: dict[str, list[Result]] = {"hello": [], **{w.name: [] for w in ways}}
            with hello_cluster(n) as hello, contextlib.ExitStack() as kept:
                held: dict[str, list[str]] = {}
                for round_ in range(rounds):
                    results["hello"].append(load("hello", hello, seconds))
                    # Each via in turn, the order rotated every round. With several, one
                    # cluster at a time, started and warmed afresh for each run alike: three
                    # at once would ask PostgreSQL (max_connections 100, shared) for more
                    # connections than it has. One via keeps its cluster for every round.
                    for w in ways[round_ % len(ways) :] + ways[: round_ % len(ways)]:
                        with contextlib.ExitStack() as stack:
                            if w.name in held:
                                api = held[w.name]
                            else:
                                owner = kept if len(ways) == 1 else stack
                                api = owner.enter_context(cluster(fixture, n, via=w))
                                asyncio.run(warm(api[0], fixture.tokens, fixture.users))
                                if len(ways) == 1:
                                    held[w.name] = api
                            close_open_nights(database_url)
                            results[w.name].append(
                                load(w.name, api, seconds, scripts(fixture, n, round_))
                            )
                            if round_ == rounds - 1:
                                checks[(n, w.name)] = check_correctness(
                                    api, fixture, check_index, w
                                )
                                check_index += 1
            mixed = {}
            for w in ways:
                mixed[w.name] = median_result(results[w.name])
                mixed[w.name].socket_errors = sum(r.socket_errors for r in results[w.name])
            rows.append((n, median_result(results["hello"]), mixed))
        latencies = [job_latency(fixture, w) for w in ways]
        shutil.rmtree(fixture.work, ignore_errors=True)

    print(
        f"medians of {rounds} rounds of {seconds} s; {USERS} users;"
        f" wrk, {CONNECTIONS} connections in all\n"
    )
    print(TABLE_HEADER)
    for n, hello, mixed in rows:
        plural = "es" if n > 1 else ""
        hello.label = f"hello-world, {n} process{plural}"
        print(hello.row())
        for name, result in mixed.items():
            suffix = "" if names == ["direct"] else f", {VIA_LABELS[name]}"
            result.label = f"mixed, {n} API process{plural} + 2 workers{suffix}"
            print(result.row())
    first = names[0]
    if len(names) == 1:
        print("\n| API processes | mixed req/s | / hello-world same N | / mixed at 1 process |")
        print("|---|---|---|---|")
        base = rows[0][2][first].rps
        for n, hello, mixed in rows:
            rps = mixed[first].rps
            print(f"| {n} | {rps:,.0f} | {rps / hello.rps:.1%} | {rps / base:.2f}x |")
    else:
        print(f"\n| API processes | via | mixed req/s | / {first} same N | p99 / {first} p99 |")
        print("|---|---|---|---|---|")
        for n, _, mixed in rows:
            base_result = mixed[first]
            for name, result in mixed.items():
                print(
                    f"| {n} | {VIA_LABELS[name]} | {result.rps:,.0f} |"
                    f" {result.rps / base_result.rps:.1%} |"
                    f" {result.p99_ms / base_result.p99_ms:.2f}x |"
                )
    socket_errors = sum(r.socket_errors for _, _, mixed in rows for r in mixed.values())
    print(f"\nwrk socket errors (connect, read, write, timeout) in the mixed runs: {socket_errors}")
    print("\njob latency, one worker alone (LISTEN/NOTIFY direct, polling behind a pooler):")
    for line in latencies:
        print(f"- {line}")
    print("\ncorrectness across processes:")
    for (n, name), lines in checks.items():
        for line in lines:
            where = "" if names == ["direct"] else f", {VIA_LABELS[name]}"
            print(f"- {n} process{'es' if n > 1 else ''}{where}: {line}")
