"""Every SQL statement of the sleep context."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, tuple_
from sqlalchemy import insert as insert_statement
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.platform.database import stream_rows
from rhythm.sleep.models import LONGEST_NIGHT, SleepRecord

COMPLETED = SleepRecord.wake_at.is_not(None)


def _ended_in(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    # A night that ended in [start, end) began at most LONGEST_NIGHT before start: bounding
    # the bedtime too lets the query use the (user_id, sleep_at) index.
    return [
        COMPLETED,
        SleepRecord.wake_at >= start,
        SleepRecord.wake_at < end,
        SleepRecord.sleep_at >= start - LONGEST_NIGHT,
        SleepRecord.sleep_at < end,
    ]


async def insert(session: AsyncSession, record: SleepRecord) -> SleepRecord:
    session.add(record)
    await session.flush()
    await session.refresh(record)
    return record


async def open_record(
    session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False
) -> SleepRecord | None:
    stmt = select(SleepRecord).where(SleepRecord.user_id == user_id, SleepRecord.wake_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def latest_wake(session: AsyncSession, user_id: uuid.UUID) -> datetime | None:
    result = await session.execute(
        select(func.max(SleepRecord.wake_at)).where(SleepRecord.user_id == user_id, COMPLETED)
    )
    return result.scalar_one_or_none()


async def complete(
    session: AsyncSession,
    record: SleepRecord,
    *,
    wake_at: datetime,
    wake_timezone: str,
    duration_seconds: int,
) -> SleepRecord:
    record.wake_at = wake_at
    record.wake_timezone = wake_timezone
    record.duration_seconds = duration_seconds
    await session.flush()
    return record


async def save(session: AsyncSession, record: SleepRecord) -> SleepRecord:
    """Write the changes made to a loaded record, and read it back as stored (instants in UTC)."""
    await session.flush()
    await session.refresh(record)
    return record


async def get_own(
    session: AsyncSession, user_id: uuid.UUID, record_id: uuid.UUID, *, for_update: bool = False
) -> SleepRecord | None:
    stmt = select(SleepRecord).where(SleepRecord.id == record_id, SleepRecord.user_id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def delete_own(
    session: AsyncSession, user_id: uuid.UUID, record_id: uuid.UUID
) -> SleepRecord | None:
    result = await session.execute(
        delete(SleepRecord)
        .where(SleepRecord.id == record_id, SleepRecord.user_id == user_id)
        .returning(SleepRecord)
    )
    return result.scalar_one_or_none()


async def list_own(
    session: AsyncSession,
    user_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[SleepRecord]:
    stmt = select(SleepRecord).where(SleepRecord.user_id == user_id)
    if after is not None:
        stmt = stmt.where(tuple_(SleepRecord.sleep_at, SleepRecord.id) < tuple_(*after))
    stmt = stmt.order_by(SleepRecord.sleep_at.desc(), SleepRecord.id.desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def week_records(
    session: AsyncSession,
    user_ids: Sequence[uuid.UUID],
    week: str,
    after: tuple[int, uuid.UUID] | None,
    limit: int,
) -> Sequence[SleepRecord]:
    """Completed records of `user_ids` in `week`, longest first, ties by id."""
    stmt = select(SleepRecord).where(
        SleepRecord.user_id.in_(user_ids), SleepRecord.week == week, COMPLETED
    )
    if after is not None:
        duration, record_id = after
        stmt = stmt.where(
            or_(
                SleepRecord.duration_seconds < duration,
                (SleepRecord.duration_seconds == duration) & (SleepRecord.id > record_id),
            )
        )
    stmt = stmt.order_by(SleepRecord.duration_seconds.desc(), SleepRecord.id).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def week_totals(
    session: AsyncSession, user_ids: Sequence[uuid.UUID], week: str
) -> list[tuple[uuid.UUID, int, int, int]]:
    """(user id, total, nights, longest) for each of `user_ids` with a completed night."""
    duration = SleepRecord.duration_seconds
    result = await session.execute(
        select(SleepRecord.user_id, func.sum(duration), func.count(), func.max(duration))
        .where(SleepRecord.user_id.in_(user_ids), SleepRecord.week == week, COMPLETED)
        .group_by(SleepRecord.user_id)
    )
    return [(r[0], int(r[1] or 0), int(r[2]), int(r[3] or 0)) for r in result.all()]


async def by_ids(session: AsyncSession, record_ids: Sequence[uuid.UUID]) -> Sequence[SleepRecord]:
    if not record_ids:
        return []
    result = await session.execute(select(SleepRecord).where(SleepRecord.id.in_(record_ids)))
    return result.scalars().all()


async def completed_of(session: AsyncSession, user_id: uuid.UUID) -> Sequence[SleepRecord]:
    result = await session.execute(
        select(SleepRecord).where(SleepRecord.user_id == user_id, COMPLETED)
    )
    return result.scalars().all()


async def week_members(
    session: AsyncSession, user_ids: Sequence[uuid.UUID], week: str
) -> list[tuple[uuid.UUID, uuid.UUID, int]]:
    """(record id, owner id, duration) of the completed nights of `user_ids` in `week`: all a
    feed needs to order them, without loading the records."""
    if not user_ids:
        return []
    result = await session.execute(
        select(SleepRecord.id, SleepRecord.user_id, SleepRecord.duration_seconds).where(
            SleepRecord.user_id.in_(user_ids), SleepRecord.week == week, COMPLETED
        )
    )
    return [(row[0], row[1], int(row[2] or 0)) for row in result.all()]


async def latest_ended(
    session: AsyncSession, user_id: uuid.UUID, start: datetime, end: datetime
) -> SleepRecord | None:
    """The user's completed night that ended last within [start, end), if any."""
    result = await session.execute(
        select(SleepRecord)
        .where(SleepRecord.user_id == user_id, *_ended_in(start, end))
        .order_by(SleepRecord.wake_at.desc(), SleepRecord.id)
        .limit(1)
    )
    return result.scalar_one_or_none()


