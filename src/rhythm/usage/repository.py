"""Every SQL statement of the usage context.

Heartbeat writes go straight to asyncpg (platform.database.driver_connection) and take arrays:
they come in batches (service.HeartbeatWriter), and they are the hottest write path of the service.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.platform.bounds import clamp_sql
from rhythm.platform.database import driver_connection, stream_rows
from rhythm.usage.merge import Event, derived
from rhythm.usage.models import UsageBucket

_ENSURE_BUCKETS = """
WITH wanted AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bool[], $5::text[])
        AS t (u, name, typ, make, host)
),
made AS (
    INSERT INTO usage_buckets (id, user_id, name, type, client, hostname)
    SELECT gen_random_uuid(), u, name, typ, 'rhythm', host FROM wanted WHERE make
    ON CONFLICT (user_id, name) DO NOTHING
    RETURNING id, user_id, name, type
)
SELECT id, user_id, name, type FROM made
UNION ALL
SELECT b.id, b.user_id, b.name, b.type FROM usage_buckets AS b
JOIN wanted ON b.user_id = wanted.u AND b.name = wanted.name
"""

_LOCK_BUCKETS = """
SELECT count(pg_advisory_xact_lock(k))
FROM (SELECT hashtextextended(x, 0) AS k FROM unnest($1::text[]) AS x ORDER BY 1) AS o
"""

# Reads select instants clamped into the stored window (bounds.clamp_sql): rows written before
# the window was enforced (±infinity, year 1 or 20000) read as its edges instead of failing.
_STARTS = clamp_sql("starts_at") + " AS starts_at"
_ENDS = clamp_sql("ends_at") + " AS ends_at"

# The latest event of each bucket, by start then id. _RECENT_EVENTS looks from $2 on: the
# partitions of older months are pruned when the plan starts (a few index probes per bucket,
# not one per month of history); last_events asks _LAST_EVENTS for the buckets it missed.
_LAST_EVENTS = f"""
SELECT b.pk, l.id, l.starts_at, l.ends_at, l.data
FROM unnest($1::uuid[]) AS b (pk)
CROSS JOIN LATERAL (
    SELECT id, {_STARTS}, {_ENDS}, data FROM usage_events
    WHERE bucket_pk = b.pk {{since}}
    ORDER BY usage_events.starts_at DESC, id DESC LIMIT 1
) AS l
"""  # noqa: S608 (constants only)
_RECENT_EVENTS = _LAST_EVENTS.format(since="AND usage_events.starts_at >= $2")
_LAST_EVENTS = _LAST_EVENTS.format(since="")

_SET_ENDS = """
UPDATE usage_events AS e SET ends_at = t.ends_at
FROM unnest($1::bigint[], $2::timestamptz[]) AS t (id, ends_at)
WHERE e.id = t.id
"""

_INSERT_EVENTS = """
INSERT INTO usage_events
    (bucket_pk, user_id, starts_at, ends_at, data, app, title, url, domain)
SELECT b, u, s, e, d::jsonb, a, t, l, m
FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[], $5::text[],
            $6::text[], $7::text[], $8::text[], $9::text[]) WITH ORDINALITY
    AS x (b, u, s, e, d, a, t, l, m, n)
ORDER BY n
RETURNING id
"""

_AROUND = """
SELECT
    (SELECT row(id, starts_at, ends_at, data::text) FROM usage_events
     WHERE bucket_pk = $1 AND starts_at <= $2 ORDER BY starts_at DESC, id DESC LIMIT 1),
    (SELECT min(starts_at) FROM usage_events WHERE bucket_pk = $1 AND starts_at > $2)
"""

# Each day's usage: the intervals of the report types overlapping the day, clipped to it; the
# union of all of them, and the union per key. The intervals are read from the partitions of
# the months of [$6, $7), the days' span, and from the crossing spans of earlier months (as
# _ACTIVITY_SPANS).
_REPORT = """
WITH days AS (
    SELECT * FROM unnest($2::date[], $3::timestamptz[], $4::timestamptz[]) AS d (day, ds, de)
),
clipped AS (
    SELECT days.day, e.{key} AS key,
           tstzrange(greatest(e.starts_at, days.ds), least(e.ends_at, days.de), '[)') AS r
    FROM days
    JOIN (
        SELECT * FROM usage_events
        WHERE user_id = $1 AND starts_at >= usage_month_start($6) AND starts_at < $7
          AND tstzrange(starts_at, ends_at, '[)') && tstzrange($6, $7, '[)')
        UNION ALL
        SELECT e.* FROM usage_event_crossings AS c
        JOIN usage_events AS e ON e.id = c.event_id AND e.starts_at = c.starts_at
        WHERE c.user_id = $1 AND c.starts_at < usage_month_start($6) AND c.ends_at > $6
    ) AS e
      ON tstzrange(e.starts_at, e.ends_at, '[)') && tstzrange(days.ds, days.de, '[)')
    JOIN usage_buckets AS b ON b.id = e.bucket_pk AND b.type = ANY($5::text[])
),
per_key AS (
    SELECT day, key, range_agg(r) AS spans FROM clipped WHERE key IS NOT NULL GROUP BY day, key
),
total AS (SELECT day, range_agg(r) AS spans FROM clipped GROUP BY day)
SELECT day, NULL AS key, (SELECT extract(epoch FROM sum(upper(s) - lower(s)))
                          FROM unnest(spans) AS s) AS seconds
