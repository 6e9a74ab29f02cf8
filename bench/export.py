"""An account's export at 1,000,000 usage intervals: `python bench/run.py export [--rounds 3]`.

Fills a bench account with 1,000,000 usage intervals (a window bucket of 600,000, an AFK
bucket and a web bucket of 200,000 each, written by INSERT ... SELECT generate_series; kept
between runs), then, against the real server (Granian, one worker), alternates rounds of:

- the baseline: `COPY (SELECT ...) TO STDOUT` of the same intervals (bucket, start, end, data
  as text) to a psycopg client, which discards them;
- GET /api/v1/users/me/export, streamed by httpx and discarded (JSON Lines);
- GET /api/v1/users/me/export?format=csv (a ZIP of CSVs).

It reports the medians of the wall time, the bytes, and the server's peak RSS while each runs
(its worker and its main process, sampled every 20 ms with psutil).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import psutil
import psycopg

from bench.harness import bench_database, granian, rhythm_env
from bench.sleep_scenario import mint_tokens

EMAIL = "export@bench"
BUCKETS = {
    "aw-watcher-window_bench": ("currentwindow", "aw-watcher-window", 600_000),
    "aw-watcher-afk_bench": ("afkstatus", "aw-watcher-afk", 200_000),
    "aw-watcher-web-firefox_bench": ("web.tab.current", "aw-watcher-web-firefox", 200_000),
}
INTERVALS = sum(count for _, _, count in BUCKETS.values())
# Each bucket's intervals every 10 s (5 to 9 s long) back from here: no overlaps.
END = datetime(2026, 6, 1, tzinfo=UTC)
DATA = {
    "currentwindow": "jsonb_build_object('app', 'app-' || mod(i, 8), 'title',"
    " 'app-' || mod(i, 8) || ' window ' || mod(i, 20000) || ' - some document title')",
    "afkstatus": "jsonb_build_object('status',"
    " CASE WHEN mod(i, 2) = 0 THEN 'afk' ELSE 'not-afk' END)",
    "web.tab.current": "jsonb_build_object('url', 'https://example.org/page/' || mod(i, 5000),"
    " 'title', 'Page ' || i, 'audible', false, 'incognito', false, 'tabCount', mod(i, 40))",
}
BASELINE = """
COPY (
    SELECT b.name, e.starts_at, e.ends_at, e.data::text
    FROM usage_buckets AS b JOIN usage_events AS e ON e.bucket_pk = b.id
    WHERE b.user_id = '{user}' ORDER BY b.name, e.starts_at, e.id
) TO STDOUT
"""


def account(conn: psycopg.Connection) -> uuid.UUID:
    """The bench account with its million intervals, made on first use."""
    found = conn.execute("SELECT id FROM users WHERE email = %s", (EMAIL,)).fetchone()
    if found is not None:
        count = conn.execute(
            "SELECT count(*) FROM usage_events WHERE user_id = %s", (found[0],)
        ).fetchone()
        if count is not None and count[0] == INTERVALS:
            return uuid.UUID(str(found[0]))
        conn.execute("DELETE FROM users WHERE id = %s", (found[0],))
    user_id = uuid.uuid4()
    began = time.perf_counter()
    conn.execute(
        "INSERT INTO users (id, email, password_hash, name, timezone)"
        " VALUES (%s, %s, '!', 'Exporter', 'Europe/Paris')",
        (user_id, EMAIL),
    )
    for name, (kind, client, count) in BUCKETS.items():
        bucket = uuid.uuid4()
        conn.execute(
            "INSERT INTO usage_buckets (id, user_id, name, type, client, hostname)"
            " VALUES (%s, %s, %s, %s, %s, 'bench')",
            (bucket, user_id, name, kind, client),
        )
        conn.execute(
            "INSERT INTO usage_events (bucket_pk, user_id, starts_at, ends_at, data, app, title)"
            " SELECT %s, %s, s, s + make_interval(secs => 5 + mod(i, 5)), d,"
            " d->>'app', d->>'title'"
            f" FROM generate_series(1, %s) AS i,"
            f" LATERAL (SELECT %s - make_interval(secs => i * 10) AS s, {DATA[kind]} AS d) AS x",
            (bucket, user_id, count, END),
        )
    conn.commit()
    conn.execute("ANALYZE usage_events")
    print(f"  made {INTERVALS:,} intervals in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return user_id


def _cpu(process: psutil.Process) -> float:
    """CPU seconds (user and system) of the process and its children so far."""
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        times = p.cpu_times()
        total += times.user + times.system
    return total


@contextmanager
def peak_rss(process: psutil.Process) -> Iterator[dict[str, float]]:
    """The peak RSS of the process and of its children while the block runs, and the CPU
    seconds they spent in it."""
    peak: dict[str, float] = {"worker": 0, "total": 0, "cpu": 0.0}
    cpu_before = _cpu(process)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                children = process.children(recursive=True)
                worker = max((c.memory_info().rss for c in children), default=0)
                total = process.memory_info().rss + sum(c.memory_info().rss for c in children)
            except psutil.Error:
                continue
            peak["worker"] = max(peak["worker"], worker)
            peak["total"] = max(peak["total"], total)
            done.wait(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
        peak["cpu"] = _cpu(process) - cpu_before


def _server() -> psutil.Process:
    """The Granian process the harness just started (this process's newest child)."""
    children = psutil.Process().children()
    return max(children, key=lambda p: p.create_time())


def baseline(database_url: str, user_id: uuid.UUID) -> tuple[float, int]:
    began = time.perf_counter()
    size = 0
    with (
        psycopg.connect(database_url) as conn,
        conn.cursor() as cur,
        cur.copy(BASELINE.format(user=user_id)) as copy,
    ):
        for block in copy:
            size += len(block)
    return time.perf_counter() - began, size


def download(url: str, token: str) -> tuple[float, int]:
    began = time.perf_counter()
    size = 0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream("GET", url, headers=headers, timeout=120) as response:
        response.raise_for_status()
        for block in response.iter_raw(1 << 20):
            size += len(block)
    return time.perf_counter() - began, size


def run(rounds: int = 3, seconds: int = 10, processes: object = None) -> None:
    del seconds, processes  # not a load test
    from rhythm.migrations import upgrade

    with bench_database() as (database_url, redis_url):
        upgrade(database_url)
        with psycopg.connect(database_url) as conn:
            user_id = account(conn)
            (token,) = mint_tokens(conn, [user_id])
        env = rhythm_env(database_url, redis_url)
        with granian("rhythm.app:create_app", env, workers=1) as base:
            server = _server()
            idle = sum(p.memory_info().rss for p in [server, *server.children(recursive=True)])
            subjects: dict[str, Callable[[], tuple[float, int]]] = {
                "COPY (SELECT ...) TO STDOUT of the same rows (baseline)": lambda: baseline(
                    database_url, user_id
                ),
                "GET /users/me/export (JSON Lines)": lambda: download(
                    base + "/api/v1/users/me/export", token
                ),
                "GET /users/me/export?format=csv (ZIP of CSVs)": lambda: download(
                    base + "/api/v1/users/me/export?format=csv", token
                ),
            }
            results: dict[str, list[tuple[float, int, float, float, float]]] = {
                k: [] for k in subjects
            }
            loads: list[float] = []
            for round_ in range(rounds):
                for label, subject in subjects.items():
                    with peak_rss(server) as peak:
                        elapsed, size = subject()
                    results[label].append(
                        (elapsed, size, peak["worker"], peak["total"], peak["cpu"])
                    )
                    loads.append(psutil.getloadavg()[0])
                    print(
                        f"  round {round_ + 1}: {label}: {elapsed:.1f} s, {size / 1e6:.0f} MB,"
                        f" server peak {peak['worker'] / 2**20:.0f} MiB worker,"
                        f" {peak['total'] / 2**20:.0f} MiB in all, server CPU"
                        f" {peak['cpu']:.1f} s, load {loads[-1]:.1f}",
                        file=sys.stderr,
                    )
    base_time = statistics.median(r[0] for r in results[next(iter(subjects))])
    print(
        f"{INTERVALS:,} usage intervals; server idle: {idle / 2**20:.0f} MiB in all; load"
        f" average (1 min) {min(loads):.1f} to {max(loads):.1f} over the rounds\n"
    )
    columns = ["what", "time (median)", "vs baseline", "bytes", "server worker peak RSS"]
    print("| " + " | ".join([*columns, "server peak RSS in all", "server CPU"]) + " |")
    print("|---|---|---|---|---|---|---|")
    for label, found in results.items():
        elapsed = statistics.median(r[0] for r in found)
        print(
            f"| {label} | {elapsed:.1f} s | {elapsed / base_time:.2f}x"
            f" | {statistics.median(r[1] for r in found) / 1e6:.0f} MB"
            f" | {max(r[2] for r in found) / 2**20:.0f} MiB"
            f" | {max(r[3] for r in found) / 2**20:.0f} MiB"
            f" | {statistics.median(r[4] for r in found):.1f} s |"
        )