async def ended_in(
    session: AsyncSession,
    user_ids: Sequence[uuid.UUID],
    start: datetime,
    end: datetime,
    limit: int,
) -> Sequence[SleepRecord]:
    """Completed nights of `user_ids` that ended within [start, end), longest first, ties by
    id (the followings feed's order)."""
    if not user_ids:
        return []
    result = await session.execute(
        select(SleepRecord)
        .where(SleepRecord.user_id.in_(user_ids), *_ended_in(start, end))
        .order_by(SleepRecord.duration_seconds.desc(), SleepRecord.id)
        .limit(limit)
    )
    return result.scalars().all()


def night_rows(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """The user's nights, earliest first, as schemas.NightRecord's fields."""
    return stream_rows(
        session,
        "SELECT sleep_at, wake_at, sleep_timezone, wake_timezone, rating, tags, note"
        " FROM sleep_records"
        " WHERE user_id = $1 ORDER BY sleep_at, id",
        user_id,
    )


async def has_nights(session: AsyncSession, user_id: uuid.UUID) -> bool:
    result = await session.execute(
        select(SleepRecord.id).where(SleepRecord.user_id == user_id).limit(1)
    )
    return result.first() is not None


async def insert_many(session: AsyncSession, records: Sequence[SleepRecord]) -> None:
    """Insert records at once (their ids are set); the constraints decide as for one."""
    await session.execute(
        insert_statement(SleepRecord),
        [
            {
                "id": r.id,
                "user_id": r.user_id,
                "sleep_at": r.sleep_at,
                "wake_at": r.wake_at,
                "sleep_timezone": r.sleep_timezone,
                "wake_timezone": r.wake_timezone,
                "duration_seconds": r.duration_seconds,
                "week": r.week,
                "rating": r.rating,
                "tags": r.tags,
                "note": r.note,
            }
            for r in records
        ],
    )
