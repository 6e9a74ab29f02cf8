"""Issue 6's benchmark: /search at peak traffic, uncached queries, search while the provider
hangs, and syncs of a catalog of 10,000 slots and of the large feed.

- a generated feed of 2,000 base events x 5 slots (10,000 slots, 10 zones each) is synced with
  `rhythm catalog sync --file` in a child process (wall time and the child's peak RSS);
- `/search` with a random one of 100 distinct queries per request (cached after the first):
  throughput at 64 connections, latency at 8, against a bare hello-world in the same rounds;
- 50 queries never asked before (each one a cache miss), end to end over HTTP;
- `/search` latency at 8 connections while a `rhythm catalog sync` waits on a provider that
  hangs (the fake provider answers nothing for 20 s);
- the large feed: 5,000 base events x 200 zones, synced the same way (time and peak RSS).
"""

from __future__ import annotations

import http.server
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
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

SEARCH_LUA = """
local queries = {}
for line in io.lines("%s") do queries[#queries + 1] = line end
math.randomseed(7)
request = function()
  return wrk.format("GET", "/search?" .. queries[math.random(#queries)])
end
"""


def write_feed(path: Path, bases: int, slots: int, zones: int) -> None:
    """A provider feed (eventList variant), written as a stream."""
    start = datetime(2030, 1, 1, 18, 0)
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<eventList version="1.0"><output>\n')
        for b in range(bases):
            out.write(
                f'<base_event base_event_id="{b + 1}" sell_mode="online"'
                f' organizer_company_id="{b % 7}" title="Event {b + 1}">\n'
            )
            for s in range(slots):
                at = start + timedelta(days=(b * slots + s) % 900, hours=s % 4)
                end = at + timedelta(hours=2)
                out.write(
                    f'<event event_start_date="{at:%Y-%m-%dT%H:%M:%S}"'
                    f' event_end_date="{end:%Y-%m-%dT%H:%M:%S}" event_id="{s + 1}"'
                    f' sell_from="2029-01-01T00:00:00" sell_to="{at:%Y-%m-%dT%H:%M:%S}"'
                    ' sold_out="false">\n'
                )
                for z in range(zones):
                    out.write(
                        f'<zone zone_id="{z + 1}" capacity="{100 + z}"'
                        f' price="{10 + (z * 7 + b) % 90}.50" name="Zone {z + 1}"'
                        ' numbered="true"/>\n'
                    )
                out.write("</event>\n")
            out.write("</base_event>\n")
        out.write("</output></eventList>\n")


_SYNC_CHILD = """
import resource, sys
from rhythm.cli import cli
try:
    cli(["catalog", "sync", *sys.argv[1:]])
except SystemExit:
    pass
print("peak-rss-kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def sync_child(env: dict[str, str], *args: str) -> tuple[float, float, str]:
    """`rhythm catalog sync ...` in a child process: (seconds, its peak RSS in MB, its report)."""
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", _SYNC_CHILD, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    lines = run.stdout.strip().splitlines()
    peak = next((int(x.split()[1]) for x in lines if x.startswith("peak-rss-kb")), 0)
    report = next((x for x in lines if x.startswith("sync ")), run.stderr.strip()[-300:])
    return elapsed, peak / 1024, report


class _Hanging(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(20)

    def log_message(self, *args: object) -> None:
        pass


def run(rounds: int = 3, seconds: int = 10) -> None:
    from rhythm.migrations import upgrade

    work = Path(tempfile.mkdtemp(prefix="rhythm-catalog-bench-"))
    feed = work / "feed.xml"
    write_feed(feed, 2000, 5, 10)
    large = work / "large.xml"
    write_feed(large, 5000, 1, 200)
    rng = random.Random(3)
    queries = []
    for _ in range(100):
        first = datetime(2030, 1, 1) + timedelta(days=rng.randrange(0, 800))
        last = first + timedelta(days=rng.randrange(1, 90))
        queries.append(f"starts_at={first:%Y-%m-%dT%H:%M:%S}&ends_at={last:%Y-%m-%dT%H:%M:%S}")
    query_file = work / "queries.txt"
    query_file.write_text("\n".join(queries))
    script = work / "search.lua"
    script.write_text(SEARCH_LUA % query_file)

    with bench_database() as (database_url, redis_url):
        upgrade(database_url)
        with psycopg.connect(database_url, autocommit=True) as conn:  # a known catalog
            conn.execute("TRUNCATE catalog_base_events, catalog_syncs CASCADE")
        env = rhythm_env(database_url, redis_url)
        env["RHYTHM_CATALOG_MAX_BYTES"] = str(1024 * 1024 * 1024)
        small_sync = sync_child(env, "--file", str(feed))
        hello_env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
        results: dict[str, list[Result]] = {}
        with (
            granian("bench.hello:app", hello_env) as hello,
            granian("rhythm.app:create_app", env) as api,
        ):
            with httpx.Client(base_url=api, timeout=30) as client:
                for q in queries:  # each asked once: cached from here on
                    assert client.get("/search?" + q).status_code == 200
                for _ in range(rounds):
                    for key, label, url, connections, lua in [
                        ("hello", "hello-world (baseline)", hello + "/hello", 64, None),
                        ("c64", "GET /search, 100 queries", api + "/search", 64, script),
                        ("c8", "GET /search, 100 queries", api + "/search", 8, script),
                    ]:
                        result = wrk(
                            label, url, connections=connections, seconds=seconds, script=lua
                        )
                        result.label = f"{label}, {connections} connections"
                        results.setdefault(key, []).append(result)
                uncached = []
                for i in range(50):  # like the mix (1 to 90 days), but never asked before
                    first = datetime(2030, 1, 1, 0, 0, i) + timedelta(days=rng.randrange(0, 800))
                    last = first + timedelta(days=rng.randrange(1, 90))
                    q = f"starts_at={first:%Y-%m-%dT%H:%M:%S}&ends_at={last:%Y-%m-%dT%H:%M:%S}"
                    t0 = time.perf_counter()
                    assert client.get("/search?" + q).status_code == 200
                    uncached.append((time.perf_counter() - t0) * 1000)
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hanging)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            hanging_url = f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
            sync = subprocess.Popen(
                [sys.executable, "-m", "rhythm", "catalog", "sync", "--url", hanging_url],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
            during = wrk(
                "GET /search while a sync waits on a hanging provider",
                api + "/search",
                connections=8,
                seconds=seconds,
                script=script,
            )
            during.label += ", 8 connections"
            sync.kill()
            server.shutdown()
        large_sync = sync_child(env, "--file", str(large))

    medians = {k: median_result(v) for k, v in results.items()}
    print(f"medians of {rounds} rounds\n")
    print(TABLE_HEADER)
    for result in medians.values():
        print(result.row())
    print(during.row())
    print(
        f"\n/search / hello-world: {medians['c64'].rps / medians['hello'].rps:.1%}\n"
        f"uncached query, 50 distinct: p50 {statistics.median(uncached):.1f} ms, "
        f"p99 {sorted(uncached)[-1]:.1f} ms (the slowest)\n"
        f"sync of 10,000 slots ({feed.stat().st_size / 1e6:.1f} MB): {small_sync[0]:.1f} s, "
        f"peak RSS {small_sync[1]:.0f} MB ({small_sync[2]})\n"
        f"sync of the large feed, 5,000 base events x 200 zones "
        f"({large.stat().st_size / 1e6:.1f} MB): {large_sync[0]:.1f} s, "
        f"peak RSS {large_sync[1]:.0f} MB ({large_sync[2]})"
    )