FROM total
UNION ALL
SELECT day, key, (SELECT extract(epoch FROM sum(upper(s) - lower(s))) FROM unnest(spans) AS s)
FROM per_key
"""

REPORT_KEYS = {"app": "app", "domain": "domain", "title": "title"}


@dataclass(frozen=True)
class BucketRef:
    pk: uuid.UUID
    user_id: uuid.UUID
    name: str
    type: str


async def ensure_buckets(
    session: AsyncSession, wanted: Sequence[tuple[uuid.UUID, str, str, bool, str]]
) -> dict[tuple[uuid.UUID, str], BucketRef]:
    """The buckets (user, name), creating those flagged (with the given type and hostname) if
    missing."""
    driver = await driver_connection(session)
    found: dict[tuple[uuid.UUID, str], BucketRef] = {}
    for _ in range(2):
        todo = [w for w in wanted if (w[0], w[1]) not in found]
        rows = await driver.fetch(
            _ENSURE_BUCKETS,
            [w[0] for w in todo],
            [w[1] for w in todo],
            [w[2] for w in todo],
            [w[3] for w in todo],
            [w[4] for w in todo],
        )
        for r in rows:
            found[(r["user_id"], r["name"])] = BucketRef(
                r["id"], r["user_id"], r["name"], r["type"]
            )
        # A bucket another transaction created while this statement waited on it is not in
        # this statement's snapshot; the next statement sees it.
        if all((w[0], w[1]) in found for w in wanted if w[3]):
            break
    return found


async def lock_buckets(session: AsyncSession, bucket_pks: Sequence[uuid.UUID]) -> None:
    """Serialize writes per bucket until the transaction ends (in one order for everyone):
    merging reads the bucket's last event and must not interleave with another writer."""
    driver = await driver_connection(session)
    await driver.fetchval(_LOCK_BUCKETS, [f"usage:{pk}" for pk in sorted(set(bucket_pks))])


def _event(row_id: int, start: datetime, end: datetime, data: Any) -> Event:
    return Event(start, end, json.loads(data) if isinstance(data, str) else data, row_id)


async def last_events(
    session: AsyncSession, bucket_pks: Sequence[uuid.UUID], recent: datetime
) -> dict[uuid.UUID, Event]:
    """Each bucket's latest event (by start, then id), looked for from `recent` on first."""
    driver = await driver_connection(session)
    rows = list(await driver.fetch(_RECENT_EVENTS, list(bucket_pks), recent))
    older = set(bucket_pks) - {r["pk"] for r in rows}
    if older:
        rows += await driver.fetch(_LAST_EVENTS, list(older))
    return {r["pk"]: _event(r["id"], r["starts_at"], r["ends_at"], r["data"]) for r in rows}


async def set_ends(session: AsyncSession, events: Sequence[Event]) -> None:
    if not events:
        return
    driver = await driver_connection(session)
    await driver.execute(_SET_ENDS, [e.id for e in events], [e.end for e in events])


async def insert_events(session: AsyncSession, events: Sequence[tuple[BucketRef, Event]]) -> None:
    """Insert new events (their ids are set)."""
    if not events:
        return
    columns: list[list[Any]] = [[] for _ in range(9)]
    for bucket, event in events:
        app, title, url, domain = derived(event.data)
        values = [
            bucket.pk,
            bucket.user_id,
            event.start,
            event.end,
            json.dumps(event.data, separators=(",", ":")),
            app,
            title,
            url,
            domain,
        ]
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    driver = await driver_connection(session)
    rows = await driver.fetch(_INSERT_EVENTS, *columns)
    for (_, event), row in zip(events, rows, strict=True):
        event.id = row["id"]


_WINDOW = f"""
SELECT id, {_STARTS}, {_ENDS}, data FROM (
(SELECT id, starts_at, ends_at, data FROM usage_events
 WHERE bucket_pk = $1 AND ends_at >= $2 AND starts_at <= $3)
UNION
(SELECT id, starts_at, ends_at, data FROM usage_events
 WHERE bucket_pk = $1 AND starts_at <= $2 ORDER BY starts_at DESC, id DESC LIMIT 1)
UNION
(SELECT id, starts_at, ends_at, data FROM usage_events
 WHERE bucket_pk = $1 AND starts_at > $3 ORDER BY starts_at, id LIMIT 1)
) AS w
ORDER BY w.starts_at, id
"""  # noqa: S608 (constants only)


