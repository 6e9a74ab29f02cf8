"""Usage rules: heartbeats merged into intervals as ActivityWatch merges them, durably, and
reports per app, domain or title for local days.

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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rhythm.platform.batching import GroupCommit
from rhythm.platform.bounds import EPOCH
from rhythm.platform.errors import Conflict, NotFound, Unprocessable
from rhythm.platform.timeutil import local_day_start
from rhythm.usage import activity, repository
from rhythm.usage.merge import BucketStream, Event, derived, fill_gap
from rhythm.usage.models import UsageBucket
from rhythm.usage.repository import BucketRef

log = structlog.get_logger("rhythm.usage")

MAX_REPORT_DAYS = 92
REPORT_TYPES = ("currentwindow", "web.tab.current")
V1_BUCKET_TYPE = "currentwindow"
AFK_BUCKET_TYPE = "afkstatus"  # aw-watcher-afk's; its events' data.status is afk | not-afk
WEB_BUCKET_TYPE = "web.tab.current"
ACTIVITY_TYPES = (V1_BUCKET_TYPE, AFK_BUCKET_TYPE, WEB_BUCKET_TYPE)
UNKNOWN_HOST = "unknown"  # aw-watcher-web's hostname before it knew one
EXCLUSION_VIOLATION = "23P01"


class BucketNotFound(NotFound):
    slug = "bucket-not-found"
    title = "Bucket not found"


class EventNotFound(NotFound):
    slug = "event-not-found"
    title = "Event not found"


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


class HeartbeatWriter:
    """Merges deliveries by group commit; each delivery's outcome is the event its last
    heartbeat ended in (None when that heartbeat was late and dropped)."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._commits: GroupCommit[Delivery, Event | None] = GroupCommit(
            session_factory, _write, "usage", max_batch=100
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
    buckets = await repository.ensure_buckets(session, list(wanted.values()))
    found = [buckets[key] for key in wanted if key in buckets]
    await repository.lock_buckets(session, [b.pk for b in found])
    lasts = await repository.last_events(session, [b.pk for b in found])
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


@dataclass(frozen=True)
class DayUsage:
    day: date
    total_seconds: float
    items: list[tuple[str, float]]  # (key, seconds), most first


def day_bounds(first: date, last: date, zone: str) -> list[tuple[date, datetime, datetime]]:
    days: list[tuple[date, datetime, datetime]] = []
    day = first
    while day <= last:
        following = day + timedelta(days=1)
        days.append((day, local_day_start(day, zone), local_day_start(following, zone)))
        day = following
    return days


def afk_bucket_name(host: str) -> str:
    """The v1 AFK bucket of a host: the name aw-watcher-afk gives its own."""
    return f"aw-watcher-afk_{host}"


# The report keys of an event's data (activity.Keys) per `group_by`. Another key (category:
# the paths of the user's rules that match) is one more entry here, and window events are
# what it counts (as aw-webui categorizes `events`).
def _app_keys(data: dict[str, Any]) -> tuple[str, ...]:
    app = derived(data)[0]
    return () if app is None else (app,)


def _title_keys(data: dict[str, Any]) -> tuple[str, ...]:
    title = derived(data)[1]
    return () if title is None else (title,)


def _domain_keys(data: dict[str, Any]) -> tuple[str, ...]:
    domain = derived(data)[3]
    return () if domain is None else (domain,)


REPORT_KEYS: dict[str, activity.Keys] = {
    "app": _app_keys,
    "title": _title_keys,
    "domain": _domain_keys,
}
WEB_KEYS = frozenset({"domain"})  # counted on web-tab time, not on active window time


def _check_days(first: date, last: date) -> None:
    if first > last:
        raise Unprocessable("`from` must not be after `to`.", field="query.from")
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        raise Unprocessable(f"At most {MAX_REPORT_DAYS} days per call.", field="query.to")


async def usage_by_day(
    session: AsyncSession,
    user_id: uuid.UUID,
    first: date,
    last: date,
    zone: str,
    group_by: str,
    count: str = "active",
) -> list[DayUsage]:
    """Each local date's usage per key. `count="active"`: as aw-webui counts it (active_days);
    `count="all"`: every recorded second, the union over all sources, and per key the union of
    that key's intervals. Intervals crossing local midnight are split at it."""
    _check_days(first, last)
    if count == "active":
        return [
            DayUsage(day.day, day.total_seconds, activity.tally(day.parts, REPORT_KEYS[group_by]))
            for day in await active_days(session, user_id, first, last, zone, group_by)
        ]
    rows = await repository.report(
        session, user_id, day_bounds(first, last, zone), group_by, REPORT_TYPES
    )
    totals: dict[date, float] = {}
    items: dict[date, list[tuple[str, float]]] = {}
    for day, key, seconds in rows:
        if key is None:
            totals[day] = seconds
        else:
            items.setdefault(day, []).append((key, seconds))
    out: list[DayUsage] = []
    day = first
    while day <= last:
        ranked = sorted(items.get(day, []), key=lambda kv: (-kv[1], kv[0]))
        out.append(DayUsage(day, totals.get(day, 0.0), ranked))
        day += timedelta(days=1)
    return out


