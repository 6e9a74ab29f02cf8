"""Sleep records: one open night at a time, no overlaps, nights of at most 24 hours, whether
created or edited; the owner's private rating, tags and note on a night; and the weekly ranking,
computed from PostgreSQL. A change of a completed night is handed to the followings feed
(feed.night_changed) in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.identity import service as identity_service
from rhythm.identity.principal import Principal
from rhythm.platform.errors import Conflict, ItemRefused, NotFound, RhythmError, Unprocessable
from rhythm.platform.pagination import PageRequest
from rhythm.platform.ranking import ranked
from rhythm.platform.timeutil import InvalidWeek, Week, iso_week, local_date, previous_week, utc_now
from rhythm.sleep import repository
from rhythm.sleep.feed import Night, night_changed
from rhythm.sleep.feed_cache import FeedCache
from rhythm.sleep.models import LONGEST_NIGHT, SleepRecord
from rhythm.sleep.schemas import NightDetails, NightRecord, SleepRecordPatch
from rhythm.social import service as social_service

FUTURE_TOLERANCE = timedelta(minutes=5)


class AlreadyClockedIn(Conflict):
    slug = "already-clocked-in"
    title = "Already clocked in"


class NotClockedIn(Conflict):
    slug = "not-clocked-in"
    title = "Not clocked in"


class Overlap(Conflict):
    slug = "overlap"
    title = "Overlapping sleep record"


class RecordNotFound(NotFound, what="Sleep record"):
    """The caller has no sleep record of this id."""


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


async def _written(
    session: AsyncSession, record: SleepRecord, write: Callable[[], Awaitable[SleepRecord]]
) -> SleepRecord:
    """Insert or update `record`; the database's constraints decide overlaps and double
    clock-ins under races."""
    try:
        async with session.begin_nested():
            return await write()
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
    return await _written(session, record, lambda: repository.insert(session, record))


def _with_details(record: SleepRecord, details: NightDetails, given: set[str]) -> None:
    """Set the `given` fields of the owner's notes on a night (null clears one)."""
    if "rating" in given:
        record.rating = details.rating
    if "tags" in given:
        record.tags = details.tags or []
    if "note" in given:
        # A blank note is no note.
        record.note = details.note if details.note and details.note.strip() else None


async def clock_out(
    session: AsyncSession,
    feeds: FeedCache,
    principal: Principal,
    at: datetime | None,
    timezone: str | None,
    details: NightDetails,
) -> SleepRecord:
    record = await repository.open_record(session, principal.id, for_update=True)
    if record is None:
        raise NotClockedIn("You are not clocked in.")
    wake_at = at or utc_now()
    _not_in_future(wake_at, "at")
    duration = _check_night(record.sleep_at, wake_at, "at")
    _with_details(record, details, details.model_fields_set)
    completed = await repository.complete(
        session,
        record,
        wake_at=wake_at,
        wake_timezone=timezone or principal.timezone,
        duration_seconds=duration,
    )
    await night_changed(session, feeds, Night.of(completed), "add")
    return completed


async def backfill(
    session: AsyncSession,
    feeds: FeedCache,
    principal: Principal,
    *,
    sleep_at: datetime,
    wake_at: datetime,
    sleep_timezone: str | None,
    wake_timezone: str | None,
    details: NightDetails,
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
        tags=[],
    )
    _with_details(record, details, details.model_fields_set)
    inserted = await _written(session, record, lambda: repository.insert(session, record))
    await night_changed(session, feeds, Night.of(inserted), "add")
    return inserted


async def edit_record(
    session: AsyncSession,
    feeds: FeedCache,
    principal: Principal,
    record_id: uuid.UUID,
    patch: SleepRecordPatch,
) -> SleepRecord:
    """Move a night's bedtime or wake time (or their zones), close an open night, or change
    the owner's notes on it. The times obey the rules of creation; the feeds see an edited
    completed night leave as it was and arrive as it is."""
    record = await repository.get_own(session, principal.id, record_id, for_update=True)
    if record is None:
        raise RecordNotFound(f"No sleep record {record_id}.")
    before = Night.of(record) if record.wake_at is not None else None
    if before is None and patch.wake_at is None and patch.wake_timezone is not None:
        raise InvalidNight(
            "An open night takes a wake time zone only with its wake time.", field="wake_timezone"
        )
    sleep_at = patch.sleep_at or record.sleep_at
    sleep_zone = patch.sleep_timezone or record.sleep_timezone
    wake_at = patch.wake_at or record.wake_at
    wake_zone = patch.wake_timezone or record.wake_timezone
    if wake_at is not None and wake_zone is None:  # closing an open night, as clock-out does
        wake_zone = principal.timezone
    times = (sleep_at, sleep_zone, wake_at, wake_zone)
    moved = times != (record.sleep_at, record.sleep_timezone, record.wake_at, record.wake_timezone)
    if moved:
        # The rules of creation: clock-in's for an open night, backfill's for a completed one.
        duration = None
        if wake_at is None:
            _not_in_future(sleep_at, "sleep_at")
        else:
            _not_in_future(wake_at, "wake_at")
            duration = _check_night(
                sleep_at, wake_at, "wake_at" if patch.wake_at is not None else "sleep_at"
            )
        record.sleep_at, record.sleep_timezone = sleep_at, sleep_zone
        record.wake_at, record.wake_timezone = wake_at, wake_zone
        record.duration_seconds = duration
        record.week = iso_week(local_date(sleep_at, sleep_zone))
    _with_details(record, patch, patch.model_fields_set)
    edited = await _written(session, record, lambda: repository.save(session, record))
    if moved and before is not None:
        await night_changed(session, feeds, before, "remove")
    if moved and edited.wake_at is not None:
        await night_changed(session, feeds, Night.of(edited), "add")
    return edited


