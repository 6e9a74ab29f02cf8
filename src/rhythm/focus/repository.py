"""Every SQL statement of the focus context."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.focus.models import FocusSession, FocusStreak
from rhythm.focus.streaks import Anchor
from rhythm.platform.database import driver_connection, stream_rows
from rhythm.platform.timeutil import DayPart

# Session changes are sent straight to asyncpg (platform.database.driver_connection): focus
# writes are the hottest write path, and SQLAlchemy's per-statement work was a third of their
# CPU. Writes come in batches (recording.SessionWriter), so every statement takes arrays.

_LOCK_USERS = """
SELECT count(pg_advisory_xact_lock(k))
FROM (SELECT hashtextextended(x, 0) AS k FROM unnest($1::text[]) AS x ORDER BY 1) AS o
"""

_INSERT_SESSIONS = """
WITH s AS (
    INSERT INTO focus_sessions (id, user_id, session_id, started_at, ended_at, timezone, response)
    SELECT id, u, sid, st, en, tz, ''
    FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[],
                $6::text[]) AS t (id, u, sid, st, en, tz)
    ON CONFLICT (user_id, session_id) DO NOTHING
    RETURNING id, created_at
),
p AS (
    INSERT INTO focus_session_parts (session_pk, day, user_id, started_at, ended_at)
    SELECT t.pk, t.d, t.u, t.ps, t.pe
    FROM unnest($7::uuid[], $8::date[], $9::uuid[], $10::timestamptz[], $11::timestamptz[])
        AS t (pk, d, u, ps, pe)
    JOIN s ON s.id = t.pk
)
SELECT id, created_at FROM s
"""

_SESSIONS_BY_KEYS = """
SELECT s.user_id, s.session_id, s.started_at, s.ended_at, s.timezone, s.response
FROM focus_sessions AS s
JOIN unnest($1::uuid[], $2::text[]) AS k (u, sid) ON s.user_id = k.u AND s.session_id = k.sid
"""

_DELETE_SESSION = """
WITH s AS (DELETE FROM focus_sessions WHERE user_id = $1 AND session_id = $2 RETURNING id)
SELECT s.id, p.day FROM s LEFT JOIN focus_session_parts AS p ON p.session_pk = s.id
"""

# Each touched (user, date) set to the union of its parts (overlapping sessions count once),
# or dropped when no part is left on it; then every daily total of the users given.
_RECOMPUTE_DAYS = """
WITH touched AS (SELECT DISTINCT u, d FROM unnest($1::uuid[], $2::date[]) AS t (u, d)),
totals AS (
    SELECT user_id, day, (SELECT sum(upper(r) - lower(r)) FROM unnest(spans) AS r) AS span
    FROM (
        SELECT p.user_id, p.day, range_agg(tstzrange(p.started_at, p.ended_at)) AS spans
        FROM focus_session_parts AS p
        JOIN touched ON p.user_id = touched.u AND p.day = touched.d
        GROUP BY p.user_id, p.day
    ) AS agg
),
gone AS (
    DELETE FROM focus_days AS f USING touched
    WHERE f.user_id = touched.u AND f.day = touched.d
      AND NOT EXISTS (SELECT 1 FROM totals AS t WHERE t.user_id = f.user_id AND t.day = f.day)
),
up AS (
    INSERT INTO focus_days (user_id, day, micros)
    SELECT user_id, day, (extract(epoch FROM span) * 1000000)::bigint FROM totals
    ON CONFLICT (user_id, day) DO UPDATE SET micros = excluded.micros
    RETURNING user_id, day, micros
)
SELECT user_id, day, micros FROM up
UNION ALL
SELECT f.user_id, f.day, f.micros FROM focus_days AS f
WHERE f.user_id = ANY($3::uuid[])
  AND NOT EXISTS (SELECT 1 FROM touched WHERE touched.u = f.user_id AND touched.d = f.day)