async def window(
    session: AsyncSession, bucket_pk: uuid.UUID, first: datetime, last: datetime
) -> list[Event]:
    """The bucket's events that reach into [first, last], with the one starting last at or
    before `first` and the first one starting after `last`; oldest first."""
    driver = await driver_connection(session)
    rows = await driver.fetch(_WINDOW, bucket_pk, first, last)
    return [_event(r["id"], r["starts_at"], r["ends_at"], r["data"]) for r in rows]


async def report(
    session: AsyncSession,
    user_id: uuid.UUID,
    days: Sequence[tuple[date, datetime, datetime]],
    key: str,
    types: Sequence[str],
) -> list[tuple[date, str | None, float]]:
    """(date, key, seconds) rows: key None is the day's total."""
    column = REPORT_KEYS[key]
    driver = await driver_connection(session)
    rows = await driver.fetch(
        _REPORT.format(key=column),
        user_id,
        [d[0] for d in days],
        [d[1] for d in days],
        [d[2] for d in days],
        list(types),
        min(d[1] for d in days),
        max(d[2] for d in days),
    )
    return [(r["day"], r["key"], float(r["seconds"] or 0)) for r in rows]


_MICROS = "(extract(epoch FROM {}) * 1000000)::int8"

# A user's events reaching into [$3, $4] (ends included, as aw-server selects a period's) of the
# given buckets, as microseconds since the epoch: one row per bucket, of arrays (a few objects
# for the garbage collector, where a row per event would be thousands). Zero-length events (a
# lone heartbeat) have an empty range, which overlaps nothing: the second branch finds them by
# bucket. The arrays keep the sorted subquery's order, as PostgreSQL documents for an aggregate
# over a sorted subquery with nothing (no join) in between; one sort, where `array_agg(...
# ORDER BY ...)` sorts once per aggregate before PostgreSQL 16.
# usage_events is partitioned by month of starts_at: the first branch reads the months from
# $3's to $4's only (the others pruned when the plan starts), and the events of earlier months
# that reach into the period, which all cross a month boundary, are found by their crossing
# spans (usage_event_crossings, docs/scaling.md).
_ACTIVITY_SPANS = f"""
SELECT bucket_pk, array_agg(s) AS s, array_agg(e) AS e, array_agg(data) AS data
FROM (
    SELECT bucket_pk, id, {_MICROS.format(clamp_sql("starts_at"))} AS s,
           {_MICROS.format(clamp_sql("ends_at"))} AS e, data::text AS data
    FROM usage_events
    WHERE user_id = $1 AND bucket_pk = ANY($2::uuid[])
      AND starts_at >= usage_month_start($3) AND starts_at <= $4
      AND tstzrange(starts_at, ends_at, '[)') && tstzrange($3, $4, '[]')
    UNION ALL
    SELECT e.bucket_pk, e.id, {_MICROS.format(clamp_sql("e.starts_at"))},
           {_MICROS.format(clamp_sql("e.ends_at"))}, e.data::text
    FROM usage_event_crossings AS c
    JOIN usage_events AS e ON e.id = c.event_id AND e.starts_at = c.starts_at
    WHERE c.user_id = $1 AND c.bucket_pk = ANY($2::uuid[])
      AND c.starts_at < usage_month_start($3)
      AND tstzrange(c.starts_at, c.ends_at, '[)') && tstzrange($3, $4, '[]')
    UNION ALL
    SELECT bucket_pk, id, {_MICROS.format(clamp_sql("starts_at"))},
           {_MICROS.format(clamp_sql("ends_at"))}, data::text
    FROM usage_events
    WHERE bucket_pk = ANY($2::uuid[]) AND starts_at = ends_at AND starts_at BETWEEN $3 AND $4
    ORDER BY bucket_pk, s DESC, id DESC
) AS spans
GROUP BY bucket_pk
"""  # noqa: S608 (constants only)


@dataclass(frozen=True)
class ActivityBucket:
    pk: uuid.UUID
    name: str
    type: str
    hostname: str


async def activity_buckets(
    session: AsyncSession, user_id: uuid.UUID, types: Sequence[str]
) -> list[ActivityBucket]:
    """The user's buckets of those types, by name."""
    driver = await driver_connection(session)
    rows = await driver.fetch(
        "SELECT id, name, type, hostname FROM usage_buckets"
        " WHERE user_id = $1 AND type = ANY($2::text[]) ORDER BY name",
        user_id,
        list(types),
    )
    return [ActivityBucket(r["id"], r["name"], r["type"], r["hostname"]) for r in rows]


