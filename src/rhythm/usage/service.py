"""Usage rules: heartbeats (window, web-tab and AFK status) merged into intervals as
ActivityWatch merges them, durably; buckets and their events. Reports are in reports.py.

Heartbeats are written by group commit (batching.GroupCommit): a request is answered once the
transaction that merged its heartbeats has committed, so an acknowledged heartbeat survives a
crash. Within a batch, each bucket's heartbeats are applied in arrival order under a per-bucket
lock (merge.BucketStream); heartbeats older than the bucket's last event are placed with
merge.fill_gap.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rhythm.platform import partitions
from rhythm.platform.batching import GroupCommit
from rhythm.platform.database import wrote_for
from rhythm.platform.errors import Conflict, NotFound
from rhythm.usage import repository
from rhythm.usage.merge import BucketStream, Event, fill_gap
from rhythm.usage.models import UsageBucket
from rhythm.usage.repository import BucketRef

log = structlog.get_logger("rhythm.usage")

V1_BUCKET_TYPE = "currentwindow"
AFK_BUCKET_TYPE = "afkstatus"  # aw-watcher-afk's; its events' data.status is afk | not-afk
WEB_BUCKET_TYPE = "web.tab.current"
EXCLUSION_VIOLATION = "23P01"
# A bucket's latest event is looked for in the partitions of this last span first (the
# months before are read only for a bucket with no event since).
RECENT_EVENTS = timedelta(days=35)


class BucketNotFound(NotFound, what="Bucket"):
    """The caller has no bucket of this name."""


class EventNotFound(NotFound, what="Event"):
    """The bucket has no event of this id."""


@dataclass(frozen=True)
class Heartbeat:
    bucket: str  # the bucket's name: the v1 `source`, or the AW bucket id
    event: Event  # [timestamp, timestamp + duration] and its data
    pulsetime: float
    # What a v1 bucket is made with on first use (the /api/0 API makes none).
    type: str = V1_BUCKET_TYPE
    host: str = ""


@dataclass(frozen=True)
class Delivery:
    """One request's heartbeats, in order: written all or nothing."""

    user_id: uuid.UUID
    heartbeats: Sequence[Heartbeat]
    create_buckets: bool  # the v1 API makes a source's bucket on first use; /api/0 does not


MAX_QUEUED = 20_000  # heartbeats per process: 20 bulk requests, or 200 full batches


class HeartbeatWriter:
    """Merges deliveries by group commit; each delivery's outcome is the event its last
    heartbeat ended in (None when that heartbeat was late and dropped)."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        # At most MAX_QUEUED heartbeats wait in this process; beyond, requests wait for room.
        self._commits: GroupCommit[Delivery, Event | None] = GroupCommit(
            session_factory,
            _write,
            "usage",
            max_batch=100,
            max_queued=MAX_QUEUED,
            weight=lambda d: len(d.heartbeats),
        )

    async def deliver(self, delivery: Delivery) -> Event | None:
        return await self._commits.submit(delivery)

    async def flush(self) -> None:
        await self._commits.flush()


async def _write(session: AsyncSession, batch: list[Delivery]) -> list[Event | Exception | None]:
    wanted = {
        (d.user_id, h.bucket): (d.user_id, h.bucket, h.type, d.create_buckets, h.host or h.bucket)
        for d in batch
        for h in d.heartbeats
    }
    for user_id in {d.user_id for d in batch}:
        wrote_for(session, user_id)
    buckets = await repository.ensure_buckets(session, list(wanted.values()))
    found = [buckets[key] for key in wanted if key in buckets]
    await repository.lock_buckets(session, [b.pk for b in found])
    lasts = await repository.last_events(
        session, [b.pk for b in found], datetime.now(UTC) - RECENT_EVENTS
    )
    streams = {b.pk: BucketStream(lasts.get(b.pk)) for b in found}
    outcomes: list[Event | Exception | None] = []
    for delivery in batch:
        missing = [
            h.bucket for h in delivery.heartbeats if (delivery.user_id, h.bucket) not in buckets
        ]
        if missing:
            outcomes.append(BucketNotFound(f"No bucket {missing[0]!r}."))
            continue
        result: Event | None = None
        for heartbeat in delivery.heartbeats:
            stream = streams[buckets[(delivery.user_id, heartbeat.bucket)].pk]
            result = stream.push(heartbeat.event, heartbeat.pulsetime)
        outcomes.append(result)
    by_pk = {b.pk: b for b in found}
    await repository.set_ends(session, [e for s in streams.values() for e in s.updated.values()])
    await repository.insert_events(
        session, [(by_pk[pk], e) for pk, s in streams.items() for e in s.inserted]
    )
    for pk, stream in streams.items():
        if stream.late:
            await _place_late(session, by_pk[pk], stream.late)
    return outcomes


async def _place_late(
    session: AsyncSession, bucket: BucketRef, late: list[tuple[Event, float]]
) -> None:
    """Place heartbeats older than their bucket's last event (merge.fill_gap), reading the
    events around them once and writing the changes together."""
    reach = timedelta(seconds=max(p for _, p in late))
    first = min(h.start for h, _ in late) - reach
    last = max(h.end for h, _ in late)
    events = await repository.window(session, bucket.pk, first, last)
    starts = [e.start for e in events]
    changed: dict[int, Event] = {}
    added: list[Event] = []
    for heartbeat, pulsetime in late:
        at = bisect.bisect_right(starts, heartbeat.start)
        previous = events[at - 1] if at > 0 else None
        next_start = starts[at] if at < len(starts) else None
        placed = fill_gap(previous, next_start, heartbeat, pulsetime)
        if placed.extend is not None and previous is not None:
            previous.end = placed.extend.end
            if previous.id is not None:
                changed[previous.id] = previous
        if placed.insert is not None:
            events.insert(at, placed.insert)
            starts.insert(at, placed.insert.start)
            added.append(placed.insert)
    await repository.set_ends(session, list(changed.values()))
    await repository.insert_events(session, [(bucket, e) for e in added])


def afk_bucket_name(host: str) -> str:
    """The v1 AFK bucket of a host: the name aw-watcher-afk gives its own."""
    return f"aw-watcher-afk_{host}"


async def buckets_of(session: AsyncSession, user_id: uuid.UUID) -> Sequence[UsageBucket]:
    """The user's buckets, by name."""
    return await repository.buckets_of(session, user_id)


