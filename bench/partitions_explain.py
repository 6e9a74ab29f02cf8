"""The plan of a day's usage report on partitioned history: `python bench/partitions_explain.py`.

Fills a database of its own (RHYTHM_BENCH_DATABASE_URL, else `rhythm_bench_partitions` on the
local server; kept between runs) with six months of one user's usage (May to October 2026:
a window bucket and an AFK bucket, an event every two minutes, and an AFK period crossing each
month boundary), then prints `EXPLAIN ANALYZE` of the report's read of a day inside a month
and of a month's first day (usage.repository._ACTIVITY_SPANS, what GET /api/v1/usage/report
counts by default) as a long-lived connection runs it: a prepared statement's generic plan,
partitions pruned when it starts. Quoted in docs/scaling.md.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from rhythm.migrations import upgrade
from rhythm.usage.repository import _ACTIVITY_SPANS

NAME = "rhythm_bench_partitions"
USER = uuid.UUID("00000000-0000-4000-8000-00000000b0b0")
WINDOW = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
AFK = uuid.UUID("00000000-0000-4000-8000-0000000000a2")
# A day inside a month, and the first of a month (an AFK period from July reaches into it).
DAYS = [
    ("2026-08-12T00:00:00Z", "2026-08-13T00:00:00Z"),
    ("2026-08-01T00:00:00Z", "2026-08-02T00:00:00Z"),
]


def database_url() -> str:
    url = os.environ.get("RHYTHM_BENCH_DATABASE_URL")
    if url:
        return url
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (NAME,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(NAME)))
    return f"postgresql://postgres@127.0.0.1:5432/{NAME}"


def seed(conn: psycopg.Connection) -> None:
    if conn.execute("SELECT 1 FROM users WHERE id = %s", (USER,)).fetchone():
        return
    conn.execute(
        "INSERT INTO users (id, email, password_hash, name) VALUES (%s, 'parts@bench', '!', 'P')",
        (USER,),
    )
    conn.execute(
        "INSERT INTO usage_buckets (id, user_id, name, type, client, hostname) VALUES"
        " (%s, %s, 'aw-watcher-window_bench', 'currentwindow', 'bench', 'bench'),"
        " (%s, %s, 'aw-watcher-afk_bench', 'afkstatus', 'bench', 'bench')",
        (WINDOW, USER, AFK, USER),
    )
    conn.execute(
        "INSERT INTO usage_events (bucket_pk, user_id, starts_at, ends_at, data, app, title)"
        " SELECT %s, %s, t, t + interval '110 seconds',"
        " jsonb_build_object('app', 'app' || (n %% 7), 'title', 'title ' || (n %% 500)),"
        " 'app' || (n %% 7), 'title ' || (n %% 500)"
        " FROM generate_series(timestamptz '2026-05-01T00:00:00Z',"
        "  timestamptz '2026-10-31T23:58:00Z', interval '2 minutes') WITH ORDINALITY AS g (t, n)",
        (WINDOW, USER),
    )
    # AFK periods of an hour, not-afk and afk in turn, each month's last one crossing into the
    # next month.
    conn.execute(
        "INSERT INTO usage_events (bucket_pk, user_id, starts_at, ends_at, data)"
        " SELECT %s, %s, t, t + interval '1 hour',"
        " jsonb_build_object('status', CASE WHEN n %% 2 = 0 THEN 'afk' ELSE 'not-afk' END)"
        " FROM generate_series(timestamptz '2026-04-30T23:30:00Z',"
        "  timestamptz '2026-10-31T23:30:00Z', interval '1 hour') WITH ORDINALITY AS g (t, n)",
        (AFK, USER),
    )
    conn.execute("ANALYZE usage_events, usage_event_crossings, usage_buckets")


def main() -> None:
    url = database_url()
    upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        seed(conn)
        counts = conn.execute(
            "SELECT tableoid::regclass::text, count(*) FROM usage_events"
            " GROUP BY 1 HAVING count(*) > 0 ORDER BY 1"
        ).fetchall()
        crossing = conn.execute("SELECT count(*) FROM usage_event_crossings").fetchone()
        print("rows per partition:", ", ".join(f"{t} {n:,}" for t, n in counts))
        print(f"crossing spans: {crossing[0] if crossing else 0}\n")
        conn.execute(
            "PREPARE day_report (uuid, uuid[], timestamptz, timestamptz) AS " + _ACTIVITY_SPANS
        )
        conn.execute("SET plan_cache_mode = force_generic_plan")
        for day in DAYS:
            explain = sql.SQL(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)"
                " EXECUTE day_report ({}::uuid, {}::uuid[], {}::timestamptz, {}::timestamptz)"
            ).format(*(sql.Literal(v) for v in (USER, [WINDOW, AFK], *day)))
            plan = conn.execute(explain).fetchall()
            print(f"EXPLAIN ANALYZE of the report's read of {day[0][:10]} (generic plan):\n")
            print("\n".join(line for (line,) in plan) + "\n")


if __name__ == "__main__":
    main()
