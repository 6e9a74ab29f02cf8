"""Issue 15's capacity figures, measured here: `python bench/run.py capacity`.

Everything it prints is a count, a byte size or CPU seconds (not wall time), so that the shared,
noisy 2-core machine changes them little; docs/scaling.md derives the 1M/10M/100M tables from
them. Four parts:

1. **The 1M-user dataset** (`bench/dataset.py --users 1000000`, RHYTHM_BENCH_SLEEP_DATABASE_URL;
   default `rhythm_bench_sleep_full`): rows, heap, index and TOAST bytes of every table, hence
   bytes per user, per follow and per night.
2. **A day of realistic activity** replayed through the real API (the app in this process, on
   httpx's ASGI transport; a scratch database `rhythm_capacity_scratch`, recreated): per user,
   aw-watcher-window (poll 1 s, pulsetime 2 s) and aw-watcher-afk (poll 5 s, pulsetime 185 s),
   both through aw-client's queued mode, which pre-merges heartbeats on the client and sends one
   request when the data changes or the merged heartbeat passes `commit_interval` (10 s), as
   aw-client's `heartbeat(..., queued=True)` does; a WakaTime editor (wakatime-cli's rule: a
   heartbeat when the file changes, on every save, else at most one per 2 minutes of typing);
   4 focus sessions; one night (clock-in, clock-out). Then 100 more days of focus sessions and
   nights per user, for per-row sizes. Per phase: requests, rows stored, relation bytes (indexes
   and TOAST included), WAL bytes (the LSN difference of a private PostgreSQL 15 cluster that
   this bench starts with Debian's binaries, so that no other database's WAL is counted;
   autovacuum and checkpoints' full-page images included, as in production), CPU seconds of
   this process (the app and its client) and of PostgreSQL's backends serving it.
3. **Reads**: the PostgreSQL CPU of a usage report (`GET /usage/report`, the five groupings).
4. **Redis memory per active user** on the 1M dataset: sampled viewers' feeds built cold (their
   PostgreSQL CPU measured) and warm, their auth sessions, profiles, standings and rate-limit
   keys; `MEMORY USAGE` of every key, by family.

The activity model's constants are below, each with its reason; docs/scaling.md quotes them.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis as redis_sync

from bench.dataset import ZONES, recreate
from bench.sleep_scenario import SECRET, active_viewers, mint_tokens

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
FULL = "postgresql://postgres@127.0.0.1:5432/rhythm_bench_sleep_full"
SCRATCH = "rhythm_capacity_scratch"
USERS = int(os.environ.get("RHYTHM_BENCH_CAPACITY_USERS", "4"))  # active users replayed
EXTRA_DAYS = 100  # focus sessions and nights per user added for per-row sizes
VIEWERS = int(os.environ.get("RHYTHM_BENCH_CAPACITY_VIEWERS", "300"))  # Redis sample, 1M set

# The activity model of one active user-day (local time).
DEVICE_ON = (9 * 3600, 18 * 3600)  # the computer is on (watchers running) 09:00-18:00
ACTIVE_STRETCH = (20 * 60, 90 * 60)  # at the keyboard, uniform
AFK_BREAK = (5 * 60, 30 * 60)  # away, uniform; aw-watcher-afk says afk after 180 s idle
SWITCH_MEDIAN, SWITCH_SIGMA = 12.0, 1.5  # seconds between window/title changes (log-normal)
APPS = ["Code", "Firefox", "Terminal", "Slack", "Thunderbird", "Zoom", "Files", "Spotify"]
WINDOW_POLL, WINDOW_PULSETIME = 1, 2.0  # aw-watcher-window: poll_time 1 s, pulsetime poll + 1
AFK_POLL, AFK_PULSETIME = 5, 185.0  # aw-watcher-afk: poll_time 5 s, pulsetime timeout + poll
COMMIT_INTERVAL = 10.0  # aw-client's default [client] commit_interval
CODING = (10 * 3600, 12 * 3600)  # two hours of typing in an editor with the WakaTime plugin
FILE_SWITCH, SAVE_EVERY, WAKA_PULSE = 6 * 60, 3 * 60, 2 * 60
FOCUS_SESSIONS = 4  # 25-minute sessions a day
HOST = "laptop"


@dataclass
class Beat:
    start: float  # seconds since the day's local midnight
    duration: float
    data: dict[str, Any]


def _merge(last: Beat, beat: Beat, pulsetime: float) -> Beat | None:
    """aw-core's heartbeat_merge on offsets (rhythm.usage.merge.heartbeat_merge, in seconds)."""
    if last.data != beat.data:
        return None
    if not last.start <= beat.start <= last.start + last.duration + pulsetime:
        return None
    end = max(last.start + last.duration, beat.start + beat.duration)
    return Beat(last.start, end - last.start, last.data)


