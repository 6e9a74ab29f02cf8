"""usage_events is partitioned by month (migration 0012): the no-overlap rule holds across a
partition boundary, enforced by PostgreSQL itself; any instant PostgreSQL stores has a
partition; the periodic task makes partitions ahead and drops those past the retention."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm import jobs
from rhythm.migrations import upgrade
from rhythm.platform import partitions
from rhythm.platform.database import commit, create_engine, create_session_factory
from rhythm.platform.queue import defer
from rhythm.platform.resources import Resources
from rhythm.platform.settings import Settings
from rhythm.usage import service
from tests.factories import create_user, problem

# A month boundary in the past (heartbeats are accepted up to 5 minutes ahead only).
BOUNDARY = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)

_INSERT = (
    "INSERT INTO usage_events (bucket_pk, user_id, starts_at, ends_at, data)"
    " VALUES (:b, :u, CAST(CAST(:s AS text) AS timestamptz), CAST(CAST(:e AS text) AS timestamptz),"
    " '{}') RETURNING id"
)


async def _bucket(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID:
    found = await session.execute(
        text(
            "INSERT INTO usage_buckets (id, user_id, name, type, client, hostname)"
            " VALUES (gen_random_uuid(), :u, :n, 'currentwindow', 'test', 'host') RETURNING id"
        ),
        {"u": user_id, "n": f"b-{uuid.uuid4().hex[:8]}"},
    )
    bucket: uuid.UUID = found.scalar_one()
    return bucket


async def _insert(session: AsyncSession, bucket: uuid.UUID, user: uuid.UUID, s: Any, e: Any) -> int:
    s, e = (t.isoformat() if isinstance(t, datetime) else t for t in (s, e))
    found = await session.execute(text(_INSERT), {"b": bucket, "u": user, "s": s, "e": e})
    event_id: int = found.scalar_one()
    return event_id


@pytest.fixture
async def owner(app) -> AsyncIterator[tuple[Any, uuid.UUID, uuid.UUID]]:  # type: ignore[no-untyped-def]
    """A session factory, a user and one of the user's buckets (committed)."""
    user = await create_user(app)
    factory = app.state.services[Resources].session_factory
    async with factory() as session:
        bucket = await _bucket(session, user.id)
        await commit(session)
    yield factory, user.id, bucket


def _refused(error: IntegrityError) -> bool:
    return getattr(error.orig, "sqlstate", None) == "23P01"


@pytest.mark.parametrize("crossing_first", [True, False])
async def test_an_overlap_across_a_month_boundary_is_refused(owner, crossing_first: bool) -> None:  # type: ignore[no-untyped-def]
    """An event of October's partition reaching into November, and a November event it
    overlaps: refused whichever comes first, in separate transactions."""
    factory, user, bucket = owner
    crossing = (BOUNDARY - HOUR, BOUNDARY + HOUR)
    later = (BOUNDARY + HOUR / 2, BOUNDARY + 2 * HOUR)
    first, second = (crossing, later) if crossing_first else (later, crossing)
    async with factory() as session:
        await _insert(session, bucket, user, *first)
        await commit(session)
    async with factory() as session:
        with pytest.raises(IntegrityError) as refused:
            await _insert(session, bucket, user, *second)
        assert _refused(refused.value)
    # Touching is not overlapping ([start, end) spans), and another bucket is another rule.
    async with factory() as session:
        if crossing_first:
            await _insert(session, bucket, user, BOUNDARY + HOUR, BOUNDARY + 2 * HOUR)
        else:
            await _insert(session, bucket, user, BOUNDARY - HOUR, BOUNDARY + HOUR / 2)
        other = await _bucket(session, user)
        await _insert(session, other, user, *second)
        await commit(session)