async def require_bucket(session: AsyncSession, user_id: uuid.UUID, name: str) -> UsageBucket:
    found = await repository.bucket(session, user_id, name)
    if found is None:
        raise BucketNotFound(f"No bucket {name!r}.")
    return found


async def create_bucket(
    session: AsyncSession, user_id: uuid.UUID, name: str, type_: str, client: str, hostname: str
) -> bool:
    """Create the bucket unless it exists; whether it was created."""
    return await repository.create_bucket(session, user_id, name, type_, client, hostname)


async def delete_bucket(session: AsyncSession, user_id: uuid.UUID, name: str) -> None:
    """Delete the bucket and its events; 404 when there is none."""
    if not await repository.delete_bucket(session, user_id, name):
        raise BucketNotFound(f"No bucket {name!r}.")


async def intervals(
    session: AsyncSession,
    user_id: uuid.UUID,
    source: str | None,
    start: datetime | None,
    end: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[str, Event]]:
    """The user's intervals (of every source, or of one) overlapping [start, end], newest
    first, after the (start, id) position: (source, interval) pairs."""
    names = {
        b.id: b.name
        for b in await repository.buckets_of(session, user_id)
        if source is None or b.name == source
    }
    if not names:
        return []
    found = await repository.events(session, list(names), start, end, after, limit)
    return [(names[pk], event) for pk, event in found]


async def bucket_events(
    session: AsyncSession,
    bucket: UsageBucket,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[Event]:
    """The bucket's events overlapping [start, end], newest first."""
    found = await repository.events(session, [bucket.id], start, end, None, limit)
    return [event for _, event in found]


async def count_events(
    session: AsyncSession, bucket: UsageBucket, start: datetime | None, end: datetime | None
) -> int:
    """How many of the bucket's events overlap [start, end]."""
    return await repository.count_events(session, bucket.id, start, end)


async def delete_event(session: AsyncSession, bucket: UsageBucket, event_id: int) -> None:
    """Delete one event of the bucket; 404 when it has none of that id."""
    if not await repository.delete_event(session, bucket.id, event_id):
        raise EventNotFound(f"No event {event_id} in {bucket.name!r}.")


class Overlap(Conflict):
    slug = "overlapping-events"
    title = "Overlapping events"


async def insert_events(session: AsyncSession, bucket: UsageBucket, events: list[Event]) -> None:
    """Insert events as they are; a bucket's events never overlap, so one that would is a 409."""
    ref = BucketRef(bucket.id, bucket.user_id, bucket.name, bucket.type)
    await repository.lock_buckets(session, [bucket.id])
    try:
        await repository.insert_events(session, [(ref, e) for e in events])
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == EXCLUSION_VIOLATION:
            raise Overlap("An event overlaps another event of this bucket.") from None
        raise


def event_json(event: Event) -> dict[str, Any]:
    """An event in ActivityWatch's shape (UTC, `+00:00`)."""
    return {
        "id": event.id,
        "timestamp": event.start.astimezone(UTC).isoformat(),
        "duration": event.duration.total_seconds(),
        "data": event.data,
    }


async def keep_partitions(
    session: AsyncSession, now: datetime, months_ahead: int, retention_months: int | None
) -> partitions.Upkeep:
    """Make usage_events' partitions from MONTHS_BACK months before `now`'s (UTC) month to
    `months_ahead` after it; with a retention, drop the events of the months before the last
    `retention_months` (this month included), whole partitions at a time."""
    made, before = await partitions.make_ahead(
        session, "usage_events", now, months_ahead, retention_months
    )
    if before is None:
        return partitions.Upkeep(made, [], 0)
    await repository.forget_crossings_before(session, before)
    dropped = await partitions.drop_months_before(session, "usage_events", before.date())
    deleted = await repository.delete_events_before(session, before)
    return partitions.Upkeep(made, dropped, deleted)