@dataclass(frozen=True)
class ActiveDay:
    """One local day's counted events: `parts` holds one list of spans per host (window time,
    or web-tab time for WEB_KEYS), each list free of overlaps; `total_seconds` is the active
    window time of all hosts together."""

    day: date
    total_seconds: float
    parts: list[list[activity.Span]]


@dataclass
class _Host:
    window: list[uuid.UUID] = field(default_factory=list)
    afk: list[uuid.UUID] = field(default_factory=list)
    web: list[tuple[str, uuid.UUID]] = field(default_factory=list)  # (browser, bucket)


def _hosts(buckets: Sequence[repository.ActivityBucket]) -> dict[str, _Host]:
    """Buckets by host, as aw-webui pairs them: a host's window and AFK buckets share its
    hostname; its browsers' web-tab buckets too, or else those of the host `unknown`."""
    hosts: dict[str, _Host] = {}
    for b in buckets:
        if b.type == V1_BUCKET_TYPE:
            hosts.setdefault(b.hostname, _Host()).window.append(b.pk)
    for b in buckets:
        if b.type == AFK_BUCKET_TYPE and b.hostname in hosts:
            hosts[b.hostname].afk.append(b.pk)
    web: dict[str, list[repository.ActivityBucket]] = {}
    for b in buckets:
        if b.type == WEB_BUCKET_TYPE:
            web.setdefault(b.hostname, []).append(b)
    for name, host in hosts.items():
        own = web.get(name) or web.get(UNKNOWN_HOST, [])
        pks = {b.name: b.pk for b in own}
        host.web = [(browser, pks[bucket]) for browser, bucket in activity.browsers(list(pks))]
    return hosts


async def active_days(
    session: AsyncSession,
    user_id: uuid.UUID,
    first: date,
    last: date,
    zone: str,
    group_by: str,
) -> list[ActiveDay]:
    """Each local day's counted events, as aw-webui's canonical query counts them per host
    (activity.count_host_day): window time when the host was not AFK (all of it for a host
    without an AFK bucket) and, for WEB_KEYS, web-tab time while the browser was the active
    window, with no AFK filter (aw-webui's domain view). A host without web-tab buckets counts
    its window events' own URLs (the v1 API's heartbeats carry them)."""
    _check_days(first, last)
    bounds = day_bounds(first, last, zone)
    micros = [(_micros(ds), _micros(de)) for _, ds, de in bounds]
    buckets = await repository.activity_buckets(session, user_id, ACTIVITY_TYPES)
    hosts = _hosts(buckets)
    wanted = {pk for h in hosts.values() for pk in (*h.window, *h.afk, *(p for _, p in h.web))}
    found = (
        await repository.activity_spans(session, user_id, list(wanted), bounds[0][1], bounds[-1][2])
        if wanted
        else {}
    )
    by_day = {pk: activity.split_days(spans, micros) for pk, spans in found.items()}
    nothing: list[list[activity.Span]] = [[] for _ in bounds]
    web_keys = group_by in WEB_KEYS
    out: list[ActiveDay] = []
    for k, (day, _, _) in enumerate(bounds):
        windows: list[list[activity.Span]] = []
        parts: list[list[activity.Span]] = []
        for host in hosts.values():
            counted = activity.count_host_day(
                activity.HostDay(
                    window=[s for pk in host.window for s in by_day.get(pk, nothing)[k]],
                    afk=[s for pk in host.afk for s in by_day.get(pk, nothing)[k]]
                    if host.afk
                    else None,
                    web={b: by_day.get(pk, nothing)[k] for b, pk in host.web},
                )
            )
            windows.append(counted.window)
            if not web_keys:
                parts.append(counted.window)
            elif host.web:
                parts.append(counted.web)
            else:
                parts.append(counted.flooded)
        total = (
            sum(s[1] - s[0] for s in windows[0]) / 1_000_000
            if len(windows) == 1
            else activity.union_seconds(s for spans in windows for s in spans)
        )
        out.append(ActiveDay(day, total, parts))
    return out


def _micros(instant: datetime) -> int:
    return (instant - EPOCH) // timedelta(microseconds=1)


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
