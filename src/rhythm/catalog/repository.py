"""Every SQL statement of the catalog context (syncs write with arrays, through asyncpg)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.catalog.feed import BaseEvent
from rhythm.platform.database import driver_connection


async def last_validators(session: AsyncSession) -> tuple[str | None, str | None]:
    """ETag and Last-Modified of the latest sync that read the feed."""
    driver = await driver_connection(session)
    row = await driver.fetchrow(
        "SELECT etag, last_modified FROM catalog_syncs"
        " WHERE status IN ('succeeded', 'unchanged') AND source LIKE 'http%'"
        " ORDER BY id DESC LIMIT 1"
    )
    return (row["etag"], row["last_modified"]) if row else (None, None)


async def start_sync(session: AsyncSession, source: str, now: datetime) -> int:
    driver = await driver_connection(session)
    sync_id: int = await driver.fetchval(
        "INSERT INTO catalog_syncs (source, started_at, status) VALUES ($1, $2, 'running')"
        " RETURNING id",
        source,
        now,
    )
    return sync_id


async def finish_sync(
    session: AsyncSession,
    sync_id: int,
    status: str,
    counts: dict[str, int],
    errors: list[str],
    etag: str | None,
    last_modified: str | None,
    version: int,
    now: datetime,
) -> None:
    driver = await driver_connection(session)
    await driver.execute(
        "UPDATE catalog_syncs SET status = $2, counts = $3::jsonb, errors = $4::jsonb,"
        " etag = $5, last_modified = $6, catalog_version = $7, finished_at = $8 WHERE id = $1",
        sync_id,
        status,
        json.dumps(counts),
        json.dumps(errors),
        etag,
        last_modified,
        version,
        now,
    )


async def current_version(session: AsyncSession) -> int:
    driver = await driver_connection(session)
    version = await driver.fetchval(
        "SELECT coalesce(max(catalog_version), 0) FROM catalog_syncs WHERE status = 'succeeded'"
    )
    return int(version)


async def upsert_base_events(
    session: AsyncSession, bases: Sequence[BaseEvent], now: datetime
) -> None:
    driver = await driver_connection(session)
    await driver.execute(
        "INSERT INTO catalog_base_events AS b (base_event_id, title, sell_mode,"
        " organizer_company_id, ever_online, currently_listed, first_seen_at, last_seen_at)"
        " SELECT i, t, m, o, m = 'online', true, $5, $5"
        " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) AS x (i, t, m, o)"
        " ON CONFLICT (base_event_id) DO UPDATE SET title = excluded.title,"
        " sell_mode = excluded.sell_mode, organizer_company_id = excluded.organizer_company_id,"
        " ever_online = b.ever_online OR excluded.ever_online, currently_listed = true,"
        " last_seen_at = excluded.last_seen_at",
        [b.base_event_id for b in bases],
        [b.title for b in bases],
        [b.sell_mode for b in bases],
        [b.organizer_company_id for b in bases],
        now,
    )


async def slot_states(
    session: AsyncSession, slot_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[dict[str, Any], bool]]:
    """(latest state, currently listed) of the slots known."""
    driver = await driver_connection(session)
    rows = await driver.fetch(
        "SELECT s.id, s.currently_listed, v.state::text AS state FROM catalog_slots AS s"
        " CROSS JOIN LATERAL (SELECT state FROM catalog_slot_versions"
        "  WHERE slot_id = s.id AND state IS NOT NULL ORDER BY sync_id DESC LIMIT 1) AS v"
        " WHERE s.id = ANY($1::uuid[])",
        list(slot_ids),
    )
    return {r["id"]: (json.loads(r["state"]), r["currently_listed"]) for r in rows}


async def upsert_slots(
    session: AsyncSession, slots: Sequence[tuple[uuid.UUID, dict[str, Any]]], now: datetime
) -> None:
    columns: list[list[Any]] = [[] for _ in range(11)]
    for sid, s in slots:
        prices = [Decimal(z["price"]) for z in s["zones"]]
        values = [
            sid,
            s["base_event_id"],
            s["event_id"],
            datetime.fromisoformat(s["starts_at"]),
            datetime.fromisoformat(s["ends_at"]),
            datetime.fromisoformat(s["sell_from"]) if s["sell_from"] else None,
            datetime.fromisoformat(s["sell_to"]) if s["sell_to"] else None,
            s["sold_out"],
            min(prices) if prices else None,
            max(prices) if prices else None,
            json.dumps(s["zones"], separators=(",", ":")),
        ]
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    driver = await driver_connection(session)
    await driver.execute(
        "INSERT INTO catalog_slots AS s (id, base_event_id, event_id, starts_at, ends_at,"
        " sell_from, sell_to, sold_out, min_price, max_price, zones, currently_listed,"
        " first_seen_at, last_seen_at)"
        " SELECT id, b, e, st, en, sf, se, so, mi, ma, z::jsonb, true, $12, $12"
        " FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::timestamp[],"
        " $5::timestamp[], $6::timestamp[], $7::timestamp[], $8::bool[], $9::numeric[],"
        " $10::numeric[], $11::text[]) AS x (id, b, e, st, en, sf, se, so, mi, ma, z)"
        " ON CONFLICT (id) DO UPDATE SET starts_at = excluded.starts_at,"
        " ends_at = excluded.ends_at, sell_from = excluded.sell_from,"
        " sell_to = excluded.sell_to, sold_out = excluded.sold_out,"
        " min_price = excluded.min_price, max_price = excluded.max_price,"
        " zones = excluded.zones, currently_listed = true, last_seen_at = excluded.last_seen_at",
        *columns,
        now,
    )


async def add_versions(
    session: AsyncSession, sync_id: int, versions: Sequence[tuple[uuid.UUID, dict[str, Any]]]
) -> None:
    if not versions:
        return
    driver = await driver_connection(session)
    await driver.execute(
        "INSERT INTO catalog_slot_versions (slot_id, sync_id, synced_at, state)"
        # synced_at, the partition key (by month): the sync's start.
        " SELECT id, $3, (SELECT started_at FROM catalog_syncs WHERE id = $3), s::jsonb"
        " FROM unnest($1::uuid[], $2::text[]) AS x (id, s)",
        [sid for sid, _ in versions],
        [json.dumps(state, separators=(",", ":")) for _, state in versions],
        sync_id,
    )


async def unlist_missing(
    session: AsyncSession,
    sync_id: int,
    seen_slots: Sequence[uuid.UUID],
    seen_bases: Sequence[int],
    now: datetime,
) -> list[tuple[uuid.UUID, int]]:
    """Mark what this feed no longer lists (a `gone` version per slot); (slot, zone count) of
    the slots that went."""
    driver = await driver_connection(session)
    rows = await driver.fetch(
        "WITH gone AS (UPDATE catalog_slots SET currently_listed = false"
        " WHERE currently_listed AND NOT (id = ANY($1::uuid[]))"
        " RETURNING id, jsonb_array_length(zones) AS zones),"
        " v AS (INSERT INTO catalog_slot_versions (slot_id, sync_id, synced_at, state)"
        " SELECT id, $2, (SELECT started_at FROM catalog_syncs WHERE id = $2), NULL FROM gone)"
        " SELECT id, zones FROM gone",
        list(seen_slots),
        sync_id,
    )
    await driver.execute(
        "UPDATE catalog_base_events SET currently_listed = false"
        " WHERE currently_listed AND NOT (base_event_id = ANY($1::bigint[]))",
        list(seen_bases),
    )
    return [(r["id"], r["zones"]) for r in rows]


@dataclass(frozen=True)
class SlotRow:
    id: uuid.UUID
    title: str
    starts_at: datetime
    ends_at: datetime
    min_price: Decimal | None
    max_price: Decimal | None


async def search(
    session: AsyncSession, starts: datetime | None, ends: datetime | None, limit: int
) -> list[SlotRow]:
    """The first `limit` slots of base events ever online, starting at or after `starts` and
    ending at or before `ends`, by start."""
    driver = await driver_connection(session)
    rows = await driver.fetch(
        "SELECT s.id, b.title, s.starts_at, s.ends_at, s.min_price, s.max_price"
        " FROM catalog_slots AS s JOIN catalog_base_events AS b USING (base_event_id)"
        " WHERE b.ever_online"
        " AND ($1::timestamp IS NULL OR s.starts_at >= $1)"
        " AND ($2::timestamp IS NULL OR s.ends_at <= $2)"
        " ORDER BY s.starts_at, s.id LIMIT $3",
        starts,
        ends,
        limit,
    )
    return [
        SlotRow(r["id"], r["title"], r["starts_at"], r["ends_at"], r["min_price"], r["max_price"])
        for r in rows
    ]


async def syncs(session: AsyncSession, before: int | None, limit: int) -> list[dict[str, Any]]:
    driver = await driver_connection(session)
    rows = await driver.fetch(
        "SELECT id, source, started_at, finished_at, status, counts::text AS counts,"
        " errors::text AS errors, catalog_version FROM catalog_syncs"
        " WHERE $1::bigint IS NULL OR id < $1 ORDER BY id DESC LIMIT $2",
        before,
        limit,
    )
    return [
        {**dict(r), "counts": json.loads(r["counts"]), "errors": json.loads(r["errors"])}
        for r in rows
    ]


async def state_at(session: AsyncSession, sync_id: int) -> list[dict[str, Any]]:
    """Every slot as it stood after a sync: its latest version at or before it, unless gone."""
    driver = await driver_connection(session)
    rows = await driver.fetch(
        "SELECT DISTINCT ON (slot_id) slot_id, state::text AS state FROM catalog_slot_versions"
        " WHERE sync_id <= $1 ORDER BY slot_id, sync_id DESC",
        sync_id,
    )
    return [json.loads(r["state"]) for r in rows if r["state"] is not None]


async def base_events(
    session: AsyncSession,
    starts: datetime | None,
    ends: datetime | None,
    after: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Searchable base events with their slots (and zones) in the window, by id."""
    driver = await driver_connection(session)
    rows = await driver.fetch(
        "SELECT b.base_event_id, b.title, b.sell_mode, b.organizer_company_id,"
        " b.first_seen_at, b.last_seen_at, b.currently_listed,"
        " json_agg(json_build_object('id', s.id, 'event_id', s.event_id,"
        "  'starts_at', s.starts_at, 'ends_at', s.ends_at, 'sell_from', s.sell_from,"
        "  'sell_to', s.sell_to, 'sold_out', s.sold_out, 'min_price', s.min_price,"
        "  'max_price', s.max_price, 'currently_listed', s.currently_listed,"
        "  'zones', s.zones) ORDER BY s.starts_at, s.id)::text AS slots"
        " FROM catalog_base_events AS b JOIN catalog_slots AS s USING (base_event_id)"
        " WHERE b.ever_online AND ($3::bigint IS NULL OR b.base_event_id > $3)"
        " AND ($1::timestamp IS NULL OR s.starts_at >= $1)"
        " AND ($2::timestamp IS NULL OR s.ends_at <= $2)"
        " GROUP BY b.base_event_id ORDER BY b.base_event_id LIMIT $4",
        starts,
        ends,
        after,
        limit,
    )
    return [{**dict(r), "slots": json.loads(r["slots"])} for r in rows]


