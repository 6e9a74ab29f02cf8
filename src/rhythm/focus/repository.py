"""Every SQL statement of the focus context."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.focus.models import FocusSession, FocusStreak
from rhythm.focus.streaks import Anchor
from rhythm.timeutil import DayPart


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Serialize one user's focus writes until the transaction ends: a day's union and the
    streak are recalculated from what the transaction reads, so two writers must not interleave."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('focus:' || :u, 0))"),
        {"u": str(user_id)},
    )


async def by_session_id(
    session: AsyncSession, user_id: uuid.UUID, session_id: str
) -> FocusSession | None:
    result = await session.execute(
        select(FocusSession).where(
            FocusSession.user_id == user_id, FocusSession.session_id == session_id
        )
    )
    return result.scalar_one_or_none()


async def insert_session(
    session: AsyncSession,
    user_id: uuid.UUID,
    session_id: str,
    started_at: datetime,
    ended_at: datetime,
    timezone: str,
    parts: Sequence[DayPart],
) -> tuple[uuid.UUID, datetime]:
    """The session and its parts; returns (primary key, created_at)."""
    pk = uuid.uuid4()
    created = await session.execute(
        text(
            "WITH s AS (INSERT INTO focus_sessions"
            " (id, user_id, session_id, started_at, ended_at, timezone, response)"
            " VALUES (:id, :u, :sid, :start, :end, :tz, '') RETURNING id, created_at),"
            " p AS (INSERT INTO focus_session_parts"
            " (session_pk, day, user_id, started_at, ended_at)"
            " SELECT :id, d, :u, s, e FROM unnest(CAST(:days AS date[]),"
            " CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[])) AS t(d, s, e))"
            " SELECT created_at FROM s"
        ),
        {
            "id": pk,
            "u": user_id,
            "sid": session_id,
            "start": started_at,
            "end": ended_at,
            "tz": timezone,
            "days": [p.day for p in parts],
            "starts": [p.start for p in parts],
            "ends": [p.end for p in parts],
        },
    )
    return pk, created.scalar_one()


async def store_response(session: AsyncSession, pk: uuid.UUID, response: str) -> None:
    await session.execute(
        text("UPDATE focus_sessions SET response = :r WHERE id = :id"), {"r": response, "id": pk}
    )


async def delete_session(
    session: AsyncSession, user_id: uuid.UUID, session_id: str
) -> list[date] | None:
    """Delete a session; the dates its parts covered, or None when the user has no such session."""
    result = await session.execute(
        text(
            "WITH s AS (DELETE FROM focus_sessions WHERE user_id = :u AND session_id = :sid"
            " RETURNING id)"
            " SELECT s.id, p.day FROM s LEFT JOIN focus_session_parts p ON p.session_pk = s.id"
        ),
        {"u": user_id, "sid": session_id},
    )
    rows = result.all()
    if not rows:
        return None
    return [row.day for row in rows if row.day is not None]


async def recompute_days(session: AsyncSession, user_id: uuid.UUID, days: Sequence[date]) -> None:
    """Set each date's total to the union of the user's parts on it (overlapping sessions
    count once), and drop dates no part covers any more."""
    await session.execute(
        text(
            "WITH totals AS ("
            "  SELECT day, (SELECT sum(upper(r) - lower(r)) FROM unnest(spans) AS r) AS span"
            "  FROM (SELECT day, range_agg(tstzrange(started_at, ended_at)) AS spans"
            "        FROM focus_session_parts WHERE user_id = :u AND day = ANY(:days)"
            "        GROUP BY day) AS agg),"
            " gone AS (DELETE FROM focus_days WHERE user_id = :u AND day = ANY(:days)"
            "  AND day NOT IN (SELECT day FROM totals))"
            " INSERT INTO focus_days (user_id, day, micros)"
            " SELECT :u, day, (extract(epoch FROM span) * 1000000)::bigint FROM totals"
            " ON CONFLICT (user_id, day) DO UPDATE SET micros = excluded.micros"
        ),
        {"u": user_id, "days": list(days)},
    )


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
    session: AsyncSession, user_id: uuid.UUID, anchor: Anchor, threshold_minutes: int
) -> int:
    """Upsert the user's streak anchor; returns its new version."""
    result = await session.execute(
        text(
            "INSERT INTO focus_streaks AS f (user_id, last_qualified, run, freezes, longest,"
            " qualified_days, threshold_minutes, version)"
            " VALUES (:u, :last, :run, :freezes, :longest, :n, :thr, 1)"
            " ON CONFLICT (user_id) DO UPDATE SET last_qualified = excluded.last_qualified,"
            " run = excluded.run, freezes = excluded.freezes, longest = excluded.longest,"
            " qualified_days = excluded.qualified_days,"
            " threshold_minutes = excluded.threshold_minutes, version = f.version + 1"
            " RETURNING version"
        ),
        {
            "u": user_id,
            "last": anchor.last_qualified,
            "run": anchor.run,
            "freezes": anchor.freezes,
            "longest": anchor.longest,
            "n": anchor.qualified_days,
            "thr": threshold_minutes,
        },
    )
    return int(result.scalar_one())


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
