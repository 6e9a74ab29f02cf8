"""Catalog rules: syncs of the provider's feed into rhythm's own data, with full history, and
the searches that answer from that data whatever state the provider is in.

A sync is recorded first (its own transaction), then the feed is fetched, parsed as a stream
(catalog.feed) and applied in one transaction, chunk by chunk: base events and slots upserted,
a version written for every slot that is new, changed or gone (zones are part of a slot's
version, so every zone change is one too), and what this feed no longer lists marked so. Only
base events that were online in at least one sync are searchable; they stay so, with their
latest known values. A sync that changed anything bumps the catalog version, which keys the
search cache.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import structlog
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rhythm.catalog import repository, search_cache
from rhythm.catalog.feed import BaseEvent, FeedError, Rejected, Slot, parse_feed
from rhythm.catalog.provider import ProviderRefused, ProviderUnavailable, fetch
from rhythm.catalog.search_cache import Answer
from rhythm.platform import partitions
from rhythm.platform.bounds import DATE_WINDOW, check_date
from rhythm.platform.database import commit, wrote_for
from rhythm.platform.errors import NotFound
from rhythm.platform.queue import defer
from rhythm.platform.redis import RedisClient

log = structlog.get_logger("rhythm.catalog")

SLOT_NAMESPACE = uuid.UUID("7d7c51f4-59a4-4a8e-9b63-0b8c3c1a2f10")
CHUNK = 250
MAX_ERRORS_KEPT = 1000
# Whose writes a sync's are, for reads on replicas (platform.replicas): search misses wait for
# a replica that has replayed the latest sync, so no answer cached under its version is older.
CATALOG_WRITER = "catalog"


def slot_id(base_event_id: int, event_id: int) -> uuid.UUID:
    """The slot's id: the same for (base_event_id, event_id) in every sync."""
    return uuid.uuid5(SLOT_NAMESPACE, f"{base_event_id}:{event_id}")


def zone_rows(slot: Slot) -> list[dict[str, Any]]:
    """The slot's zones with their identity: zone_id and its occurrence among equal ids (one
    slot can list a zone_id twice, with other prices; both are kept)."""
    seen: dict[int, int] = {}
    rows = []
    for zone in slot.zones:
        ordinal = seen.get(zone.zone_id, 0)
        seen[zone.zone_id] = ordinal + 1
        rows.append(
            {
                "zone_id": zone.zone_id,
                "ordinal": ordinal,
                "name": zone.name,
                "capacity": zone.capacity,
                "price": str(zone.price),
                "numbered": zone.numbered,
            }
        )
    return rows


def slot_state(base: BaseEvent, slot: Slot) -> dict[str, Any]:
    return {
        "base_event_id": base.base_event_id,
        "event_id": slot.event_id,
        "title": base.title,
        "sell_mode": base.sell_mode,
        "organizer_company_id": base.organizer_company_id,
        "starts_at": slot.starts_at.isoformat(),
        "ends_at": slot.ends_at.isoformat(),
        "sell_from": slot.sell_from.isoformat() if slot.sell_from else None,
        "sell_to": slot.sell_to.isoformat() if slot.sell_to else None,
        "sold_out": slot.sold_out,
        "zones": zone_rows(slot),
    }


@dataclass
class Counts:
    events_added: int = 0
    events_changed: int = 0
    events_removed: int = 0
    zones_added: int = 0
    zones_changed: int = 0
    zones_removed: int = 0
    rejected: int = 0

    @property
    def changed_anything(self) -> bool:
        return any(
            (
                self.events_added,
                self.events_changed,
                self.events_removed,
                self.zones_added,
                self.zones_changed,
                self.zones_removed,
            )
        )


def _zone_key(zone: dict[str, Any]) -> tuple[int, int]:
    return zone["zone_id"], zone["ordinal"]