async def sync_exists(session: AsyncSession, sync_id: int) -> bool:
    driver = await driver_connection(session)
    return bool(await driver.fetchval("SELECT 1 FROM catalog_syncs WHERE id = $1", sync_id))


async def carry_versions_to(session: AsyncSession, before: datetime) -> bool:
    """Before the versions of syncs started before `before` go: give every slot its latest
    such version at the first sync started at or after it (unless it has one there), so that
    every later sync's state (state_at) is still whole. False: no such sync, nothing to keep
    the state at (the versions must stay)."""
    driver = await driver_connection(session)
    kept = await driver.fetchrow(
        "SELECT id, started_at FROM catalog_syncs WHERE started_at >= $1 ORDER BY id LIMIT 1",
        before,
    )
    if kept is None:
        return False
    await driver.execute(
        "INSERT INTO catalog_slot_versions (slot_id, sync_id, synced_at, state)"
        " SELECT DISTINCT ON (slot_id) slot_id, $2::bigint, $3::timestamptz, state"
        " FROM catalog_slot_versions WHERE synced_at < $1 ORDER BY slot_id, sync_id DESC"
        " ON CONFLICT DO NOTHING",
        before,
        kept["id"],
        kept["started_at"],
    )
    return True


async def delete_versions_before(session: AsyncSession, before: datetime) -> int:
    """Delete the versions of syncs started before `before` that are left (in the default
    partition)."""
    driver = await driver_connection(session)
    status = await driver.execute("DELETE FROM catalog_slot_versions WHERE synced_at < $1", before)
    return int(status.rsplit(" ", 1)[1])
