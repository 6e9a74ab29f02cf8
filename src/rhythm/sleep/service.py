"""Business rules of sleep: one open night at a time, no overlaps, days of at most 24 hours.

The followings feed and the weekly ranking are computed from PostgreSQL on every request, so
they are exact on the very next request after any follow, unfollow, clock-out, backfill,
delete or account deletion.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.errors import Conflict, NotFound, Unprocessable
from rhythm.identity import service as identity_service
from rhythm.identity.auth import Principal
from rhythm.pagination import PageRequest
from rhythm.sleep import repository
from rhythm.sleep.models import SleepRecord
from rhythm.social import service as social_service
from rhythm.timeutil import InvalidWeek, iso_week, local_date, parse_week, previous_week, utc_now

FUTURE_TOLERANCE = timedelta(minutes=5)
LONGEST_NIGHT = timedelta(hours=24)


class AlreadyClockedIn(Conflict):
    slug = "already-clocked-in"
    title = "Already clocked in"


class NotClockedIn(Conflict):
    slug = "not-clocked-in"
    title = "Not clocked in"


class Overlap(Conflict):
    slug = "overlap"
    title = "Overlapping sleep record"


class RecordNotFound(NotFound):
    slug = "sleep-record-not-found"
    title = "Sleep record not found"


class InvalidNight(Unprocessable):
    slug = "invalid-night"
    title = "Invalid night"


def _not_in_future(at: datetime, field: str) -> None:
    if at > utc_now() + FUTURE_TOLERANCE:
        raise InvalidNight(f"{field} is more than 5 minutes in the future.", field=field)


def _check_night(sleep_at: datetime, wake_at: datetime, wake_field: str) -> int:
    """The night's real duration in whole seconds, after the 422 rules."""
    if wake_at <= sleep_at:
        raise InvalidNight("The wake time must be after bedtime.", field=wake_field)
    if wake_at - sleep_at > LONGEST_NIGHT:
        raise InvalidNight(
            "A night cannot last more than 24 hours; delete the open record instead.",
            field=wake_field,
        )
    return int((wake_at - sleep_at).total_seconds())


async def _insert(session: AsyncSession, record: SleepRecord) -> SleepRecord:
    """Insert; the database's constraints decide overlaps and double clock-ins under races."""
    try:
        async with session.begin_nested():
            return await repository.insert(session, record)
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
        text = str(exc.orig)
        if constraint == "uq_sleep_records_one_open" or "uq_sleep_records_one_open" in text:
            found = await repository.open_record(session, record.user_id)
            raise AlreadyClockedIn(
                "You are already clocked in.",
                extra={"record_id": str(found.id)} if found else None,
            ) from None
        if constraint == "ex_sleep_records_no_overlap" or "ex_sleep_records_no_overlap" in text:
            raise Overlap("This night overlaps another of your sleep records.") from None
        raise


async def clock_in(
    session: AsyncSession, principal: Principal, at: datetime | None, timezone: str | None
) -> SleepRecord:
    sleep_at = at or utc_now()
    _not_in_future(sleep_at, "at")
    zone = timezone or principal.timezone
    current = await repository.open_record(session, principal.id)
    if current is not None:
        raise AlreadyClockedIn("You are already clocked in.", extra={"record_id": str(current.id)})
    latest = await repository.latest_wake(session, principal.id)
    if latest is not None and sleep_at < latest:
        raise Overlap("Bedtime is before the end of your latest night.")
    record = SleepRecord(
        id=uuid.uuid4(),
        user_id=principal.id,
        sleep_at=sleep_at,
        sleep_timezone=zone,
        week=iso_week(local_date(sleep_at, zone)),
    )
    return await _insert(session, record)


async def clock_out(
    session: AsyncSession, principal: Principal, at: datetime | None, timezone: str | None
) -> SleepRecord:
    record = await repository.open_record(session, principal.id, for_update=True)
    if record is None:
        raise NotClockedIn("You are not clocked in.")
    wake_at = at or utc_now()
    _not_in_future(wake_at, "at")
    duration = _check_night(record.sleep_at, wake_at, "at")
    return await repository.complete(
        session,
        record,
        wake_at=wake_at,
        wake_timezone=timezone or principal.timezone,
        duration_seconds=duration,
    )


