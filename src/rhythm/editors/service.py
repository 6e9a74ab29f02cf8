"""Editor time's rules: storing WakaTime heartbeats once each, and reporting them by day in the
user's time zone (durations.py counts the time)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.editors import repository
from rhythm.editors.agents import editor_and_os
from rhythm.editors.durations import Attributes, DayTotals, by_day
from rhythm.editors.schemas import (
    DEFAULT_TIMEOUT_MINUTES,
    MAX_RANGE_DAYS,
    EditorSettingsUpdate,
    HeartbeatRecord,
    WakaHeartbeatIn,
)
from rhythm.platform.errors import Unprocessable
from rhythm.platform.timeutil import local_day_start

MAX_PROJECTS = 1000


@dataclass(frozen=True, slots=True)
class Stored:
    """A heartbeat as stored: its id (from its digest) and its row."""

    id: uuid.UUID
    row: dict[str, Any]


def prepare(
    user_id: uuid.UUID, beat: WakaHeartbeatIn, machine: str | None, header_agent: str | None
) -> Stored:
    """The row of a validated heartbeat. Its digest covers every field it was sent with and the
    machine, so an exact replay has the same digest (and is stored once)."""
    user_agent = (beat.user_agent or header_agent or "")[:512]
    editor, operating_system = editor_and_os(user_agent)
    fields = beat.model_dump(exclude={"dependencies"})
    fields.update(user_agent=user_agent, machine=machine)
    digest = hashlib.sha256(
        json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    ).digest()
    row = {
        "user_id": user_id,
        "digest": digest,
        "at": datetime.fromtimestamp(beat.time, UTC),
        "entity": beat.entity,
        "type": beat.type,
        "category": beat.category or "coding",
        "project": beat.project or None,
        "branch": beat.branch or None,
        "language": beat.language or None,
        "is_write": bool(beat.is_write),
        "lines": beat.lines,
        "lineno": beat.lineno,
        "cursorpos": beat.cursorpos,
        "user_agent": user_agent,
        "editor": editor,
        "operating_system": operating_system,
        "machine": machine,
    }
    return Stored(uuid.UUID(bytes=digest[:16]), row)


async def store(session: AsyncSession, beats: Sequence[Stored]) -> None:
    await repository.insert_heartbeats(session, [b.row for b in beats])


async def timeout_minutes(session: AsyncSession, user_id: uuid.UUID) -> int:
    stored = await repository.timeout_minutes(session, user_id)
    return DEFAULT_TIMEOUT_MINUTES if stored is None else stored


async def set_timeout_minutes(session: AsyncSession, user_id: uuid.UUID, minutes: int) -> None:
    await repository.set_timeout_minutes(session, user_id, minutes)


@dataclass(frozen=True, slots=True)
class DaySpan:
    day: date
    start: datetime
    end: datetime


def day_spans(
    first: date, last: date, zone: str, names: tuple[str, str] = ("start", "end")
) -> list[DaySpan]:
    """The local days first..last (at most MAX_RANGE_DAYS; 422 otherwise, naming the query's
    `names` for them) as UTC spans."""
    if last < first:
        raise Unprocessable(
            f"`{names[1]}` must not be before `{names[0]}`.", field=f"query.{names[1]}"
        )
    count = (last - first).days + 1
    if count > MAX_RANGE_DAYS:
        raise Unprocessable(
            f"At most {MAX_RANGE_DAYS} days at once ({count} asked).", field=f"query.{names[1]}"
        )
    days = [first + timedelta(days=i) for i in range(count)]
    starts = [local_day_start(d, zone) for d in [*days, last + timedelta(days=1)]]
    return [DaySpan(d, s, e) for d, s, e in zip(days, starts, starts[1:], strict=False)]


async def daily_totals(
    session: AsyncSession,
    user_id: uuid.UUID,
    spans: Sequence[DaySpan],
    project: str | None = None,
) -> tuple[list[DayTotals], int]:
    """Each day's time (of `project` only, if given) and the timeout it was counted with."""
    minutes = await timeout_minutes(session, user_id)
    timeout = timedelta(minutes=minutes)
    # The heartbeats just outside the range: a duration crossing its edges counts inside them.
    rows = await repository.heartbeats_between(
        session, user_id, spans[0].start - timeout, spans[-1].end + timeout
    )
    beats = [(float(row[0]), Attributes._make(row[1:])) for row in rows]
    bounds = [s.start.timestamp() for s in spans] + [spans[-1].end.timestamp()]
    days = [s.day for s in spans]
    return by_day(beats, timeout.total_seconds(), days, bounds, project), minutes


async def range_totals(
    session: AsyncSession, user_id: uuid.UUID, spans: Sequence[DaySpan]
) -> DayTotals:
    """The time of the whole range of consecutive days, as one total (split at its edges only:
    the same seconds as the days' totals summed)."""
    whole = DaySpan(spans[0].day, spans[0].start, spans[-1].end)
    (totals,), _ = await daily_totals(session, user_id, [whole])
    return totals


async def all_time(
    session: AsyncSession, user_id: uuid.UUID, end: datetime
) -> tuple[float, datetime | None, int]:
    """(seconds, first heartbeat, timeout minutes) of everything before `end`."""
    minutes = await timeout_minutes(session, user_id)
    seconds, first = await repository.all_time(session, user_id, end, timedelta(minutes=minutes))
    return seconds, first, minutes


async def projects(
    session: AsyncSession, user_id: uuid.UUID
) -> list[tuple[str, datetime, datetime]]:
    rows = await repository.projects(session, user_id, MAX_PROJECTS)
    return [(row[0], row[1], row[2]) for row in rows]


# Export and import of an account (portability) ---------------------------------------------------


def export_heartbeats(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """The user's heartbeats, oldest first, as HEARTBEAT_RECORD_FIELDS."""
    return repository.heartbeat_rows(session, user_id)


def export_settings(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """The user's editor settings, as EditorSettingsUpdate's fields, if they were ever set."""
    return repository.settings_rows(session, user_id)


async def has_heartbeats(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return await repository.has_heartbeats(session, user_id)


async def import_heartbeats(
    session: AsyncSession, user_id: uuid.UUID, records: Sequence[HeartbeatRecord]
) -> int:
    """Store exported heartbeats as their client's requests would have (an exact repeat is
    stored once); how many records were read."""
    await store(session, [prepare(user_id, r, r.machine, None) for r in records])
    return len(records)


async def import_settings(
    session: AsyncSession, user_id: uuid.UUID, record: EditorSettingsUpdate
) -> None:
    await set_timeout_minutes(session, user_id, record.timeout_minutes)