def count_zone_changes(
    before: list[dict[str, Any]], after: list[dict[str, Any]], counts: Counts
) -> None:
    old = {_zone_key(z): z for z in before}
    new = {_zone_key(z): z for z in after}
    counts.zones_added += len(new.keys() - old.keys())
    counts.zones_removed += len(old.keys() - new.keys())
    counts.zones_changed += sum(1 for k in new.keys() & old.keys() if new[k] != old[k])


@dataclass
class Applied:
    counts: Counts = field(default_factory=Counts)
    errors: list[str] = field(default_factory=list)
    seen_slots: set[uuid.UUID] = field(default_factory=set)
    seen_bases: set[int] = field(default_factory=set)


async def apply_feed(
    session: AsyncSession, sync_id: int, items: Iterable[BaseEvent | Rejected], now: datetime
) -> Applied:
    """Apply a parsed feed in the session's transaction (not committed)."""
    applied = Applied()
    chunk: list[BaseEvent] = []
    for item in items:
        if isinstance(item, Rejected):
            applied.counts.rejected += 1
            message = f"base_event {item.base_event_id} event {item.event_id}: {item.reason}"
            log.warning("catalog_event_rejected", detail=message)
            if len(applied.errors) < MAX_ERRORS_KEPT:
                applied.errors.append(message)
            continue
        chunk.append(item)
        if len(chunk) >= CHUNK:
            await _apply_chunk(session, sync_id, chunk, now, applied)
            chunk = []
    if chunk:
        await _apply_chunk(session, sync_id, chunk, now, applied)
    gone = await repository.unlist_missing(
        session, sync_id, list(applied.seen_slots), list(applied.seen_bases), now
    )
    applied.counts.events_removed += len(gone)
    applied.counts.zones_removed += sum(zones for _, zones in gone)
    return applied


async def _apply_chunk(
    session: AsyncSession, sync_id: int, bases: list[BaseEvent], now: datetime, applied: Applied
) -> None:
    await repository.upsert_base_events(session, bases, now)
    applied.seen_bases.update(b.base_event_id for b in bases)
    states = {
        slot_id(base.base_event_id, slot.event_id): (base, slot, slot_state(base, slot))
        for base in bases
        for slot in base.slots
    }
    existing = await repository.slot_states(session, list(states))
    versions: list[tuple[uuid.UUID, dict[str, Any]]] = []
    for sid, (_, _, state) in states.items():
        before = existing.get(sid)
        if before is None or not before[1]:  # new, or listed again
            applied.counts.events_added += 1
            applied.counts.zones_added += len(state["zones"])
            versions.append((sid, state))
        elif before[0] != state:
            applied.counts.events_changed += 1
            count_zone_changes(before[0]["zones"], state["zones"], applied.counts)
            versions.append((sid, state))
    await repository.upsert_slots(session, [(sid, s) for sid, (_, _, s) in states.items()], now)
    await repository.add_versions(session, sync_id, versions)
    applied.seen_slots.update(states)


@dataclass(frozen=True)
class SyncResult:
    sync_id: int
    status: str
    counts: dict[str, int]
    errors: list[str]
    catalog_version: int