def aw_client_queue(beats: list[Beat], pulsetime: float) -> list[Beat]:
    """What aw-client's `heartbeat(bucket, event, pulsetime, queued=True)` puts in its request
    queue for these polls: pre-merged client side, sent when the data changes or the cached
    merge is at least `commit_interval` long; the last cached one is sent at the end."""
    sent: list[Beat] = []
    last: Beat | None = None
    for beat in beats:
        if last is None:
            last = beat
            continue
        merged = _merge(last, beat, pulsetime)
        if merged is None:
            sent.append(last)
            last = beat
        elif last.duration >= COMMIT_INTERVAL:
            sent.append(merged)
            last = beat
        else:
            last = merged
    if last is not None:
        sent.append(last)
    return sent


@dataclass
class Day:
    window: list[Beat] = field(default_factory=list)  # requests, after aw-client's pre-merge
    afk: list[Beat] = field(default_factory=list)
    window_polls: int = 0
    afk_polls: int = 0
    waka: list[dict[str, Any]] = field(default_factory=list)
    active_seconds: int = 0


def _title(rng: random.Random, app: str) -> str:
    words = ["report", "capacity", "review", "draft", "inbox", "meeting", "notes", "budget"]
    name = " ".join(rng.choice(words) for _ in range(rng.randint(2, 6)))
    return f"{name} ({rng.randint(1, 999)}) - {app}"  # 20 to 60 characters, like real titles


def model_day(rng: random.Random, day: date) -> Day:
    """One user's day as their watchers and editor plugin send it."""
    on, off = DEVICE_ON
    stretches: list[tuple[int, int, bool]] = []  # (start, end, at the keyboard)
    t = on
    while t < off:
        length = rng.randint(*ACTIVE_STRETCH)
        stretches.append((t, min(off, t + length), True))
        t += length
        if t < off:
            length = rng.randint(*AFK_BREAK)
            stretches.append((t, min(off, t + length), False))
            t += length
    out = Day()
    recent: list[dict[str, Any]] = []
    current: dict[str, Any] = {"app": "Code", "title": _title(rng, "Code")}
    polls: list[Beat] = []
    afk_polls: list[Beat] = []
    for start, end, active in stretches:
        next_switch = start + rng.lognormvariate(0, SWITCH_SIGMA) * SWITCH_MEDIAN
        for second in range(start, end, WINDOW_POLL):
            if active and second >= next_switch:
                if recent and rng.random() < 0.6:  # back to a recent window (alt-tab)
                    current = rng.choice(recent)
                else:
                    app = rng.choice(APPS)
                    current = {"app": app, "title": _title(rng, app)}
                    recent = [current, *recent][:8]
                next_switch = second + rng.lognormvariate(0, SWITCH_SIGMA) * SWITCH_MEDIAN
            polls.append(Beat(second, 0.0, current))
        status = "not-afk" if active else "afk"
        for second in range(start, end, AFK_POLL):
            afk_polls.append(Beat(second, 0.0, {"status": status}))
        if active:
            out.active_seconds += end - start
    out.window_polls, out.afk_polls = len(polls), len(afk_polls)
    out.window = aw_client_queue(polls, WINDOW_PULSETIME)
    out.afk = aw_client_queue(afk_polls, AFK_PULSETIME)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    t0, t1 = CODING
    entity, last_sent, last_entity = "src/app.py", -1e9, ""
    next_file, next_save = t0 + FILE_SWITCH, t0 + SAVE_EVERY
    for second in range(t0, t1, 10):  # typing: an editor event every 10 s
        write = second >= next_save
        if second >= next_file:
            entity = f"src/{rng.choice(['app', 'models', 'views', 'tests', 'util'])}.py"
            next_file = second + FILE_SWITCH
        if write:
            next_save = second + SAVE_EVERY
        if write or entity != last_entity or second - last_sent >= WAKA_PULSE:
            out.waka.append(
                {
                    "entity": f"/home/dev/project/{entity}",
                    "type": "file",
                    "category": "coding",
                    "time": midnight + second,
                    "project": "project",
                    "branch": "main",
                    "language": "Python",
                    "is_write": write,
                    "lines": 400,
                    "lineno": rng.randint(1, 400),
                    "cursorpos": rng.randint(1, 80),
                    "user_agent": "wakatime/v1.90.0 (linux-6.5.0-x86_64) go1.21.5"
                    " vscode/1.85.1 vscode-wakatime/24.0.0",
                }
            )
            last_sent, last_entity = second, entity
    return out