async def test_extending_an_event_into_the_next_month_over_an_event_is_refused(owner) -> None:  # type: ignore[no-untyped-def]
    """As the heartbeat merge does (UPDATE ... SET ends_at): an October event extended over a
    November one is refused; extended up to it, it is kept as crossing."""
    factory, user, bucket = owner
    async with factory() as session:
        october = await _insert(session, bucket, user, BOUNDARY - HOUR, BOUNDARY - HOUR / 2)
        await _insert(session, bucket, user, BOUNDARY + HOUR, BOUNDARY + 2 * HOUR)
        await commit(session)
    extend = text("UPDATE usage_events SET ends_at = :e WHERE id = :i")
    async with factory() as session:
        with pytest.raises(IntegrityError) as refused:
            await session.execute(extend, {"e": BOUNDARY + 3 * HOUR / 2, "i": october})
        assert _refused(refused.value)
    async with factory() as session:
        await session.execute(extend, {"e": BOUNDARY + HOUR, "i": october})
        await commit(session)
        crossing = await session.execute(
            text("SELECT ends_at FROM usage_event_crossings WHERE event_id = :i"), {"i": october}
        )
        assert crossing.scalar_one() == BOUNDARY + HOUR
        # Shortened back into its month: no longer crossing; deleted: gone from the spans.
        await session.execute(extend, {"e": BOUNDARY - HOUR / 4, "i": october})
        left = await session.execute(text("SELECT count(*) FROM usage_event_crossings"))
        assert left.scalar_one() == 0
        await session.execute(extend, {"e": BOUNDARY + HOUR / 2, "i": october})
        await session.execute(text("DELETE FROM usage_events WHERE id = :i"), {"i": october})
        left = await session.execute(text("SELECT count(*) FROM usage_event_crossings"))
        assert left.scalar_one() == 0


async def test_concurrent_writers_across_a_boundary_cannot_both_commit(owner) -> None:  # type: ignore[no-untyped-def]
    """Two transactions, each inserting one side of an overlap across the boundary, at once:
    the second waits for the first (the bucket's lock) and is refused."""
    factory, user, bucket = owner

    async def write(span: tuple[datetime, datetime]) -> bool:
        async with factory() as session:
            try:
                await _insert(session, bucket, user, *span)
                await asyncio.sleep(0.2)  # both hold their rows uncommitted
                await commit(session)
            except IntegrityError as error:
                assert _refused(error)
                return False
            return True

    done = await asyncio.gather(
        write((BOUNDARY - HOUR, BOUNDARY + HOUR)), write((BOUNDARY, BOUNDARY + HOUR / 4))
    )
    assert sorted(done) == [False, True]


async def test_any_stored_instant_has_a_partition(owner) -> None:  # type: ignore[no-untyped-def]
    """Years 1 and 9999 and infinity, which rows stored before the windows carry, land in the
    default partition; the overlap rule holds there too."""
    factory, user, bucket = owner
    async with factory() as session:
        await _insert(session, bucket, user, "0001-01-01T00:00:00Z", "0001-01-01T01:00:00Z")
        await _insert(session, bucket, user, "9999-12-31T20:00:00Z", "9999-12-31T23:00:00Z")
        await _insert(session, bucket, user, "-infinity", "0001-01-01T00:00:00Z")
        await commit(session)
        places = await session.execute(
            text("SELECT DISTINCT tableoid::regclass::text FROM usage_events WHERE user_id = :u"),
            {"u": user},
        )
        assert places.scalars().all() == ["usage_events_default"]
    async with factory() as session:
        with pytest.raises(IntegrityError) as refused:
            await _insert(session, bucket, user, "9999-12-31T22:00:00Z", "infinity")
        assert _refused(refused.value)