async def sync(
    session_factory: async_sessionmaker[AsyncSession],
    redis: RedisClient | None,
    *,
    url: str | None = None,
    path: Path | None = None,
    max_bytes: int,
) -> SyncResult:
    """One sync run from the provider's URL or a file; recorded whatever happens."""
    source = url or str(path)
    async with session_factory() as session:
        previous = await repository.last_validators(session) if url else (None, None)
        sync_id = await repository.start_sync(session, source, utc())
        await commit(session)
    status, counts, errors, etag, modified = "failed", Counts(), [], None, None
    version = 0
    try:
        if url is not None:
            fetched = await fetch(
                url, max_bytes=max_bytes, etag=previous[0], last_modified=previous[1]
            )
            etag, modified = fetched.etag, fetched.last_modified
            body = fetched.body
        else:
            assert path is not None
            body = _open_feed_file(path, max_bytes)
        if body is None:
            status = "unchanged"
        else:
            with body:
                async with session_factory() as session:
                    applied = await apply_feed(session, sync_id, parse_feed(body), utc())
                    counts, errors = applied.counts, applied.errors
                    version = await repository.current_version(session)
                    if counts.changed_anything:
                        version = sync_id  # ids are never reused: neither are versions
                    await repository.finish_sync(
                        session,
                        sync_id,
                        "succeeded",
                        counts.__dict__,
                        errors,
                        etag,
                        modified,
                        version,
                        utc(),
                    )
                    # Search misses read replicas that have replayed the latest sync.
                    wrote_for(session, CATALOG_WRITER)
                    await commit(session)
            status = "succeeded"
    except (FeedError, ProviderRefused, ProviderUnavailable) as exc:
        errors = [*errors, str(exc)]
        log.warning("catalog_sync_failed", sync_id=sync_id, error=str(exc))
        if isinstance(exc, ProviderUnavailable):
            await _record(session_factory, sync_id, "failed", counts, errors, None, None)
            raise
    if status != "succeeded":
        version = await _record(
            session_factory,
            sync_id,
            status,
            counts,
            errors,
            etag if status == "unchanged" else None,
            modified if status == "unchanged" else None,
        )
    if status == "succeeded" and redis is not None:
        await publish_version(redis, version)
    return SyncResult(sync_id, status, counts.__dict__, errors, version)


async def _record(
    session_factory: async_sessionmaker[AsyncSession],
    sync_id: int,
    status: str,
    counts: Counts,
    errors: list[str],
    etag: str | None,
    modified: str | None,
) -> int:
    async with session_factory() as session:
        version = await repository.current_version(session)
        await repository.finish_sync(
            session, sync_id, status, counts.__dict__, errors, etag, modified, version, utc()
        )
        await commit(session)
    return version


def _open_feed_file(path: Path, max_bytes: int) -> IO[bytes]:
    if path.stat().st_size > max_bytes:
        raise ProviderRefused(f"{path} is over {max_bytes} bytes")
    return path.open("rb")


def utc() -> datetime:
    return datetime.now(UTC)


async def publish_version(redis: RedisClient, version: int) -> None:
    """Tell every API process (search_cache); without Redis they poll PostgreSQL."""
    try:
        await search_cache.publish(redis, version)
    except RedisError as exc:
        log.warning("catalog_cache_unavailable", error=str(exc))


# The catalog and its syncs as the API shows them (/api/v1/events and the admin routes)


class SyncNotFound(NotFound, what="Sync"):
    """No feed sync has this id."""