async def activity_rows(
    session: AsyncSession,
    user_id: uuid.UUID,
    bucket_pks: Sequence[uuid.UUID],
    first: datetime,
    last: datetime,
) -> list[Any]:
    """The buckets' events reaching into [first, last]: a row per bucket, of arrays of starts,
    ends and data, newest first as aw-server lists them (the order flood keeps among events
    that tie on start and duration); activity_spans reads them."""
    driver = await driver_connection(session)
    return list(await driver.fetch(_ACTIVITY_SPANS, user_id, list(bucket_pks), first, last))


def activity_spans(rows: Sequence[Any]) -> dict[uuid.UUID, list[list[Any]]]:
    """activity_rows per bucket as `[start_us, end_us, data]` (activity.Span), in their order.
    Each distinct data is decoded once and shared by its events."""
    decoded: dict[str, Any] = {}
    spans: dict[uuid.UUID, list[list[Any]]] = {}
    for pk, starts, ends, texts in rows:
        found = spans[pk] = []
        for s, e, text in zip(starts, ends, texts, strict=True):
            data = decoded.get(text)
            if data is None:
                data = decoded[text] = json.loads(text)
            found.append([s, e, data])
    return spans


async def buckets_of(session: AsyncSession, user_id: uuid.UUID) -> Sequence[UsageBucket]:
    result = await session.execute(
        select(UsageBucket).where(UsageBucket.user_id == user_id).order_by(UsageBucket.name)
    )
    return result.scalars().all()


async def bucket(session: AsyncSession, user_id: uuid.UUID, name: str) -> UsageBucket | None:
    result = await session.execute(
        select(UsageBucket).where(UsageBucket.user_id == user_id, UsageBucket.name == name)
    )
    return result.scalar_one_or_none()


async def create_bucket(
    session: AsyncSession, user_id: uuid.UUID, name: str, type_: str, client: str, hostname: str
) -> bool:
    """Create the bucket unless it exists; whether it was created."""
    driver = await driver_connection(session)
    created = await driver.fetchval(
        "INSERT INTO usage_buckets (id, user_id, name, type, client, hostname)"
        " VALUES (gen_random_uuid(), $1, $2, $3, $4, $5)"
        " ON CONFLICT (user_id, name) DO NOTHING RETURNING id",
        user_id,
        name,
        type_,
        client,
        hostname,
    )
    return created is not None


async def delete_bucket(session: AsyncSession, user_id: uuid.UUID, name: str) -> bool:
    result = await session.execute(
        delete(UsageBucket)
        .where(UsageBucket.user_id == user_id, UsageBucket.name == name)
        .returning(UsageBucket.id)
    )
    return result.first() is not None


_EVENTS = f"""
SELECT bucket_pk, id, {_STARTS}, {_ENDS}, data FROM usage_events
WHERE bucket_pk = ANY($1::uuid[])
  AND ($2::timestamptz IS NULL OR usage_events.ends_at >= $2)
  AND ($3::timestamptz IS NULL OR usage_events.starts_at <= $3)
  AND ($4::timestamptz IS NULL OR (usage_events.starts_at, id) < ($4, $5::bigint))
ORDER BY usage_events.starts_at DESC, id DESC
LIMIT $6
"""  # noqa: S608 (constants only)