async def test_heartbeats_merge_across_a_month_boundary_as_before(app, client: AsyncClient) -> None:
    user = await create_user(app)
    beats = [
        {"timestamp": (BOUNDARY + timedelta(seconds=s)).isoformat(), "app": "Editor"}
        for s in (-20, -10, 0, 10, 20)
    ]
    sent = await client.post("/api/v1/usage/heartbeats/bulk", json=beats, headers=user.headers)
    assert sent.status_code == 202, sent.text
    got = await client.get(
        "/api/v1/usage/intervals",
        params={"start": (BOUNDARY - HOUR).isoformat(), "end": (BOUNDARY + HOUR).isoformat()},
        headers=user.headers,
    )
    assert got.status_code == 200, got.text
    (interval,) = got.json()["data"]
    assert interval["duration_seconds"] == 40
    # An ActivityWatch event overlapping it from November is the 409 it always was.
    key = await client.post(
        "/api/v1/auth/api-keys", json={"name": "aw", "scopes": ["usage"]}, headers=user.headers
    )
    assert key.status_code == 201, key.text
    headers = {"Authorization": f"Bearer {key.json()['key']}"}
    (bucket,) = (await client.get("/api/0/buckets/", headers=headers)).json()
    event = {
        "timestamp": (BOUNDARY + timedelta(seconds=15)).isoformat(),
        "duration": 60,
        "data": {},
    }
    overlap = await client.post(f"/api/0/buckets/{bucket}/events", json=[event], headers=headers)
    problem(overlap, 409)


async def test_instants_the_api_refuses_are_422_not_500(app, client: AsyncClient) -> None:
    user = await create_user(app)
    for at in ("0001-01-01T00:00:00+00:00", "9999-12-31T23:00:00+00:00"):
        sent = await client.post(
            "/api/v1/usage/heartbeats", json={"timestamp": at, "app": "X"}, headers=user.headers
        )
        problem(sent, 422)


# The periodic task, on a database of its own (it makes and drops partitions).


@pytest.fixture
async def migrated(scratch_database: str, settings: Settings) -> AsyncIterator[Any]:
    upgrade(scratch_database)
    engine = create_engine(scratch_database, pool_size=4, pooler=settings.database_pooler)
    yield create_session_factory(engine)
    await engine.dispose()


async def test_partitions_are_made_ahead_idempotently_and_concurrently(migrated) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2031, 5, 17, tzinfo=UTC)

    async def keep() -> int:
        async with migrated() as session:
            done = await service.keep_partitions(session, now, 3, None)
            await commit(session)
            return done.made

    made = await asyncio.gather(keep(), keep())
    # From May 2029 (24 months back) to August 2031: 28 months, none made by the migration.
    assert sorted(made) == [0, 28]
    assert await keep() == 0
    async with migrated() as session:
        names = await partitions.partitions(session, "usage_events")
        assert {f"usage_events_p2031{m:02}" for m in (5, 6, 7, 8)} <= set(names)
        # Each has the exclusion constraint of the default partition.
        found = await session.execute(
            text(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'x'"
                " AND conrelid = 'usage_events_p203107'::regclass"
            )
        )
        assert found.scalar_one() == 1


async def test_a_new_partition_takes_its_rows_from_the_default_one(migrated) -> None:  # type: ignore[no-untyped-def]
    async with migrated() as session:
        user = uuid.uuid4()
        await session.execute(
            text("INSERT INTO users (id, email, password_hash, name) VALUES (:u, :e, 'x', 'x')"),
            {"u": user, "e": f"{user}@example.com"},
        )
        bucket = await _bucket(session, user)
        inside = await _insert(
            session, bucket, user, "2040-02-10T00:00:00Z", "2040-02-10T01:00:00Z"
        )
        # A crossing event from January (default) into February.
        crossing = await _insert(
            session, bucket, user, "2040-01-31T23:00:00Z", "2040-02-01T01:00:00Z"
        )
        await commit(session)
    async with migrated() as session:
        made = await partitions.ensure_months(
            session, "usage_events", date(2040, 1, 1), date(2040, 2, 1)
        )
        await commit(session)
        assert made == 2
        places = await session.execute(
            text("SELECT id, tableoid::regclass::text FROM usage_events ORDER BY id")
        )
        assert places.all() == [
            (inside, "usage_events_p204002"),
            (crossing, "usage_events_p204001"),
        ]
        spans = await session.execute(text("SELECT event_id FROM usage_event_crossings"))
        assert spans.scalars().all() == [crossing]
    # The rule still holds across the new boundary.
    async with migrated() as session:
        with pytest.raises(IntegrityError):
            await _insert(session, bucket, user, "2040-02-01T00:30:00Z", "2040-02-01T02:00:00Z")