async def base_events(
    session: AsyncSession,
    starts: datetime | None,
    ends: datetime | None,
    after: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Searchable base events after the id `after`, by id, with their slots in the window."""
    return await repository.base_events(session, starts, ends, after, limit)


async def syncs(session: AsyncSession, before: int | None, limit: int) -> list[dict[str, Any]]:
    """Sync runs before the id `before`, latest first."""
    return await repository.syncs(session, before, limit)


async def slots_at(session: AsyncSession, sync_id: int) -> list[dict[str, Any]]:
    """Every slot as it stood after the sync, by start; 404 for a sync that never ran."""
    if not await repository.sync_exists(session, sync_id):
        raise SyncNotFound(f"No sync {sync_id}.")
    states = await repository.state_at(session, sync_id)
    states.sort(key=lambda s: (s["starts_at"], s["base_event_id"], s["event_id"]))
    return states


async def request_sync(session: AsyncSession) -> int:
    """Queue a sync now: the scheduled task (tasks.sync_feed), with its retries; the job id."""
    return await defer(session, "catalog:sync_feed", queue="catalog", timestamp=0)


# Search


class InvalidSearch(ValueError):
    pass


def parse_bound(name: str, value: str | None) -> datetime | None:
    """A search bound: an ISO date-time or date, read on the provider's wall clock, on a date
    from 1970-01-01 to 2199-12-31 (bounds.DATE_WINDOW)."""
    if value is None or value == "":
        return None
    if len(value) > MAX_BOUND_LENGTH or not value.isascii():
        raise InvalidSearch(f"{name} is not an ISO 8601 date-time")
    try:
        if len(value) == 10:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(value)
        check_date(parsed.date())
    except ValueError:
        raise InvalidSearch(
            f"{name} is not an ISO 8601 date-time {DATE_WINDOW}: {value!r}"
        ) from None
    return parsed.replace(tzinfo=None)


MAX_BOUND_LENGTH = 64


def normalise_bounds(
    starts: datetime | None, ends: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """The bounds to whole seconds, with the same answer: slots start and end on whole seconds
    (catalog.feed), so a slot starting at or after `starts` starts at or after `starts` rounded
    up, and one ending at or before `ends` ends at or before `ends` rounded down. Cache keys and
    queries use these, so bounds differing below the second share one entry."""
    if starts is not None and starts.microsecond:
        floor = starts.replace(microsecond=0)
        # Past the last representable second nothing can start: datetime.max stands for it.
        starts = floor + timedelta(seconds=1) if floor < _LAST_SECOND else datetime.max
    if ends is not None and ends.microsecond:
        ends = ends.replace(microsecond=0)
    return starts, ends


_LAST_SECOND = datetime.max.replace(microsecond=0)


def search_key(version: int, starts: datetime | None, ends: datetime | None) -> str:
    query = f"{starts.isoformat() if starts else ''}|{ends.isoformat() if ends else ''}"
    return f"catalog:search:{search_cache.TAG}:{version}:{query}"


def etag_for(key: str) -> str:
    return '"' + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:20] + '"'


async def search(
    session: AsyncSession, starts: datetime | None, ends: datetime | None, max_events: int
) -> Answer:
    """The answer for these bounds: at most `max_events` events, flagged when more matched."""
    rows = await repository.search(session, starts, ends, max_events + 1)
    return search_answer(rows, max_events)


def search_answer(rows: list[repository.SlotRow], max_events: int) -> Answer:
    """The contract's body for the first `max_events` rows; `rows` holds one more when more
    matched (repository.search's limit), which marks the answer truncated."""
    events = [
        {
            "id": str(r.id),
            "title": r.title,
            "start_date": r.starts_at.date().isoformat(),
            "start_time": r.starts_at.time().isoformat(),
            "end_date": r.ends_at.date().isoformat(),
            "end_time": r.ends_at.time().isoformat(),
            "min_price": _number(r.min_price),
            "max_price": _number(r.max_price),
        }
        for r in rows[:max_events]
    ]
    body = json.dumps({"data": {"events": events}, "error": None}, separators=(",", ":"))
    return Answer(body.encode(), len(rows) > max_events)


def _number(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


async def keep_history_partitions(
    session: AsyncSession, now: datetime, months_ahead: int, retention_months: int | None
) -> partitions.Upkeep:
    """Make catalog_slot_versions' partitions from MONTHS_BACK months before `now`'s (UTC)
    month to `months_ahead` after it; with a retention, drop the versions of syncs of the
    months before the last `retention_months` (this month included). Each slot's latest
    dropped version is kept first at the first sync after the cutoff, so every kept sync's
    state stays whole; with no sync after the cutoff, nothing is dropped. The states of the
    dropped syncs are gone."""
    made, before = await partitions.make_ahead(
        session, "catalog_slot_versions", now, months_ahead, retention_months
    )
    if before is None or not await repository.carry_versions_to(session, before):
        return partitions.Upkeep(made, [], 0)
    dropped = await partitions.drop_months_before(session, "catalog_slot_versions", before.date())
    deleted = await repository.delete_versions_before(session, before)
    return partitions.Upkeep(made, dropped, deleted)