async def events(
    session: AsyncSession,
    bucket_pks: Sequence[uuid.UUID],
    start: datetime | None,
    end: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int | None,
) -> list[tuple[uuid.UUID, Event]]:
    """Events of the buckets overlapping [start, end], newest first, after the (starts_at, id)
    position."""
    driver = await driver_connection(session)
    rows = await driver.fetch(
        _EVENTS,
        list(bucket_pks),
        start,
        end,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [
        (r["bucket_pk"], _event(r["id"], r["starts_at"], r["ends_at"], r["data"])) for r in rows
    ]


async def delete_event(session: AsyncSession, bucket_pk: uuid.UUID, event_id: int) -> bool:
    driver = await driver_connection(session)
    found = await driver.fetchval(
        "DELETE FROM usage_events WHERE bucket_pk = $1 AND id = $2 RETURNING id",
        bucket_pk,
        event_id,
    )
    return found is not None


# Imports: events are copied (COPY, binary) into a staging table of the transaction a batch at a
# time, and each batch is inserted while the next one is parsed. An event's identity is (bucket,
# start, end, data): one already in its bucket (inserted before, or by an earlier batch), or
# repeated in the batch, is inserted once. Data are compared by the md5 of their jsonb text
# (canonical: keys sorted, no duplicates), which hashes and sorts far faster than jsonb; existing
# events are looked up only within the span of the batch's events of each bucket (the
# bucket_recent index).
IMPORT_COLUMNS = ("slot", "n", "starts_at", "ends_at", "data", "app", "title", "url", "domain")

_CREATE_STAGING = """
CREATE TEMPORARY TABLE usage_import (
    slot integer NOT NULL, n bigint NOT NULL, starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL, data jsonb NOT NULL,
    app text, title text, url text, domain text
) ON COMMIT DROP
"""

# A batch's sorts and hashes stay in memory rather than spill.
_IMPORT_WORK_MEM = "SET LOCAL work_mem = '256MB'"

# Rows are inserted in (bucket, start) order, which keeps the GiST (exclusion) and btree
# insertions local; events of one instant keep the document's order (batches are
# inserted in document order), so a bucket's list (newest first, then by id) is the one
# POST .../events gives.
_IMPORT = """
WITH map AS (SELECT * FROM unnest($1::int[], $2::uuid[]) AS m (slot, pk)),
staged AS (
    SELECT m.pk, i.n, i.starts_at, i.ends_at, i.data, i.app, i.title, i.url, i.domain,
           md5(i.data::text) AS h
    FROM usage_import AS i JOIN map AS m ON m.slot = i.slot
),
distinct_events AS (
    SELECT DISTINCT ON (pk, starts_at, ends_at, h) *
    FROM staged
    ORDER BY pk, starts_at, ends_at, h, n
),
spans AS (SELECT pk, min(starts_at) AS lo, max(starts_at) AS hi FROM staged GROUP BY pk),
existing AS (
    SELECT s.pk, e.starts_at, e.ends_at, md5(e.data::text) AS h
    FROM spans AS s CROSS JOIN LATERAL (
        SELECT * FROM usage_events AS e
        WHERE e.bucket_pk = s.pk AND e.starts_at >= s.lo AND e.starts_at <= s.hi
        OFFSET 0
    ) AS e
)
INSERT INTO usage_events (bucket_pk, user_id, starts_at, ends_at, data, app, title, url, domain)
SELECT d.pk, $3, d.starts_at, d.ends_at, d.data, d.app, d.title, d.url, d.domain
FROM distinct_events AS d
WHERE NOT EXISTS (
    SELECT 1 FROM existing AS x
    WHERE x.pk = d.pk AND x.starts_at = d.starts_at AND x.ends_at = d.ends_at AND x.h = d.h
)
ORDER BY d.pk, d.starts_at, d.n
"""


async def create_staging(session: AsyncSession) -> None:
    """The transaction's staging table of imported events (IMPORT_COLUMNS)."""
    driver = await driver_connection(session)
    await driver.execute(_CREATE_STAGING)
    await driver.execute(_IMPORT_WORK_MEM)


async def stage_events(session: AsyncSession, records: Sequence[tuple[Any, ...]]) -> None:
    """Copy (IMPORT_COLUMNS) records into the staging table."""
    driver = await driver_connection(session)
    await driver.copy_records_to_table("usage_import", records=records, columns=IMPORT_COLUMNS)
    # Its size and its slots, for the insert's plan (without them it expects a few rows, and
    # compares every staged event with every existing one of its bucket). Only `slot`: the
    # statistics of its jsonb and text columns would cost five times as much, for nothing.
    await driver.execute("ANALYZE usage_import (slot)")


async def insert_staged(
    session: AsyncSession, user_id: uuid.UUID, slots: dict[int, uuid.UUID]
) -> int:
    """Insert the staged events of these slots (slot -> bucket) that are new to their buckets;
    how many. One statement: it is sent at once, and runs while the caller parses on."""
    driver = await driver_connection(session)
    status = await driver.execute(_IMPORT, list(slots), list(slots.values()), user_id)
    return int(status.rsplit(" ", 1)[1])


async def clear_staged(session: AsyncSession, slots: Sequence[int] | None) -> None:
    """Remove these slots' rows from the staging table (None: all of them)."""
    driver = await driver_connection(session)
    if slots is None:
        await driver.execute("TRUNCATE usage_import")
    else:
        await driver.execute("DELETE FROM usage_import WHERE slot = ANY($1::int[])", slots)


async def create_imported_bucket(
    session: AsyncSession,
    user_id: uuid.UUID,
    name: str,
    fields: tuple[str, str, str, datetime | None],
) -> tuple[uuid.UUID, bool]:
    """The user's bucket of this name, and whether it was created here, with the given (type,
    client, hostname, created); an existing bucket keeps its own fields."""
    driver = await driver_connection(session)
    made = await driver.fetchval(
        "INSERT INTO usage_buckets (id, user_id, name, type, client, hostname, created_at)"
        " VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, coalesce($6, now()))"
        " ON CONFLICT (user_id, name) DO NOTHING RETURNING id",
        user_id,
        name,
        *fields,
    )
    if made is not None:
        return made, True
    # A new statement: it sees the bucket whose insert this one's conflict waited on.
    found = await driver.fetchval(
        "SELECT id FROM usage_buckets WHERE user_id = $1 AND name = $2", user_id, name
    )
    return found, False


async def set_imported_bucket(
    session: AsyncSession, bucket_pk: uuid.UUID, fields: tuple[str, str, str, datetime | None]
) -> None:
    """Give a bucket the import created (type, client, hostname, created)."""
    driver = await driver_connection(session)
    await driver.execute(
        "UPDATE usage_buckets SET type = $2, client = $3, hostname = $4,"
        " created_at = coalesce($5, now()) WHERE id = $1",
        bucket_pk,
        *fields,
    )


async def count_events(
    session: AsyncSession, bucket_pk: uuid.UUID, start: datetime | None, end: datetime | None
) -> int:
    """How many of the bucket's events overlap [start, end] (as `events` selects them)."""
    driver = await driver_connection(session)
    found: int = await driver.fetchval(
        "SELECT count(*) FROM usage_events WHERE bucket_pk = $1"
        " AND ($2::timestamptz IS NULL OR ends_at >= $2)"
        " AND ($3::timestamptz IS NULL OR starts_at <= $3)",
        bucket_pk,
        start,
        end,
    )
    return found


# Category rules. Seeding and every change of a user's rules first lock the user's seed row,
# so the rule cap holds under concurrent writes.

_CATEGORY_COLUMNS = "id, name, rule_type, regex, ignore_case"


@dataclass(frozen=True)
class CategoryRow:
    id: int
    name: list[str]
    rule_type: str
    regex: str | None
    ignore_case: bool


def _category(row: Any) -> CategoryRow:
    return CategoryRow(
        row["id"], list(row["name"]), row["rule_type"], row["regex"], row["ignore_case"]
    )


async def categories(session: AsyncSession, user_id: uuid.UUID) -> tuple[bool, list[CategoryRow]]:
    """Whether the user was given the default rules, and the user's rules in creation order."""
    driver = await driver_connection(session)
    rows = await driver.fetch(
        f"SELECT {_CATEGORY_COLUMNS}, true AS seeded FROM usage_categories"  # noqa: S608
        " WHERE user_id = $1"
        " UNION ALL"
        " SELECT NULL, NULL, NULL, NULL, NULL, true FROM usage_category_seeds WHERE user_id = $1"
        " ORDER BY 1",
        user_id,
    )
    return bool(rows), [_category(r) for r in rows if r["id"] is not None]


async def seed_categories(
    session: AsyncSession, user_id: uuid.UUID, rules: Sequence[tuple[list[str], str | None, bool]]
) -> None:
    """Give the user these rules unless the user was given rules before; then lock the
    user's rules until the transaction ends."""
    driver = await driver_connection(session)
    fresh = await driver.fetchval(
        "INSERT INTO usage_category_seeds (user_id) VALUES ($1)"
        " ON CONFLICT (user_id) DO NOTHING RETURNING true",
        user_id,
    )
    if fresh:
        await driver.executemany(
            "INSERT INTO usage_categories (user_id, name, rule_type, regex, ignore_case)"
            " VALUES ($1, $2, $3, $4, $5)",
            [(user_id, n, "none" if r is None else "regex", r, i) for n, r, i in rules],
        )
    await driver.execute(
        "SELECT 1 FROM usage_category_seeds WHERE user_id = $1 FOR UPDATE", user_id
    )


async def count_categories(session: AsyncSession, user_id: uuid.UUID) -> int:
    driver = await driver_connection(session)
    count: int = await driver.fetchval(
        "SELECT count(*) FROM usage_categories WHERE user_id = $1", user_id
    )
    return count


async def insert_category(
    session: AsyncSession,
    user_id: uuid.UUID,
    name: list[str],
    rule_type: str,
    regex: str | None,
    ignore_case: bool,
) -> CategoryRow:
    driver = await driver_connection(session)
    row = await driver.fetchrow(
        "INSERT INTO usage_categories (user_id, name, rule_type, regex, ignore_case)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id, name, rule_type, regex, ignore_case",
        user_id,
        name,
        rule_type,
        regex,
        ignore_case,
    )
    return _category(row)


async def update_category(
    session: AsyncSession,
    user_id: uuid.UUID,
    category_id: int,
    name: list[str],
    rule_type: str,
    regex: str | None,
    ignore_case: bool,
) -> CategoryRow | None:
    driver = await driver_connection(session)
    row = await driver.fetchrow(
        "UPDATE usage_categories SET name = $3, rule_type = $4, regex = $5, ignore_case = $6"
        " WHERE user_id = $1 AND id = $2 RETURNING id, name, rule_type, regex, ignore_case",
        user_id,
        category_id,
        name,
        rule_type,
        regex,
        ignore_case,
    )
    return None if row is None else _category(row)


async def delete_category(session: AsyncSession, user_id: uuid.UUID, category_id: int) -> bool:
    driver = await driver_connection(session)
    found = await driver.fetchval(
        "DELETE FROM usage_categories WHERE user_id = $1 AND id = $2 RETURNING id",
        user_id,
        category_id,
    )
    return found is not None


# The events of each day, clipped to it, as columns in order of their starts (arrays: no row
# objects). The buckets are looked up once, not per event.
_DAY_EVENTS = """
WITH days AS (
    SELECT * FROM unnest($2::date[], $3::timestamptz[], $4::timestamptz[]) AS d (day, ds, de)
),
clipped AS (
    SELECT days.day, greatest(e.starts_at, days.ds) AS s, least(e.ends_at, days.de) AS e,
           e.data
    FROM days
    JOIN usage_events AS e
      ON e.user_id = $1
     AND tstzrange(e.starts_at, e.ends_at, '[)') && tstzrange(days.ds, days.de, '[)')
    WHERE e.bucket_pk = ANY(
        ARRAY(SELECT id FROM usage_buckets WHERE user_id = $1 AND type = ANY($5::text[]))
    )
)
SELECT day,
       array_agg(extract(epoch FROM s)::float8 ORDER BY s) AS starts,
       array_agg(extract(epoch FROM e)::float8 ORDER BY s) AS ends,
       array_agg(data::text ORDER BY s) AS data
FROM clipped
GROUP BY day
"""


async def day_events(
    session: AsyncSession,
    user_id: uuid.UUID,
    days: Sequence[tuple[date, datetime, datetime]],
    types: Sequence[str],
) -> dict[date, tuple[list[float], list[float], list[dict[str, Any]]]]:
    """Per day with events of the buckets of these types: their starts and ends (epoch
    seconds, clipped to the day) and data, in order of their starts; equal data are one
    shared (read-only) dict."""
    driver = await driver_connection(session)
    rows = await driver.fetch(
        _DAY_EVENTS,
        user_id,
        [d[0] for d in days],
        [d[1] for d in days],
        [d[2] for d in days],
        list(types),
    )
    parsed: dict[str, dict[str, Any]] = {}
    out = {}
    for row in rows:
        data = []
        for text in row["data"]:
            value = parsed.get(text)
            if value is None:
                value = parsed[text] = json.loads(text)
            data.append(value)
        out[row["day"]] = (row["starts"], row["ends"], data)
    return out


# A day's timeline: the window and AFK status events of the user's buckets of those types
# reaching into [$3, $4), clipped to it, with the bucket's host. Per kind (window or AFK), the
# longest $6 are kept, ranked on narrow rows (their text is read for the kept ones only), and
# each kind's count is given beside every row. Zero-length events (an unmerged heartbeat)
# cover nothing and are left out, as are AFK events of another status.
_TIMELINE = """
WITH buckets AS (
    SELECT id, hostname, type = $5 AS afk FROM usage_buckets
    WHERE user_id = $1 AND type = ANY($2::text[])
),
spans AS (
    SELECT e.id, b.hostname, b.afk, greatest(e.starts_at, $3) AS s, least(e.ends_at, $4) AS e
    FROM usage_events AS e JOIN buckets AS b ON b.id = e.bucket_pk
    WHERE e.user_id = $1
      AND tstzrange(e.starts_at, e.ends_at, '[)') && tstzrange($3, $4, '[)')
      AND (NOT b.afk OR e.data->>'status' IN ('afk', 'not-afk'))
),
totals AS MATERIALIZED (
    SELECT count(*) FILTER (WHERE NOT afk) AS windows, count(*) FILTER (WHERE afk) AS afk
    FROM spans
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY afk ORDER BY e - s DESC, s, hostname, id) AS n
    FROM spans
)
SELECT r.hostname, r.afk, r.s, r.e,
       CASE WHEN r.afk THEN ev.data->>'status' ELSE left(ev.app, 512) END AS label,
       CASE WHEN r.afk THEN NULL ELSE left(ev.title, $7) END AS title,
       t.windows, t.afk AS afk_total
FROM ranked AS r JOIN usage_events AS ev ON ev.id = r.id CROSS JOIN totals AS t
WHERE r.n <= $6
ORDER BY r.hostname, r.afk, r.s
"""


@dataclass(frozen=True)
class TimelineSpan:
    host: str
    afk: bool
    start: datetime
    end: datetime
    label: str | None  # a window's app, or an AFK period's status
    title: str | None


async def timeline(
    session: AsyncSession,
    user_id: uuid.UUID,
    window_types: Sequence[str],
    afk_type: str,
    start: datetime,
    end: datetime,
    limit: int,
    title_max: int,
) -> tuple[list[TimelineSpan], int, int]:
    """The spans (by host, then kind, then start) and how many window and AFK spans there are
    in all; at most `limit` of each kind, the longest."""
    driver = await driver_connection(session)
    rows = await driver.fetch(
        _TIMELINE,
        user_id,
        [*window_types, afk_type],
        start,
        end,
        afk_type,
        limit,
        title_max,
    )
    spans = [
        TimelineSpan(r["hostname"], r["afk"], r["s"], r["e"], r["label"], r["title"]) for r in rows
    ]
    if not rows:
        return spans, 0, 0
    return spans, int(rows[0]["windows"]), int(rows[0]["afk_total"])


# An account's export and import (usage.portability, category_rules): rows in the order of their
# records' fields (usage.schemas), through a cursor.

EVENT_COLUMNS = (
    "bucket_pk",
    "user_id",
    "starts_at",
    "ends_at",
    "data",
    "app",
    "title",
    "url",
    "domain",
)


def bucket_rows(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """The user's buckets by name, as BucketRecord's fields."""
    return stream_rows(
        session,
        "SELECT name, type, client, hostname, created_at FROM usage_buckets"
        " WHERE user_id = $1 ORDER BY name",
        user_id,
    )


def interval_rows(
    session: AsyncSession, bucket_pk: uuid.UUID, bucket_name: str, batch: int
) -> AsyncIterator[list[Any]]:
    """A bucket's intervals, earliest first, as IntervalRecord's fields (data as JSON text)."""
    return stream_rows(
        session,
        f"SELECT $2::text, {_STARTS}, {_ENDS}, data::text FROM usage_events"  # noqa: S608
        " WHERE bucket_pk = $1 ORDER BY usage_events.starts_at, id",
        bucket_pk,
        bucket_name,
        batch=batch,
    )


async def has_buckets(session: AsyncSession, user_id: uuid.UUID) -> bool:
    driver = await driver_connection(session)
    found = await driver.fetchval("SELECT 1 FROM usage_buckets WHERE user_id = $1 LIMIT 1", user_id)
    return found is not None


async def has_intervals(session: AsyncSession, user_id: uuid.UUID) -> bool:
    driver = await driver_connection(session)
    found = await driver.fetchval(
        "SELECT 1 FROM usage_buckets AS b"
        " WHERE b.user_id = $1 AND EXISTS (SELECT 1 FROM usage_events WHERE bucket_pk = b.id)"
        " LIMIT 1",
        user_id,
    )
    return found is not None


async def buckets_named(
    session: AsyncSession, user_id: uuid.UUID, names: Sequence[str]
) -> dict[str, BucketRef]:
    driver = await driver_connection(session)
    rows = await driver.fetch(
        "SELECT id, name, type FROM usage_buckets WHERE user_id = $1 AND name = ANY($2::text[])",
        user_id,
        list(names),
    )
    return {r["name"]: BucketRef(r["id"], user_id, r["name"], r["type"]) for r in rows}


async def copy_events(session: AsyncSession, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert events, (EVENT_COLUMNS) rows, as they are, by COPY."""
    driver = await driver_connection(session)
    await driver.copy_records_to_table("usage_events", records=rows, columns=EVENT_COLUMNS)


def category_rows(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """The user's category rules in creation order, as CategoryIn's fields (the rule as JSON
    text)."""
    return stream_rows(
        session,
        "SELECT name, jsonb_build_object('type', rule_type, 'regex', regex,"
        " 'ignore_case', ignore_case)::text FROM usage_categories WHERE user_id = $1 ORDER BY id",
        user_id,
    )


async def replace_categories(
    session: AsyncSession, user_id: uuid.UUID, rules: Sequence[tuple[list[str], str | None, bool]]
) -> None:
    """Mark the user's rules as given (the defaults no longer apply), and replace them."""
    driver = await driver_connection(session)
    await driver.execute(
        "INSERT INTO usage_category_seeds (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING",
        user_id,
    )
    await driver.execute(
        "SELECT 1 FROM usage_category_seeds WHERE user_id = $1 FOR UPDATE", user_id
    )
    await driver.execute("DELETE FROM usage_categories WHERE user_id = $1", user_id)
    await driver.executemany(
        "INSERT INTO usage_categories (user_id, name, rule_type, regex, ignore_case)"
        " VALUES ($1, $2, $3, $4, $5)",
        [(user_id, n, "none" if r is None else "regex", r, i) for n, r, i in rules],
    )


# Retention (usage.service.keep_partitions): events of the months before a cutoff go, whole
# partitions dropped by the caller; these are the rows the drop does not reach.


async def forget_crossings_before(session: AsyncSession, before: datetime) -> None:
    """The crossing spans of events starting before `before` (their partitions are about to
    be dropped, which runs no trigger)."""
    driver = await driver_connection(session)
    await driver.execute("DELETE FROM usage_event_crossings WHERE starts_at < $1", before)


async def delete_events_before(session: AsyncSession, before: datetime) -> int:
    """Delete the events starting before `before` that are left (in the default partition)."""
    driver = await driver_connection(session)
    status = await driver.execute("DELETE FROM usage_events WHERE starts_at < $1", before)
    return int(status.rsplit(" ", 1)[1])