def hourly_load(zones: list[str]) -> list[float]:
    """Heartbeat requests per UTC hour of a day, users spread evenly over `zones`, each sending
    the model's requests (aw-client's: one every ~11 s per watcher while the device is on)."""
    from zoneinfo import ZoneInfo

    noon = datetime(2026, 11, 2, 12, tzinfo=UTC)
    load = [0.0] * 24
    on, off = DEVICE_ON
    for zone in zones:
        offset = int(noon.astimezone(ZoneInfo(zone)).utcoffset().total_seconds())  # type: ignore[union-attr]
        for local in range(on, off):
            load[((local - offset) // 3600) % 24] += 1 / len(zones)
    return load


# --- measuring PostgreSQL -----------------------------------------------------------------


def _ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


class Meter:
    """Bytes, rows, WAL and CPU of one database across a phase. WAL is the cluster's LSN
    difference: exact for a private cluster that serves only this bench (`private_postgres`),
    so the activity runs on one; on a shared server it counts everyone's WAL."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.oid = self.conn.execute(
            "SELECT oid FROM pg_database WHERE datname = current_database()"
        ).fetchone()[0]  # type: ignore[index]
        self.hz = os.sysconf("SC_CLK_TCK")

    def relations(self) -> dict[str, tuple[int, int, int, int]]:
        """table: (rows, heap bytes, index bytes, toast bytes)."""
        self.conn.execute("ANALYZE")
        rows = self.conn.execute(
            "SELECT c.relname, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'"
        ).fetchall()
        out = {}
        for name, oid in rows:
            count = self.conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # type: ignore[index]
            heap, index, total = self.conn.execute(
                "SELECT pg_relation_size(%s), pg_indexes_size(%s), pg_total_relation_size(%s)",
                (oid, oid, oid),
            ).fetchone()  # type: ignore[misc]
            out[name] = (count, heap, index, total - heap - index)
        return out

    def lsn(self) -> str:
        return str(self.conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0])  # type: ignore[index]

    def wal(self, start: str, end: str) -> int:
        diff = self.conn.execute("SELECT pg_wal_lsn_diff(%s, %s)", (end, start)).fetchone()
        return int(diff[0])  # type: ignore[index]

    def backend_ticks(self) -> dict[int, int]:
        pids = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datid = %s AND pid <> pg_backend_pid()",
            (self.oid,),
        ).fetchall()
        return {pid: _ticks(pid) for (pid,) in pids}

    @contextmanager
    def phase(self, name: str, report: list[Phase]) -> Iterator[Phase]:
        before_rel = self.relations()
        start = self.lsn()
        ticks = self.backend_ticks()
        cpu = time.process_time()
        wall = time.perf_counter()
        phase = Phase(name)
        yield phase
        phase.wall = time.perf_counter() - wall
        phase.app_cpu = time.process_time() - cpu
        after = self.backend_ticks()
        phase.pg_cpu = sum(t - ticks.get(pid, 0) for pid, t in after.items()) / self.hz
        end = self.lsn()
        phase.wal = self.wal(start, end)
        after_rel = self.relations()
        for table, (rows, heap, index, toast) in after_rel.items():
            r0, h0, i0, t0 = before_rel.get(table, (0, 0, 0, 0))
            if (rows - r0, heap - h0, index - i0, toast - t0) != (0, 0, 0, 0):
                phase.tables[table] = (rows - r0, heap - h0, index - i0, toast - t0)
        phase.load = os.getloadavg()
        report.append(phase)


@dataclass
class Phase:
    name: str
    requests: int = 0
    items: int = 0  # heartbeats, sessions, nights... sent
    wall: float = 0.0
    app_cpu: float = 0.0
    pg_cpu: float = 0.0
    wal: int = 0
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    tables: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)

    def bytes(self) -> int:
        return sum(h + i + t for _, h, i, t in self.tables.values())


# --- the app in this process -----------------------------------------------------------------


def _settings(database_url: str, redis_url: str) -> Any:
    from rhythm.platform.settings import Settings

    return Settings(
        env="development",
        database_url=database_url,
        redis_url=redis_url,
        secret_key=SECRET,
        rate_limit_default="1000000000/minute",
        rate_limit_anonymous="1000000000/minute",
        rate_limit_auth="1000000000/minute",
        rate_limit_search="1000000000/minute",
        rate_limit_heartbeats="1000000000/minute",
        auth_failure_limit="1000000000/minute",
        log_level="WARNING",
        db_pool_size=20,
    )


@contextmanager
def in_process(database_url: str, redis_url: str) -> Iterator[tuple[asyncio.Runner, Any]]:
    """An asyncio runner and the started app in it (the lifespan entered)."""
    from rhythm.app import create_app

    app = create_app(_settings(database_url, redis_url))
    runner = asyncio.Runner()
    lifespan = app.router.lifespan_context(app)
    runner.run(lifespan.__aenter__())
    try:
        yield runner, app
    finally:
        runner.run(lifespan.__aexit__(None, None, None))
        runner.close()


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120
    )


def _ok(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:300]}")
    return response


@dataclass
class Account:
    id: str
    token: str
    key: str


async def accounts(http: httpx.AsyncClient, count: int) -> list[Account]:
    made = []
    for i in range(count):
        body = {"email": f"cap{i}@example.com", "password": "capacity-pass-123", "name": f"U{i}"}
        reg = _ok(await http.post("/api/v1/auth/register", json=body)).json()
        token = reg["access_token"]
        me = _ok(await http.get("/api/v1/users/me", headers=_bearer(token))).json()
        key = _ok(
            await http.post(
                "/api/v1/auth/api-keys", json={"name": "watchers"}, headers=_bearer(token)
            )
        ).json()["key"]
        made.append(Account(me["id"], token, key))
    return made


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def _iso(day: date, second: float) -> str:
    return (
        datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=second)
    ).isoformat()


async def send_watcher(
    http: httpx.AsyncClient,
    user: Account,
    bucket: str,
    kind: str,
    beats: list[Beat],
    pulse: float,
    day: date,
) -> None:
    auth = _basic(user.key)
    url = f"/api/0/buckets/{bucket}"
    body = {"client": "aw-watcher", "type": kind, "hostname": HOST}
    created = await http.post(url, json=body, headers=auth)
    if created.status_code not in (200, 304):
        _ok(created)
    for beat in beats:
        event = {"timestamp": _iso(day, beat.start), "duration": beat.duration, "data": beat.data}
        _ok(
            await http.post(
                url + "/heartbeat", params={"pulsetime": pulse}, json=event, headers=auth
            )
        )


async def send_waka(http: httpx.AsyncClient, user: Account, beats: list[dict[str, Any]]) -> None:
    url = "/api/compat/wakatime/v1/users/current/heartbeats.bulk"
    headers = {"Authorization": "Basic " + base64.b64encode(user.key.encode()).decode()}
    for beat in beats:  # wakatime-cli sends each heartbeat as it happens, as a list of one
        _ok(await http.post(url, json=[beat], headers=headers))


async def send_focus(http: httpx.AsyncClient, user: Account, days: list[date]) -> int:
    sent = 0
    for day in days:
        for n in range(FOCUS_SESSIONS):
            start = 9 * 3600 + n * 2 * 3600
            body = {
                "session_id": f"s-{day.isoformat()}-{n}",
                "started_at": _iso(day, start),
                "ended_at": _iso(day, start + 25 * 60),
                "timezone": "UTC",
            }
            _ok(await http.post("/api/v1/focus/sessions", json=body, headers=_bearer(user.token)))
            sent += 1
    return sent


async def send_nights(http: httpx.AsyncClient, user: Account, days: list[date]) -> int:
    for day in days:
        bed = _iso(day - timedelta(days=1), 23 * 3600 + 15 * 60)
        wake = _iso(day, 7 * 3600)
        headers = _bearer(user.token)
        _ok(
            await http.post(
                "/api/v1/sleep/clock-in", json={"at": bed, "timezone": "UTC"}, headers=headers
            )
        )
        _ok(await http.post("/api/v1/sleep/clock-out", json={"at": wake}, headers=headers))
    return len(days)


# --- the parts -----------------------------------------------------------------------------


def dataset_storage(url: str) -> dict[str, tuple[int, int, int, int]]:
    meter = Meter(url)
    sizes = meter.relations()
    print("### 1. The 1M-user dataset: storage per table\n")
    print("| table | rows | heap bytes | index bytes | TOAST bytes | bytes per row (all) |")
    print("|---|---|---|---|---|---|")
    for table, (rows, heap, index, toast) in sorted(sizes.items(), key=lambda kv: -sum(kv[1][1:])):
        if rows or heap > 8192:
            per = (heap + index + toast) / rows if rows else 0
            print(f"| {table} | {rows:,} | {heap:,} | {index:,} | {toast:,} | {per:,.1f} |")
    total = sum(h + i + t for _, h, i, t in sizes.values())
    print(f"\nWhole database (public tables): {total:,} bytes ({total / 2**30:.2f} GiB).")
    indexes = meter.conn.execute(
        "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes"
        " WHERE relname IN ('users', 'follows', 'sleep_records') ORDER BY 2 DESC"
    ).fetchall()
    print("\n| index | bytes |\n|---|---|")
    for name, size in indexes:
        print(f"| {name} | {size:,} |")
    print()
    return sizes


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@contextmanager
def private_postgres() -> Iterator[str]:
    """A PostgreSQL 15 cluster of its own (Debian's binaries, run as the `postgres` user when
    this runs as root, default settings); its admin URL. RHYTHM_BENCH_CAPACITY_ADMIN_URL
    instead uses a running server (its WAL figures then count every database's WAL)."""
    given = os.environ.get("RHYTHM_BENCH_CAPACITY_ADMIN_URL")
    if given:
        yield given
        return
    import shutil
    import subprocess
    import tempfile

    from bench.harness import free_port

    directory = Path(tempfile.mkdtemp(prefix="rhythm-capacity-pg-"))
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(directory, "postgres")
    data = directory / "data"
    run = [*as_postgres, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
    subprocess.run(run, check=True, capture_output=True)
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1"
    ctl = [
        *as_postgres,
        str(PG_BIN / "pg_ctl"),
        "-D",
        str(data),
        "-w",
        "-l",
        str(directory / "log"),
    ]
    subprocess.run([*ctl, "-o", options, "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "fast", "stop"], check=False, capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


def activity(redis_url: str) -> list[Phase]:
    with private_postgres() as admin:
        return _activity(admin, redis_url)


def _activity(admin: str, redis_url: str) -> list[Phase]:
    url = recreate(admin, SCRATCH)
    from rhythm.migrations import upgrade

    upgrade(url)
    meter = Meter(url)
    rng = random.Random(15)
    day = datetime.now(UTC).date() - timedelta(days=2)
    days = [model_day(rng, day) for _ in range(USERS)]
    extra = [day - timedelta(days=d) for d in range(EXTRA_DAYS, 0, -1)]
    phases: list[Phase] = []
    redis_sync.Redis.from_url(redis_url).flushdb()
    try:
        _replay(url, redis_url, meter, days, day, extra, phases)
    finally:  # what was measured is printed even if a later phase fails
        _print_activity(days, phases)
    compacted(url)
    return phases


def _replay(
    url: str,
    redis_url: str,
    meter: Meter,
    days: list[Day],
    day: date,
    extra: list[date],
    phases: list[Phase],
) -> None:
    with in_process(url, redis_url) as (runner, app):

        async def go(coro_of: Any) -> None:
            async with client(app) as http:
                await asyncio.gather(*(coro_of(http, i, u) for i, u in enumerate(users)))

        async def make() -> list[Account]:
            async with client(app) as http:
                return await accounts(http, USERS)

        users = runner.run(make())
        with meter.phase("ActivityWatch: window + afk watchers, one day", phases) as p:

            async def aw(http: httpx.AsyncClient, i: int, user: Account) -> None:
                await asyncio.gather(
                    send_watcher(
                        http,
                        user,
                        f"aw-watcher-window_{HOST}",
                        "currentwindow",
                        days[i].window,
                        WINDOW_PULSETIME,
                        day,
                    ),
                    send_watcher(
                        http,
                        user,
                        f"aw-watcher-afk_{HOST}",
                        "afkstatus",
                        days[i].afk,
                        AFK_PULSETIME,
                        day,
                    ),
                )

            runner.run(go(aw))
            p.requests = sum(len(d.window) + len(d.afk) + 2 for d in days)
            p.items = sum(len(d.window) + len(d.afk) for d in days)
        with meter.phase("WakaTime editor: one day", phases) as p:
            runner.run(go(lambda http, i, user: send_waka(http, user, days[i].waka)))
            p.requests = p.items = sum(len(d.waka) for d in days)
        with meter.phase("focus sessions: one day", phases) as p:
            runner.run(go(lambda http, i, user: send_focus(http, user, [day])))
            p.requests = p.items = USERS * FOCUS_SESSIONS
        with meter.phase(f"focus sessions: {EXTRA_DAYS} more days", phases) as p:
            runner.run(go(lambda http, i, user: send_focus(http, user, extra)))
            p.requests = p.items = USERS * FOCUS_SESSIONS * EXTRA_DAYS
        # Nights in order: a bedtime must come after the latest night's wake.
        with meter.phase(f"nights: {EXTRA_DAYS} more days", phases) as p:
            runner.run(go(lambda http, i, user: send_nights(http, user, extra)))
            p.items, p.requests = USERS * EXTRA_DAYS, USERS * EXTRA_DAYS * 2
        with meter.phase("night: one day (clock-in, clock-out)", phases) as p:
            runner.run(go(lambda http, i, user: send_nights(http, user, [day])))
            p.items, p.requests = USERS, USERS * 2
        with meter.phase("reads: usage report, 5 groupings x 4 each", phases) as p:

            async def reports(http: httpx.AsyncClient, i: int, user: Account) -> None:
                for group in ("app", "title", "domain", "category", "app"):
                    for _ in range(4):
                        params = {"date": day.isoformat(), "group_by": group}
                        _ok(
                            await http.get(
                                "/api/v1/usage/report", params=params, headers=_bearer(user.token)
                            )
                        )

            runner.run(go(reports))
            p.requests = p.items = USERS * 20


def compacted(url: str) -> None:
    """Sizes once dead row versions are gone: every merged heartbeat updates its event's end,
    leaving a dead version (heap and index entries) that autovacuum later makes reusable. The
    sizes above, as written, are the upper bound; these, rewritten, the lower one."""
    meter = Meter(url)
    meter.conn.execute("VACUUM FULL")
    print("Every table rewritten (`VACUUM FULL`): live rows only, indexes packed.\n")
    print("| table | rows | heap | indexes | TOAST | bytes/row |\n|---|---|---|---|---|---|")
    for table, (rows, heap, index, toast) in sorted(meter.relations().items()):
        if rows > 0 and not table.startswith(("procrastinate", "alembic")):
            per = (heap + index + toast) / rows
            print(f"| {table} | {rows:,} | {heap:,} | {index:,} | {toast:,} | {per:,.0f} |")
    print()


def _print_activity(days: list[Day], phases: list[Phase]) -> None:
    n = len(days)
    polls_w = sum(d.window_polls for d in days) / n
    polls_a = sum(d.afk_polls for d in days) / n
    sent_w = sum(len(d.window) for d in days) / n
    sent_a = sum(len(d.afk) for d in days) / n
    waka = sum(len(d.waka) for d in days) / n
    active = sum(d.active_seconds for d in days) / n / 3600
    on = (DEVICE_ON[1] - DEVICE_ON[0]) / 3600
    print(f"### 2. A day of activity per user ({n} users replayed)\n")
    print("| what | per user-day |\n|---|---|")
    print(f"| device on / at the keyboard | {on:.1f} h / {active:.2f} h |")
    print(
        "| aw-watcher-window polls -> requests after aw-client's pre-merge |"
        f" {polls_w:,.0f} -> {sent_w:,.0f} |"
    )
    print(f"| aw-watcher-afk polls -> requests | {polls_a:,.0f} -> {sent_a:,.0f} |")
    print(
        f"| ActivityWatch heartbeat requests per device-on hour | {(sent_w + sent_a) / on:,.0f} |"
    )
    print(f"| WakaTime heartbeats (2 h of typing) | {waka:,.0f} |")
    print(f"| focus sessions / nights | {FOCUS_SESSIONS} / 1 |\n")
    print(
        "| phase | requests | items | rows stored (table: rows) | bytes stored | bytes/item"
        " | WAL bytes | WAL/item | app CPU s | PG CPU s | PG CPU ms/item"
        " | wall s | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for p in phases:
        rows = ", ".join(f"{t}: {r:,}" for t, (r, *_s) in sorted(p.tables.items()) if r)
        items = max(p.items, 1)
        print(
            f"| {p.name} | {p.requests:,} | {p.items:,} | {rows} | {p.bytes():,} |"
            f" {p.bytes() / items:,.0f} | {p.wal:,} | {p.wal / items:,.0f} |"
            f" {p.app_cpu:.1f} | {p.pg_cpu:.2f} | {1000 * p.pg_cpu / items:.3f} | {p.wall:.1f} |"
            f" {p.load[0]:.1f} |"
        )
    print("\nPer table, bytes per row stored (heap + indexes + TOAST), by phase:\n")
    print(
        "| phase | table | rows | heap | indexes | TOAST | bytes/row |\n"
        "|---|---|---|---|---|---|---|"
    )
    for p in phases:
        for table, (rows, heap, index, toast) in sorted(p.tables.items()):
            if rows > 0:
                per = (heap + index + toast) / rows
                print(
                    f"| {p.name} | {table} | {rows:,} | {heap:,} | {index:,} | {toast:,} |"
                    f" {per:,.0f} |"
                )
    load = hourly_load(ZONES)
    single = hourly_load(["UTC"])
    mix = max(load) / (sum(load) / 24)
    one = max(single) / (sum(single) / 24)
    print(
        f"\nPeak/mean heartbeat rate over a day: {mix:.2f} with the dataset's five zones"
        f" ({', '.join(ZONES)}), {one:.2f} with every user in one zone.\n"
    )


_FAMILY = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{12,}|\d+"
)


def redis_memory(full_url: str, redis_url: str) -> None:
    from rhythm.platform.timeutil import previous_week

    r = redis_sync.Redis.from_url(redis_url)
    r.flushdb()
    conn = psycopg.connect(full_url)
    week = previous_week(datetime.now(UTC), "UTC")
    viewers = active_viewers(conn, week, VIEWERS)
    followees = {
        v: conn.execute(
            "SELECT followee_id FROM follows WHERE follower_id = %s LIMIT 1", (v,)
        ).fetchone()[0]  # type: ignore[index]
        for v in viewers
    }
    tokens = mint_tokens(conn, viewers)
    conn.close()
    meter = Meter(full_url)
    base = int(r.info("memory")["used_memory"])
    with in_process(full_url, redis_url) as (runner, app):

        async def visit(cold: bool) -> None:
            async with client(app) as http:
                sem = asyncio.Semaphore(8)

                async def one(viewer: uuid.UUID, token: str) -> None:
                    async with sem:
                        h = _bearer(token)
                        if cold:
                            _ok(await http.get("/api/v1/users/me", headers=h))
                        _ok(await http.get("/api/v1/sleep/following", headers=h))
                        if cold:
                            _ok(
                                await http.get(
                                    f"/api/v1/users/{followees[viewer]}/streak", headers=h
                                )
                            )
                            _ok(await http.get("/api/v1/focus/leaderboard", headers=h))

                await asyncio.gather(*(one(v, t) for v, t in zip(viewers, tokens, strict=True)))

        cpu = time.process_time()
        ticks = meter.backend_ticks()
        runner.run(visit(cold=True))
        cold_pg = sum(t - ticks.get(pid, 0) for pid, t in meter.backend_ticks().items()) / meter.hz
        cold_app = time.process_time() - cpu
        cpu = time.process_time()
        ticks = meter.backend_ticks()
        runner.run(visit(cold=False))
        warm_pg = sum(t - ticks.get(pid, 0) for pid, t in meter.backend_ticks().items()) / meter.hz
        warm_app = time.process_time() - cpu
    used = int(r.info("memory")["used_memory"]) - base
    families: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for key in r.scan_iter(count=1000):
        name = _FAMILY.sub("{id}", key.decode(errors="replace"))
        family = families[name]
        family[0] += 1
        family[1] += int(r.memory_usage(key, samples=0) or 0)
        ttl = int(r.ttl(key))
        family[2] = max(family[2], ttl)
    n = len(viewers)
    print(f"### 4. Redis memory, {n} viewers of the 1M dataset (load {os.getloadavg()[0]:.1f})\n")
    print(
        "Each viewer: `GET /users/me`, `GET /sleep/following` (last week's feed; cold, then again"
        " warm), a followee's `GET /users/{id}/streak`, `GET /focus/leaderboard`.\n"
    )
    print(
        "| key family | keys | bytes (MEMORY USAGE) | bytes per viewer | longest TTL s |\n"
        "|---|---|---|---|---|"
    )
    total = 0
    for name, (count, size, ttl) in sorted(families.items(), key=lambda kv: -kv[1][1]):
        total += size
        print(f"| `{name}` | {count:,} | {size:,} | {size / n:,.0f} | {ttl} |")
    print(
        f"| all keys | {sum(f[0] for f in families.values()):,} | {total:,} | {total / n:,.0f} | |"
    )
    print(f"\nused_memory grew by {used:,} bytes: {used / n:,.0f} per viewer.")
    print(
        f"PostgreSQL CPU, cold pass (4 requests a viewer, the feed rebuilt): {cold_pg:.2f} s,"
        f" {1000 * cold_pg / n:.2f} ms per viewer; warm feed pass: {warm_pg:.2f} s"
        f" ({1000 * warm_pg / n:.3f} ms per viewer). This process (app and client):"
        f" {cold_app:.1f} s cold, {warm_app:.1f} s warm.\n"
    )


def run(rounds: int = 1, seconds: int = 0, processes: list[int] | None = None) -> None:
    full = os.environ.get("RHYTHM_BENCH_SLEEP_DATABASE_URL", FULL)
    redis_url = os.environ.get("RHYTHM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    parts = os.environ.get("RHYTHM_BENCH_CAPACITY_PARTS", "dataset,activity,redis").split(",")
    print(f"Load average at the start: {os.getloadavg()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n")
    if "dataset" in parts:
        dataset_storage(full)
    if "activity" in parts:
        activity(redis_url)
    if "redis" in parts:
        redis_memory(full, redis_url)