async def backfill(
    session: AsyncSession,
    principal: Principal,
    *,
    sleep_at: datetime,
    wake_at: datetime,
    sleep_timezone: str | None,
    wake_timezone: str | None,
) -> SleepRecord:
    _not_in_future(wake_at, "wake_at")
    duration = _check_night(sleep_at, wake_at, "wake_at")
    zone = sleep_timezone or principal.timezone
    record = SleepRecord(
        id=uuid.uuid4(),
        user_id=principal.id,
        sleep_at=sleep_at,
        wake_at=wake_at,
        sleep_timezone=zone,
        wake_timezone=wake_timezone or principal.timezone,
        duration_seconds=duration,
        week=iso_week(local_date(sleep_at, zone)),
    )
    return await _insert(session, record)


async def get_record(
    session: AsyncSession, user_id: uuid.UUID, record_id: uuid.UUID
) -> SleepRecord:
    record = await repository.get_own(session, user_id, record_id)
    if record is None:
        raise RecordNotFound(f"No sleep record {record_id}.")
    return record


async def delete_record(session: AsyncSession, user_id: uuid.UUID, record_id: uuid.UUID) -> None:
    if await repository.delete_own(session, user_id, record_id) is None:
        raise RecordNotFound(f"No sleep record {record_id}.")


async def list_records(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> tuple[list[SleepRecord], str | None]:
    after = page.position("sleep-records")
    rows = await repository.list_own(
        session,
        user_id,
        (datetime.fromisoformat(after[0]), uuid.UUID(after[1])) if after else None,
        page.limit + 1,
    )
    return page.page("sleep-records", list(rows), lambda r: [r.sleep_at.isoformat(), str(r.id)])


@dataclass(frozen=True)
class Week:
    name: str
    start: date
    end: date


def resolve_week(week: str | None, viewer_timezone: str) -> Week:
    name = week or previous_week(utc_now(), viewer_timezone)
    try:
        start, end = parse_week(name)
    except InvalidWeek as exc:
        raise Unprocessable(str(exc), field="week") from None
    return Week(name, start, end)


async def following_feed(
    session: AsyncSession, viewer: Principal, week: Week, page: PageRequest
) -> tuple[list[tuple[SleepRecord, str]], str | None]:
    """Completed nights of the people the viewer follows in `week`, longest first."""
    followees = await social_service.followee_ids(session, viewer.id)
    if not followees:
        return [], None
    kind = f"sleep-following:{week.name}"
    after = page.position(kind)
    rows = await repository.week_records(
        session,
        followees,
        week.name,
        (int(after[0]), uuid.UUID(after[1])) if after else None,
        page.limit + 1,
    )
    rows, cursor = page.page(kind, list(rows), lambda r: [r.duration_seconds, str(r.id)])
    names = await identity_service.user_names(session, [r.user_id for r in rows])
    return [(r, names[r.user_id]) for r in rows if r.user_id in names], cursor


@dataclass(frozen=True)
class RankingEntry:
    rank: int
    user_id: uuid.UUID
    name: str
    total_seconds: int
    nights: int
    longest_seconds: int

    @property
    def average_seconds(self) -> int:
        return self.total_seconds // self.nights


async def weekly_ranking(
    session: AsyncSession, viewer: Principal, week: Week, page: PageRequest
) -> tuple[list[RankingEntry], str | None]:
    """The viewer and everyone they follow, by total sleep in `week` (users without nights are
    left out). Equal totals share a rank (1, 2, 2, 4) and are ordered by user id."""
    users: Sequence[uuid.UUID] = [viewer.id, *await social_service.followee_ids(session, viewer.id)]
    totals = await repository.week_totals(session, users, week.name)
    totals.sort(key=lambda t: (-t[1], str(t[0])))
    names = await identity_service.user_names(session, [t[0] for t in totals])
    entries: list[RankingEntry] = []
    for position, (user_id, total, nights, longest) in enumerate(totals, start=1):
        if user_id not in names:
            continue
        rank = entries[-1].rank if entries and entries[-1].total_seconds == total else position
        entries.append(RankingEntry(rank, user_id, names[user_id], total, nights, longest))
    kind = f"sleep-ranking:{week.name}"
    after = page.position(kind)
    start = int(after[0]) if after else 0
    window = entries[start : start + page.limit + 1]
    if len(window) > page.limit:
        return window[: page.limit], page.codec.encode(kind, [start + page.limit])
    return window, None