async def get_record(
    session: AsyncSession, user_id: uuid.UUID, record_id: uuid.UUID
) -> SleepRecord:
    record = await repository.get_own(session, user_id, record_id)
    if record is None:
        raise RecordNotFound(f"No sleep record {record_id}.")
    return record


async def delete_record(
    session: AsyncSession, feeds: FeedCache, user_id: uuid.UUID, record_id: uuid.UUID
) -> None:
    deleted = await repository.delete_own(session, user_id, record_id)
    if deleted is None:
        raise RecordNotFound(f"No sleep record {record_id}.")
    if deleted.wake_at is not None:
        await night_changed(session, feeds, Night.of(deleted), "remove")


async def list_records(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> tuple[list[SleepRecord], str | None]:
    after = page.instant_position("sleep-records")
    rows = await repository.list_own(session, user_id, after, page.limit + 1)
    return page.instant_page("sleep-records", list(rows), lambda r: (r.sleep_at, r.id))


def resolve_week(week: str | None, viewer_timezone: str) -> Week:
    name = week or previous_week(utc_now(), viewer_timezone)
    try:
        return Week.named(name)
    except InvalidWeek as exc:
        raise Unprocessable(str(exc), field="week") from None


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
    listed = [t for t in totals if t[0] in names]
    entries = [
        RankingEntry(rank, user_id, names[user_id], total, nights, longest)
        for rank, (user_id, total, nights, longest) in ranked(listed, lambda t: t[1])
    ]
    return page.slice(f"sleep-ranking:{week.name}", entries)


async def last_night(
    session: AsyncSession, user_id: uuid.UUID, start: datetime, end: datetime
) -> SleepRecord | None:
    """The user's ongoing night, else their night that ended last within [start, end) (a
    local day: the night that ended today)."""
    current = await repository.open_record(session, user_id)
    if current is not None:
        return current
    return await repository.latest_ended(session, user_id, start, end)


@dataclass(frozen=True)
class FriendNight:
    record: SleepRecord
    name: str


async def friends_nights(
    session: AsyncSession, viewer_id: uuid.UUID, start: datetime, end: datetime, limit: int
) -> tuple[list[FriendNight], bool]:
    """The completed nights of the people the viewer follows that ended within [start, end),
    longest first as in the followings feed: at most `limit`, and whether there are more."""
    followees = await social_service.followee_ids(session, viewer_id)
    rows = await repository.ended_in(session, followees, start, end, limit + 1)
    names = await identity_service.user_names(session, [r.user_id for r in rows])
    nights = [FriendNight(r, names[r.user_id]) for r in rows if r.user_id in names]
    return nights[:limit], len(rows) > limit


# Export and import of an account (portability) ---------------------------------------------------


def export_nights(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """The user's nights, earliest first, as NightRecord's fields."""
    return repository.night_rows(session, user_id)


async def has_nights(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return await repository.has_nights(session, user_id)


def _imported(user_id: uuid.UUID, night: NightRecord) -> SleepRecord:
    """An exported night as a record, after the rules of clock-in (an open night) or of a
    backfill (a completed one)."""
    duration = None
    if night.wake_at is None:
        _not_in_future(night.sleep_at, "sleep_at")
    else:
        _not_in_future(night.wake_at, "wake_at")
        duration = _check_night(night.sleep_at, night.wake_at, "wake_at")
    return SleepRecord(
        id=uuid.uuid4(),
        user_id=user_id,
        sleep_at=night.sleep_at,
        wake_at=night.wake_at,
        sleep_timezone=night.sleep_timezone,
        wake_timezone=night.wake_timezone,
        duration_seconds=duration,
        week=iso_week(local_date(night.sleep_at, night.sleep_timezone)),
        rating=night.rating,
        tags=night.tags or [],
        note=night.note,
    )


async def import_nights(
    session: AsyncSession,
    feeds: FeedCache,
    user_id: uuid.UUID,
    items: Sequence[tuple[int, NightRecord]],
) -> int:
    """Store exported nights (keyed by the caller: an import's lines) under every rule of
    creation; the first one refused raises ItemRefused with its key. Each completed night
    reaches the followers' feeds as a backfilled one does (feed.night_changed)."""
    records: list[SleepRecord] = []
    for key, night in items:
        try:
            records.append(_imported(user_id, night))
        except RhythmError as exc:
            raise ItemRefused(key, exc) from None
    try:
        async with session.begin_nested():
            await repository.insert_many(session, records)
    except IntegrityError:
        # One of them overlaps another night, or is a second open one: insert them one at a
        # time (the batch was rolled back) to say which, as a backfill would.
        for (key, _), record in zip(items, records, strict=True):
            try:
                await _written(session, record, partial(repository.insert, session, record))
            except RhythmError as exc:
                raise ItemRefused(key, exc) from None
        raise
    for record in records:
        if record.wake_at is not None:
            await night_changed(session, feeds, Night.of(record), "add")
    return len(records)
