"""Every SQL statement of the editors context."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.editors.models import EditorHeartbeat, EditorSettings
from rhythm.platform.database import stream_rows


async def insert_heartbeats(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Store heartbeats; one already stored (same user and digest) is left as it is."""
    if rows:
        statement = insert(EditorHeartbeat).values(list(rows))
        await session.execute(
            statement.on_conflict_do_nothing(constraint="uq_editor_heartbeats_user_digest")
        )


async def heartbeats_between(
    session: AsyncSession, user_id: uuid.UUID, start: datetime, end: datetime
) -> Sequence[Any]:
    """Each heartbeat in [start, end), oldest first: its time and what it is reported by."""
    h = EditorHeartbeat
    result = await session.execute(
        select(
            func.extract("epoch", h.at),
            h.project,
            h.language,
            h.editor,
            h.operating_system,
            h.machine,
            h.category,
            h.branch,
            h.entity,
        )
        .where(h.user_id == user_id, h.at >= start, h.at < end)
        .order_by(h.at)
    )
    return result.all()


_ALL_TIME = text(
    """
    SELECT coalesce(sum(gap) FILTER (WHERE gap < :timeout), 0), min(at)
    FROM (
        SELECT at, extract(epoch FROM lead(at) OVER (ORDER BY at) - at) AS gap
        FROM editor_heartbeats
        WHERE user_id = :user_id AND at < :end
    ) AS beats
    """
)


async def all_time(
    session: AsyncSession, user_id: uuid.UUID, end: datetime, gap: timedelta
) -> tuple[float, datetime | None]:
    """(seconds, first heartbeat) of everything before `end`; `gap` is the user's timeout."""
    row = (
        await session.execute(
            _ALL_TIME,
            {"user_id": user_id, "end": end, "timeout": gap.total_seconds()},
        )
    ).one()
    return float(row[0]), row[1]


async def projects(session: AsyncSession, user_id: uuid.UUID, limit: int) -> Sequence[Any]:
    """(name, first heartbeat, last heartbeat) of the `limit` projects used last, latest first."""
    h = EditorHeartbeat
    result = await session.execute(
        select(h.project, func.min(h.at), func.max(h.at))
        .where(h.user_id == user_id, h.project.is_not(None))
        .group_by(h.project)
        .order_by(func.max(h.at).desc(), h.project)
        .limit(limit)
    )
    return result.all()


async def timeout_minutes(session: AsyncSession, user_id: uuid.UUID) -> int | None:
    return await session.scalar(
        select(EditorSettings.timeout_minutes).where(EditorSettings.user_id == user_id)
    )


async def set_timeout_minutes(session: AsyncSession, user_id: uuid.UUID, minutes: int) -> None:
    statement = insert(EditorSettings).values(user_id=user_id, timeout_minutes=minutes)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[EditorSettings.user_id],
            set_={"timeout_minutes": statement.excluded.timeout_minutes},
        )
    )


def heartbeat_rows(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """The user's heartbeats, oldest first, as schemas.HEARTBEAT_RECORD_FIELDS."""
    return stream_rows(
        session,
        "SELECT entity, type, category, extract(epoch FROM at)::float8, project, branch,"
        " language, is_write, lines, lineno, cursorpos, user_agent, machine"
        " FROM editor_heartbeats WHERE user_id = $1 ORDER BY at, id",
        user_id,
    )


def settings_rows(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    return stream_rows(
        session, "SELECT timeout_minutes FROM editor_settings WHERE user_id = $1", user_id
    )


async def has_heartbeats(session: AsyncSession, user_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(EditorHeartbeat.id).where(EditorHeartbeat.user_id == user_id).limit(1)
    )
    return found is not None
