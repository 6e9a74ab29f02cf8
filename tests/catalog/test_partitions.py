"""catalog_slot_versions is partitioned by month of its sync's start (migration 0012): versions
land in their sync's month, and the retention drops old months while every later sync's state
stays whole."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from rhythm.catalog import repository, service
from rhythm.migrations import upgrade
from rhythm.platform import partitions
from rhythm.platform.database import commit, create_engine, create_session_factory
from rhythm.platform.settings import Settings


@pytest.fixture
async def migrated(scratch_database: str, settings: Settings) -> AsyncIterator[Any]:
    upgrade(scratch_database)
    engine = create_engine(scratch_database, pool_size=2, pooler=settings.database_pooler)
    yield create_session_factory(engine)
    await engine.dispose()


def _slot(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


async def _catalog(session: Any, slots: int) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    await session.execute(
        text(
            "INSERT INTO catalog_base_events VALUES (1, 'Show', 'online', NULL, true, true,"
            " :now, :now)"
        ),
        {"now": now},
    )
    for n in range(slots):
        await session.execute(
            text(
                "INSERT INTO catalog_slots (id, base_event_id, event_id, starts_at, ends_at,"
                " sold_out, zones, currently_listed, first_seen_at, last_seen_at)"
                " VALUES (:id, 1, :n, '2030-06-01', '2030-06-02', false, '[]', true, :now, :now)"
            ),
            {"id": _slot(n), "n": n, "now": now},
        )


async def _sync(session: Any, at: datetime, states: dict[int, dict[str, Any] | None]) -> int:
    sync_id = await repository.start_sync(session, "test", at)
    await repository.add_versions(
        session, sync_id, [(_slot(n), s) for n, s in states.items() if s is not None]
    )
    gone = [_slot(n) for n, s in states.items() if s is None]
    if gone:
        await session.execute(
            text(
                "INSERT INTO catalog_slot_versions (slot_id, sync_id, synced_at, state)"
                " SELECT unnest(CAST(:g AS uuid[])), :s, :at, NULL"
            ),
            {"g": gone, "s": sync_id, "at": at},
        )
    return sync_id


async def test_retention_keeps_every_later_sync_whole(migrated) -> None:  # type: ignore[no-untyped-def]
    async with migrated() as session:
        await service.keep_history_partitions(session, datetime(2030, 1, 5, tzinfo=UTC), 6, None)
        await _catalog(session, 4)
        # January: slots 0 to 3; February: slot 1 changes, slot 2 goes; April: slot 3 changes.
        await _sync(session, datetime(2030, 1, 10, tzinfo=UTC), {n: {"v": 0} for n in range(4)})
        await _sync(session, datetime(2030, 2, 10, tzinfo=UTC), {1: {"v": 1}, 2: None})
        april = await _sync(session, datetime(2030, 4, 10, tzinfo=UTC), {3: {"v": 3}})
        await commit(session)
        places = await session.execute(
            text("SELECT DISTINCT tableoid::regclass::text FROM catalog_slot_versions ORDER BY 1")
        )
        assert places.scalars().all() == [
            "catalog_slot_versions_p203001",
            "catalog_slot_versions_p203002",
            "catalog_slot_versions_p203004",
        ]
        before = await repository.state_at(session, april)
    async with migrated() as session:
        # In June, keeping 3 months (April to June): January to March go.
        done = await service.keep_history_partitions(
            session, datetime(2030, 6, 20, tzinfo=UTC), 1, 3
        )
        await commit(session)
        assert {"catalog_slot_versions_p203001", "catalog_slot_versions_p203002"} <= set(
            done.dropped
        )
        assert await repository.state_at(session, april) == before
        assert sorted(before, key=lambda s: s["v"]) == [{"v": 0}, {"v": 1}, {"v": 3}]
        names = await partitions.partitions(session, "catalog_slot_versions")
        assert "catalog_slot_versions_p203004" in names
        assert "catalog_slot_versions_p203003" not in names


async def test_no_sync_after_the_cutoff_keeps_the_history(migrated) -> None:  # type: ignore[no-untyped-def]
    async with migrated() as session:
        await service.keep_history_partitions(session, datetime(2030, 1, 5, tzinfo=UTC), 1, None)
        await _catalog(session, 1)
        only = await _sync(session, datetime(2030, 1, 10, tzinfo=UTC), {0: {"v": 0}})
        done = await service.keep_history_partitions(
            session, datetime(2030, 9, 1, tzinfo=UTC), 1, 2
        )
        await commit(session)
        assert done.dropped == []
        assert await repository.state_at(session, only) == [{"v": 0}]