async def test_retention_drops_whole_months_and_their_spans(migrated) -> None:  # type: ignore[no-untyped-def]
    async with migrated() as session:
        await service.keep_partitions(session, datetime(2030, 1, 5, tzinfo=UTC), 6, None)
        user = uuid.uuid4()
        await session.execute(
            text("INSERT INTO users (id, email, password_hash, name) VALUES (:u, :e, 'x', 'x')"),
            {"u": user, "e": f"{user}@example.com"},
        )
        bucket = await _bucket(session, user)
        for start, end in [
            ("1999-05-01T00:00:00Z", "1999-05-01T01:00:00Z"),  # default partition
            ("2030-01-31T23:00:00Z", "2030-02-01T01:00:00Z"),  # crossing, dropped with January
            ("2030-03-31T23:00:00Z", "2030-04-01T01:00:00Z"),  # crossing, kept
            ("2030-05-02T00:00:00Z", "2030-05-02T01:00:00Z"),
        ]:
            await _insert(session, bucket, user, start, end)
        await commit(session)
    async with migrated() as session:
        # In June 2030, keeping 4 months (this one included): March to June stay.
        done = await service.keep_partitions(session, datetime(2030, 6, 15, tzinfo=UTC), 1, 4)
        await commit(session)
    assert {"usage_events_p203001", "usage_events_p203002"} <= set(done.dropped)
    assert done.deleted == 1
    async with migrated() as session:
        left = await session.execute(text("SELECT min(starts_at) FROM usage_events"))
        assert left.scalar_one() == datetime(2030, 3, 31, 23, tzinfo=UTC)
        spans = await session.execute(text("SELECT starts_at FROM usage_event_crossings"))
        assert spans.scalars().all() == [datetime(2030, 3, 31, 23, tzinfo=UTC)]
        names = await partitions.partitions(session, "usage_events")
        assert "usage_events_p203003" in names and "usage_events_p203002" not in names


def test_the_upkeep_and_the_job_pruning_are_scheduled() -> None:
    """Partitions are made daily for both tables, and finished jobs pruned hourly, by the
    worker's periodic deferrer (jobs.py)."""
    schedules = jobs._tasks.periodic_registry.periodic_tasks
    assert {name for name, _ in schedules} >= {
        "usage:keep_partitions",
        "catalog:keep_partitions",
        "jobs:prune_finished",
    }


async def test_the_upkeep_tasks_run_in_the_worker(app) -> None:  # type: ignore[no-untyped-def]
    resources = app.state.services[Resources]
    async with resources.session_factory() as session:
        for task in ("usage:keep_partitions", "catalog:keep_partitions"):
            await defer(session, task, queue="maintenance", timestamp=0)
        await session.commit()
    await jobs.run_worker(resources, wait=False, queues=["maintenance"])
    async with resources.engine.connect() as conn:
        done = await conn.execute(
            text(
                "SELECT task_name, status::text FROM procrastinate_jobs"
                " WHERE task_name IN ('usage:keep_partitions', 'catalog:keep_partitions')"
                " ORDER BY 1"
            )
        )
        assert done.all() == [
            ("catalog:keep_partitions", "succeeded"),
            ("usage:keep_partitions", "succeeded"),
        ]
        async with resources.session_factory() as session:
            names = await partitions.partitions(session, "usage_events")
        assert f"usage_events_p{partitions.month_start(datetime.now(UTC), 3):%Y%m}" in names
