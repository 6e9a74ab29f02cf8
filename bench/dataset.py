"""Generate the sleep dataset with COPY: `python bench/dataset.py --users 1000000`.

- `--users` users (default 1,000,000), all with the password `bench-password-123`;
- about 10 completed nights per user over the last `--weeks` weeks (10,000,000 at full scale),
  never overlapping: one night per chosen day, bedtime 21:00 to 01:00 local, 5 to 10 hours;
- a power-law follow graph: out-degrees log-normal (median ~12, capped at 1,000) and followees
  drawn by Zipf-like popularity, plus two fixed accounts: `celebrity@bench` with 100,000
  followers (capped by the user count) and `viewer5k@bench` following 5,000 people.

The database is dropped and recreated from the migrations first; the bulk tables' constraints
and indexes are dropped during the COPY and rebuilt after it. `--scale small` is a quick
10,000-user run. Prints the load figures.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rhythm.identity.passwords import _hasher
from rhythm.migrations import upgrade
from rhythm.platform.database import libpq_url
from rhythm.platform.timeutil import iso_week

PASSWORD = "bench-password-123"
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
CELEBRITY_FOLLOWERS = 100_000
VIEWER_FOLLOWS = 5_000


def recreate(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url: str = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return libpq_url(url)


def user_ids(count: int, rng: random.Random) -> list[uuid.UUID]:
    return [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(count)]


def follow_edges(ids: list[uuid.UUID], rng: random.Random) -> set[tuple[int, int]]:
    n = len(ids)
    edges: set[tuple[int, int]] = set()
    # Popularity ~ 1/rank^0.9 over a shuffled order, sampled by inverse CDF on cumulative weights.
    order = list(range(2, n))
    rng.shuffle(order)
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(order))]
    total = 0.0
    cumulative = []
    for w in weights:
        total += w
        cumulative.append(total)
    import bisect

    for follower in range(2, n):
        degree = min(1000, int(rng.lognormvariate(2.5, 1.0)))
        for _ in range(degree):
            followee = order[bisect.bisect_left(cumulative, rng.random() * total)]
            if followee != follower:
                edges.add((follower, followee))
    # The celebrity (index 0) and the heavy viewer (index 1).
    for follower in rng.sample(range(2, n), min(CELEBRITY_FOLLOWERS, n - 2)):
        edges.add((follower, 0))
    for followee in rng.sample(range(2, n), min(VIEWER_FOLLOWS, n - 2)):
        edges.add((1, followee))
    return edges


def nights(
    user: uuid.UUID, zone: str, days: list[date], rng: random.Random
) -> list[tuple[object, ...]]:
    rows = []
    tz = ZoneInfo(zone)
    for day in days:
        start_local = datetime(day.year, day.month, day.day, 21, tzinfo=tz) + timedelta(
            minutes=rng.randrange(0, 240)
        )
        start = start_local.astimezone(UTC)
        duration = rng.randrange(5 * 3600, 10 * 3600)
        end = start + timedelta(seconds=duration)
        rows.append(
            (
                uuid.uuid4(),
                user,
                start,
                end,
                zone,
                zone,
                duration,
                iso_week(start_local.date()),
                end,
            )
        )
    return rows


BULK_TABLES = ("follows", "sleep_records")


def drop_constraints_and_indexes(cur: psycopg.Cursor) -> list[str]:
    """Drop the bulk tables' constraints and indexes; the statements that recreate them.

    COPY into bare tables and a sorted index build afterwards is far faster than maintaining
    random-UUID B-trees, a GiST exclusion index and foreign-key checks row by row.
    """
    recreate: list[str] = []
    constraints = cur.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype"
        " FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s) AND contype <> 'c'"
        " ORDER BY contype = 'f', contype = 'p' DESC",
        (list(BULK_TABLES),),
    ).fetchall()
    backing = {name for _, name, _, _ in constraints}
    indexes = cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)",
        (list(BULK_TABLES),),
    ).fetchall()
    for table, name, _, _ in reversed(constraints):
        cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for table, name, definition, _ in constraints:
        recreate.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in indexes:
        if name not in backing:
            cur.execute(f'DROP INDEX "{name}"')
            recreate.append(definition)
    return recreate


def generate(database_url: str, users: int, weeks: int, seed: int) -> None:
    rng = random.Random(seed)
    password_hash = _hasher.hash(PASSWORD)
    t0 = time.perf_counter()
    ids = user_ids(users, rng)
    zones = [ZONES[i % len(ZONES)] for i in range(users)]
    today = datetime.now(UTC).date()
    span = [today - timedelta(days=d) for d in range(1, weeks * 7 + 1)]
    per_user = max(1, round(10 * weeks / 8))
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        recreate = drop_constraints_and_indexes(cur)
        with cur.copy("COPY users (id, email, password_hash, name, timezone) FROM STDIN") as copy:
            for i, uid in enumerate(ids):
                email = {0: "celebrity@bench", 1: "viewer5k@bench"}.get(i, f"user{i}@bench")
                copy.write_row((uid, email, password_hash, f"Sleeper {i}", zones[i]))
        t_users = time.perf_counter()
        edges = follow_edges(ids, rng)
        base = datetime.now(UTC) - timedelta(days=weeks * 7)
        with cur.copy("COPY follows (follower_id, followee_id, created_at) FROM STDIN") as copy:
            for follower, followee in edges:
                copy.write_row(
                    (ids[follower], ids[followee], base + timedelta(seconds=rng.randrange(10**6)))
                )
        t_follows = time.perf_counter()
        records = 0
        columns = (
            "id, user_id, sleep_at, wake_at, sleep_timezone, wake_timezone,"
            " duration_seconds, week, created_at"
        )
        with cur.copy(f"COPY sleep_records ({columns}) FROM STDIN") as copy:
            for i, uid in enumerate(ids):
                days = sorted(rng.sample(span, min(len(span), per_user)))
                for row in nights(uid, zones[i], days, rng):
                    copy.write_row(row)
                    records += 1
        t_records = time.perf_counter()
        cur.execute("SET maintenance_work_mem = '1GB'")
        for statement in recreate:
            cur.execute(statement)
        conn.commit()
        t_indexes = time.perf_counter()
        conn.autocommit = True
        cur.execute("VACUUM (ANALYZE)")  # sets the visibility map, for index-only scans
        t_done = time.perf_counter()
    print(
        f"users: {users:,} in {t_users - t0:.1f} s\n"
        f"follows: {len(edges):,} in {t_follows - t_users:.1f} s\n"
        f"sleep records: {records:,} in {t_records - t_follows:.1f} s"
        f" ({records / (t_records - t_follows):,.0f} rows/s)\n"
        f"constraints and indexes rebuilt: {t_indexes - t_records:.1f} s\n"
        f"vacuum and analyze: {t_done - t_indexes:.1f} s; total {t_done - t0:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--scale", choices=["full", "small"], default="full")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="rhythm_bench_sleep")
    args = parser.parse_args()
    users = 10_000 if args.scale == "small" else args.users
    url = recreate(args.admin_url, args.database)
    upgrade(url)
    generate(url, users, args.weeks, args.seed)


if __name__ == "__main__":
    main()
