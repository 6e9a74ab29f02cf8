"""Import of ActivityWatch history: `python bench/run.py aw_import [--rounds 3]`.

Writes an aw-server export of 1,000,000 events (a window bucket of 600,000, an AFK bucket and
a web bucket of 200,000 each, as json.dumps writes it, ~170 MB), then times
`rhythm usage import FILE --user EMAIL` (the whole command: start, checks, stream, COPY and
insert, commit) into an empty account, and the same file imported again into it (every event
already there: nothing inserted). Each round uses a new account.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench.harness import bench_database, rhythm_env

EVENTS = {"aw-watcher-window_bench": 600_000, "aw-watcher-afk_bench": 200_000}
EVENTS["aw-watcher-web-firefox_bench"] = 1_000_000 - sum(EVENTS.values())
TYPES = {"window": "currentwindow", "afk": "afkstatus", "web": "web.tab.current"}
APPS = ["firefox", "code", "kitty", "slack", "thunderbird", "evince", "zoom", "spotify"]


def _data(kind: str, rng: random.Random, i: int) -> dict[str, object]:
    if kind == "afk":
        return {"status": "afk" if i % 2 else "not-afk"}
    if kind == "web":
        site = rng.choice(["github.com", "docs.python.org", "news.ycombinator.com", "example.org"])
        return {
            "url": f"https://{site}/page/{rng.randrange(5000)}",
            "title": f"Page {i}",
            "audible": False,
            "incognito": False,
            "tabCount": rng.randrange(1, 40),
        }
    app = rng.choice(APPS)
    return {"app": app, "title": f"{app} window {rng.randrange(20000)} - some document title"}


def write_export(path: Path) -> int:
    """The export document, newest events first as aw-server writes them; its size."""
    rng = random.Random(12)
    end = datetime(2025, 6, 1, tzinfo=UTC)
    with path.open("w") as out:
        out.write('{"buckets": {')
        for number, (name, count) in enumerate(EVENTS.items()):
            kind = name.split("-")[2].split("_")[0]
            bucket = {
                "id": name,
                "created": "2021-01-01T00:00:00+00:00",
                "name": None,
                "type": TYPES[kind],
                "client": "aw-watcher-" + kind,
                "hostname": "bench",
                "data": {},
            }
            out.write(("," if number else "") + json.dumps(name) + ": ")
            out.write(json.dumps(bucket)[:-1] + ', "events": [')
            at = end
            for i in range(count):
                duration = round(rng.uniform(0, 40), 3)
                at -= timedelta(seconds=duration + rng.choice([0, 0, 1, 5]))
                event = {
                    "timestamp": at.isoformat(),
                    "duration": duration,
                    "data": _data(kind, rng, i),
                }
                out.write(("" if i == 0 else ", ") + json.dumps(event))
            out.write("]}")
        out.write("}}")
    return path.stat().st_size


def _account(database_url: str) -> str:
    email = f"import-{uuid.uuid4().hex[:8]}@bench"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (id, email, password_hash, name, timezone)"
            " VALUES (%s, %s, '!', 'Importer', 'UTC')",
            (uuid.uuid4(), email),
        )
    return email


def _import(env: dict[str, str], path: Path, email: str) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "rhythm", "usage", "import", str(path), "--user", email],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"import failed: {done.stderr}")
    return seconds, done.stdout.strip()


def run(rounds: int = 3, seconds: int = 10, processes: object = None) -> None:
    del seconds, processes  # not a load test
    from rhythm.migrations import upgrade

    with bench_database() as (database_url, redis_url), tempfile.TemporaryDirectory() as tmp:
        upgrade(database_url)
        env = rhythm_env(database_url, redis_url)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        path = Path(tmp) / "aw-buckets-export.json"
        size = write_export(path)
        print(f"export: {sum(EVENTS.values()):,} events, {size / 1e6:.0f} MB\n")
        first: list[float] = []
        again: list[float] = []
        for _ in range(rounds):
            email = _account(database_url)
            elapsed, line = _import(env, path, email)
            first.append(elapsed)
            print(f"  import:   {elapsed:5.1f} s  {line}", file=sys.stderr)
            elapsed, line = _import(env, path, email)
            again.append(elapsed)
            print(f"  re-import: {elapsed:5.1f} s  {line}", file=sys.stderr)
        print("| import of 1,000,000 events | median | best | worst |")
        print("|---|---|---|---|")
        for name, times in (("into an empty account", first), ("again (nothing new)", again)):
            print(
                f"| {name} | {statistics.median(times):.1f} s | {min(times):.1f} s "
                f"| {max(times):.1f} s |"
            )
