"""Every SQL statement of the focus context."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.db import driver_connection
from rhythm.focus.models import FocusSession, FocusStreak
from rhythm.focus.streaks import Anchor
from rhythm.timeutil import DayPart

# A session change is three statements sent straight to asyncpg (db.driver_connection): the
# focus write is the hottest write path, and SQLAlchemy's per-statement work was a third of it.

_INSERT_SESSION = """
WITH l AS (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))),
s AS (
    INSERT INTO focus_sessions (id, user_id, session_id, started_at, ended_at, timezone, response)
    SELECT $2, $3, $4, $5, $6, $7, '' FROM l
    ON CONFLICT (user_id, session_id) DO NOTHING
    RETURNING id, created_at
),
p AS (
    INSERT INTO focus_session_parts (session_pk, day, user_id, started_at, ended_at)
    SELECT s.id, d, $3, ps, pe
    FROM s, unnest($8::date[], $9::timestamptz[], $10::timestamptz[]) AS t (d, ps, pe)
)
SELECT created_at FROM s
"""

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"

_DELETE_SESSION = """
WITH s AS (DELETE FROM focus_sessions WHERE user_id = $1 AND session_id = $2 RETURNING id)
SELECT s.id, p.day FROM s LEFT JOIN focus_session_parts AS p ON p.session_pk = s.id
"""

# The union of each date's parts (overlapping sessions count once), written to focus_days (or
# the date dropped when no part is left on it); then every daily total of the user.
_RECOMPUTE_DAYS = """
WITH totals AS (
    SELECT day, (SELECT sum(upper(r) - lower(r)) FROM unnest(spans) AS r) AS span
    FROM (
        SELECT day, range_agg(tstzrange(started_at, ended_at)) AS spans
        FROM focus_session_parts WHERE user_id = $1 AND day = ANY($2::date[])
        GROUP BY day
    ) AS agg
),
gone AS (
    DELETE FROM focus_days
    WHERE user_id = $1 AND day = ANY($2::date[]) AND day NOT IN (SELECT day FROM totals)
),
up AS (
    INSERT INTO focus_days (user_id, day, micros)
    SELECT $1, day, (extract(epoch FROM span) * 1000000)::bigint FROM totals
    ON CONFLICT (user_id, day) DO UPDATE SET micros = excluded.micros
    RETURNING day, micros
)
SELECT day, micros FROM up
UNION ALL
SELECT day, micros FROM focus_days WHERE user_id = $1 AND NOT (day = ANY($2::date[]))
ORDER BY day
"""

_SAVE_ANCHOR = """
WITH r AS (UPDATE focus_sessions SET response = $9 WHERE id = $8)
INSERT INTO focus_streaks AS f
    (user_id, last_qualified, run, freezes, longest, qualified_days, threshold_minutes, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, 1)
ON CONFLICT (user_id) DO UPDATE SET
    last_qualified = excluded.last_qualified, run = excluded.run, freezes = excluded.freezes,
    longest = excluded.longest, qualified_days = excluded.qualified_days,
    threshold_minutes = excluded.threshold_minutes, version = f.version + 1
RETURNING version
"""


def _lock_key(user_id: uuid.UUID) -> str:
    return f"focus:{user_id}"


async def insert_session(
    session: AsyncSession,
    user_id: uuid.UUID,
    session_id: str,
    started_at: datetime,
    ended_at: datetime,
    timezone: str,
    parts: Sequence[DayPart],
) -> tuple[uuid.UUID, datetime] | None:
    """Take the user's focus lock, then insert the session and its parts; (primary key,
    created_at), or None when the user already has a session with that id.

    The lock serializes one user's focus writes until the transaction ends: dates' unions and
    the streak are recalculated by the statements that follow, whose snapshots are taken after
    it, so they see everything the previous writer committed.
    """
    pk = uuid.uuid4()
    driver = await driver_connection(session)
    created_at = await driver.fetchval(
        _INSERT_SESSION,
        _lock_key(user_id),
        pk,
        user_id,
        session_id,
        started_at,
        ended_at,
        timezone,
        [p.day for p in parts],
        [p.start for p in parts],
        [p.end for p in parts],
    )
    return None if created_at is None else (pk, created_at)


async def by_session_id(
    session: AsyncSession, user_id: uuid.UUID, session_id: str
) -> FocusSession | None:
    result = await session.execute(
        select(FocusSession).where(
            FocusSession.user_id == user_id, FocusSession.session_id == session_id
        )
    )
    return result.scalar_one_or_none()


async def delete_session(
    session: AsyncSession, user_id: uuid.UUID, session_id: str
) -> list[date] | None:
    """Take the user's focus lock and delete a session; the dates its parts covered, or None
    when the user has no such session."""
    driver = await driver_connection(session)
    await driver.execute(_LOCK, _lock_key(user_id))
    rows = await driver.fetch(_DELETE_SESSION, user_id, session_id)
    if not rows:
        return None
    return [row["day"] for row in rows if row["day"] is not None]


async def recompute_days(
    session: AsyncSession, user_id: uuid.UUID, days: Sequence[date]
) -> list[tuple[date, int]]:
    """Set each of `days` to the union of the user's parts on it and drop the dates no part
    covers any more; returns all the user's daily totals after that, oldest first, as
    (date, microseconds)."""
    driver = await driver_connection(session)
    rows = await driver.fetch(_RECOMPUTE_DAYS, user_id, list(days))
    return [(row["day"], row["micros"]) for row in rows]


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


async def save_anchor(
    session: AsyncSession,
    user_id: uuid.UUID,
    anchor: Anchor,
    threshold_minutes: int,
    response: tuple[uuid.UUID, str] | None = None,
) -> int:
    """Upsert the user's streak anchor, and store a new session's response (primary key, body)
    with it; returns the anchor's new version."""
    driver = await driver_connection(session)
    version = await driver.fetchval(
        _SAVE_ANCHOR,
        user_id,
        anchor.last_qualified,
        anchor.run,
        anchor.freezes,
        anchor.longest,
        anchor.qualified_days,
        threshold_minutes,
        response[0] if response else None,
        response[1] if response else None,
    )
    return int(version)


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