ORDER BY 1, 2
"""

_SAVE_ANCHORS = """
WITH r AS (
    UPDATE focus_sessions AS s SET response = t.body
    FROM unnest($8::uuid[], $9::text[]) AS t (id, body) WHERE s.id = t.id
)
INSERT INTO focus_streaks AS f
    (user_id, last_qualified, run, freezes, longest, qualified_days, threshold_minutes, version)
SELECT u, l, r, fr, lo, n, $7, 1
FROM unnest($1::uuid[], $2::date[], $3::int[], $4::int[], $5::int[], $6::int[])
    AS t (u, l, r, fr, lo, n)
ON CONFLICT (user_id) DO UPDATE SET
    last_qualified = excluded.last_qualified, run = excluded.run, freezes = excluded.freezes,
    longest = excluded.longest, qualified_days = excluded.qualified_days,
    threshold_minutes = excluded.threshold_minutes, version = f.version + 1
RETURNING user_id, version
"""


@dataclass(frozen=True)
class NewSession:
    pk: uuid.UUID
    user_id: uuid.UUID
    session_id: str
    started_at: datetime
    ended_at: datetime
    timezone: str
    parts: Sequence[DayPart]


@dataclass(frozen=True)
class StoredSession:
    started_at: datetime
    ended_at: datetime
    timezone: str
    response: str


async def lock_users(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> None:
    """Take each user's focus lock until the transaction ends, in one order for everyone.

    The lock serializes a user's focus writes: dates' unions and the streak are recalculated by
    the statements that follow, whose snapshots are taken after it, so they see everything the
    previous writer committed.
    """
    driver = await driver_connection(session)
    await driver.fetchval(_LOCK_USERS, [f"focus:{u}" for u in sorted(set(user_ids))])


async def insert_sessions(
    session: AsyncSession, sessions: Sequence[NewSession]
) -> dict[uuid.UUID, datetime]:
    """Insert sessions and their parts; created_at by primary key of those inserted (a user's
    session_id already taken is skipped)."""
    parts = [(s.pk, s.user_id, p) for s in sessions for p in s.parts]
    driver = await driver_connection(session)
    rows = await driver.fetch(
        _INSERT_SESSIONS,
        [s.pk for s in sessions],
        [s.user_id for s in sessions],
        [s.session_id for s in sessions],
        [s.started_at for s in sessions],
        [s.ended_at for s in sessions],
        [s.timezone for s in sessions],
        [pk for pk, _, _ in parts],
        [p.day for _, _, p in parts],
        [u for _, u, _ in parts],
        [p.start for _, _, p in parts],
        [p.end for _, _, p in parts],
    )
    return {row["id"]: row["created_at"] for row in rows}


async def sessions_by_keys(
    session: AsyncSession, keys: Sequence[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], StoredSession]:
    driver = await driver_connection(session)
    rows = await driver.fetch(_SESSIONS_BY_KEYS, [u for u, _ in keys], [sid for _, sid in keys])
    return {
        (row["user_id"], row["session_id"]): StoredSession(
            row["started_at"], row["ended_at"], row["timezone"], row["response"]
        )
        for row in rows
    }


async def delete_session(
    session: AsyncSession, user_id: uuid.UUID, session_id: str
) -> list[date] | None:
    """Delete a session (the caller holds the user's lock); the dates its parts covered, or
    None when the user has no such session."""
    driver = await driver_connection(session)
    rows = await driver.fetch(_DELETE_SESSION, user_id, session_id)
    if not rows:
        return None
    return [row["day"] for row in rows if row["day"] is not None]


async def recompute_days(
    session: AsyncSession, touched: Sequence[tuple[uuid.UUID, date]], user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[date, int]]]:
    """Set each touched (user, date) to the union of the user's parts on it and drop the dates
    no part covers any more; returns all daily totals of `user_ids` after that, oldest first,
    as (date, microseconds)."""
    driver = await driver_connection(session)
    rows = await driver.fetch(
        _RECOMPUTE_DAYS, [u for u, _ in touched], [d for _, d in touched], list(user_ids)
    )
    found: dict[uuid.UUID, list[tuple[date, int]]] = {u: [] for u in user_ids}
    for row in rows:
        found[row["user_id"]].append((row["day"], row["micros"]))
    return found


async def save_anchors(
    session: AsyncSession,
    anchors: dict[uuid.UUID, Anchor],
    threshold_minutes: int,
    responses: Sequence[tuple[uuid.UUID, str]] = (),
) -> dict[uuid.UUID, int]:
    """Upsert streak anchors, and store new sessions' responses (primary key, body) with them;
    returns each anchor's new version."""
    users = list(anchors)
    driver = await driver_connection(session)
    rows = await driver.fetch(
        _SAVE_ANCHORS,
        users,
        [anchors[u].last_qualified for u in users],
        [anchors[u].run for u in users],
        [anchors[u].freezes for u in users],
        [anchors[u].longest for u in users],
        [anchors[u].qualified_days for u in users],
        threshold_minutes,
        [pk for pk, _ in responses],
        [body for _, body in responses],
    )
    return {row["user_id"]: int(row["version"]) for row in rows}


async def day_totals(
    session: AsyncSession, user_id: uuid.UUID, start: date | None = None, end: date | None = None
) -> list[tuple[date, int]]:
    """(date, microseconds) of the user's focused dates, oldest first, optionally within
    [start, end]."""
    result = await session.execute(
        text(
            "SELECT day, micros FROM focus_days WHERE user_id = :u"
            " AND (CAST(:start AS date) IS NULL OR day >= :start)"
            " AND (CAST(:end AS date) IS NULL OR day <= :end) ORDER BY day"
        ),
        {"u": user_id, "start": start, "end": end},
    )
    return [(row.day, row.micros) for row in result]


async def qualified_dates(
    session: AsyncSession, user_ids: Sequence[uuid.UUID], min_micros: int
) -> dict[uuid.UUID, list[date]]:
    result = await session.execute(
        text(
            "SELECT user_id, day FROM focus_days WHERE user_id = ANY(:u) AND micros >= :m"
            " ORDER BY user_id, day"
        ),
        {"u": list(user_ids), "m": min_micros},
    )
    found: dict[uuid.UUID, list[date]] = {}
    for row in result:
        found.setdefault(row.user_id, []).append(row.day)
    return found


async def anchors(
    session: AsyncSession, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, FocusStreak]:
    result = await session.execute(select(FocusStreak).where(FocusStreak.user_id.in_(user_ids)))
    return {row.user_id: row for row in result.scalars()}


async def recent_days(
    session: AsyncSession, user_ids: Sequence[uuid.UUID], since: date
) -> dict[uuid.UUID, list[tuple[date, int]]]:
    result = await session.execute(
        text(
            "SELECT user_id, day, micros FROM focus_days WHERE user_id = ANY(:u) AND day >= :since"
            " ORDER BY user_id, day"
        ),
        {"u": list(user_ids), "since": since},
    )
    found: dict[uuid.UUID, list[tuple[date, int]]] = {}
    for row in result:
        found.setdefault(row.user_id, []).append((row.day, row.micros))
    return found


async def list_sessions(
    session: AsyncSession,
    user_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[FocusSession]:
    stmt = select(FocusSession).where(FocusSession.user_id == user_id)
    if after is not None:
        started, pk = after
        stmt = stmt.where(
            (FocusSession.started_at < started)
            | ((FocusSession.started_at == started) & (FocusSession.id < pk))
        )
    stmt = stmt.order_by(FocusSession.started_at.desc(), FocusSession.id.desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()


def session_rows(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """The user's sessions, earliest first, as schemas.FocusSessionIn's fields."""
    return stream_rows(
        session,
        "SELECT session_id, started_at, ended_at, timezone FROM focus_sessions"
        " WHERE user_id = $1 ORDER BY started_at, id",
        user_id,
    )


async def has_sessions(session: AsyncSession, user_id: uuid.UUID) -> bool:
    result = await session.execute(
        select(FocusSession.id).where(FocusSession.user_id == user_id).limit(1)
    )
    return result.first() is not None
