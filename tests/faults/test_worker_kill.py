"""kill -9 of a job worker in the middle of a job: a new worker retries the job (the periodic
`jobs:retry_stalled`), and its effect happens once.

- A sleep fan-out: the worker dies while it applies a night to the followers' feeds (Redis is
  paused under it), and the night is deleted and another written before the retry. Afterwards
  the owner's fan-outs have run in order, and every follower's cached feed is exactly the feed
  rebuilt from PostgreSQL.
- A catalog sync: the worker dies while the provider's feed is half downloaded. Afterwards
  there is one new catalog version, with all of its rows.
"""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text

from rhythm.app import create_app
from rhythm.platform.database import commit
from rhythm.platform.queue import defer
from rhythm.platform.resources import Resources
from rhythm.platform.settings import Settings
from rhythm.platform.timeutil import iso_week
from rhythm.sleep.feed_cache import feed_key, pending_key
from tests.conftest import client_for, make_settings, started
from tests.factories import create_user
from tests.faults.servers import PrivateRedis, kill_9, start_worker

pytestmark = pytest.mark.e2e

# Fast enough for a test: a worker silent for 2 s is dead, and dead workers' jobs are looked
# for every 2 s.
WORKER_ENV = {"RHYTHM_WORKER_STALLED_SECONDS": "2", "RHYTHM_CATALOG_SYNC_CRON": "0 0 1 1 *"}


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
async def on_private_redis(
    app: FastAPI, database_url: str, private_redis: PrivateRedis
) -> AsyncIterator[FastAPI]:
    """The app on this worker's test database and a Redis of its own (which the test pauses).
    (`app` is asked for so that the tables are emptied afterwards.)"""
    async with app.state.services[Resources].engine.begin() as conn:
        # Jobs left by tests that run servers without the app fixture: not this test's.
        await conn.execute(text("TRUNCATE procrastinate_jobs, procrastinate_workers CASCADE"))
    settings = make_settings(database_url, private_redis.url, catalog_provider_url=None)
    async for running in started(create_app(settings)):
        yield running


def _job(database_url: str, task: str) -> tuple[str, int] | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT status::text, attempts FROM procrastinate_jobs WHERE task_name = %s"
            " ORDER BY id LIMIT 1",
            (task,),
        ).fetchone()
    return (row[0], row[1]) if row else None


def _wait_for_job(database_url: str, task: str, status: str, timeout: float = 40) -> int:
    """Poll until the task's job has `status`; its attempts."""
    deadline = time.monotonic() + timeout
    while True:
        found = _job(database_url, task)
        if found is not None and found[0] == status:
            return found[1]
        assert time.monotonic() < deadline, f"{task} never {status}: {found}"
        time.sleep(0.05)


def _fan_outs(database_url: str) -> list[tuple[str, int]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT status::text, attempts FROM procrastinate_jobs"
            " WHERE task_name = 'sleep:fan_out' ORDER BY id"
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def _wait_for_fan_outs(database_url: str, count: int, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while [s for s, _ in _fan_outs(database_url)] != ["succeeded"] * count:
        assert time.monotonic() < deadline, _fan_outs(database_url)
        time.sleep(0.05)


async def _feed(http: AsyncClient, headers: dict[str, str], week: str) -> list[dict[str, Any]]:
    answer = await http.get("/api/v1/sleep/following", params={"week": week}, headers=headers)
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


async def test_a_fan_out_killed_mid_job_is_retried_and_feeds_are_exact(
    on_private_redis: FastAPI, database_url: str
) -> None:
    app = on_private_redis
    settings = app.state.services[Settings]
    redis = app.state.services[Resources].redis
    owner = await create_user(app, name="Sleeper")
    followers = [await create_user(app) for _ in range(3)]
    today = datetime.now(UTC).replace(hour=23, minute=0, second=0, microsecond=0)
    bed = today - timedelta(days=today.weekday() + 12)  # a Wednesday, two weeks ago
    week = iso_week(bed.date())
    async with client_for(app) as http:
        for follower in followers:
            followed = await http.put(
                f"/api/v1/users/me/following/{owner.id}", headers=follower.headers
            )
            assert followed.status_code == 201, followed.text
            assert await _feed(http, follower.headers, week) == []  # a cached, empty feed
        assert await redis.exists(feed_key(followers[0].id, week))
        clock_in = await http.post(
            "/api/v1/sleep/clock-in", json={"at": bed.isoformat()}, headers=owner.headers
        )
        assert clock_in.status_code == 201, clock_in.text
        wake = bed + timedelta(hours=7, minutes=30)
        clock_out = await http.post(
            "/api/v1/sleep/clock-out", json={"at": wake.isoformat()}, headers=owner.headers
        )
        assert clock_out.status_code == 200, clock_out.text
        night = clock_out.json()["record"]["id"]

        # Redis holds every write: the worker takes the job, and hangs inside it.
        await redis.execute_command("CLIENT", "PAUSE", "30000", "WRITE")
        worker = start_worker(settings, **WORKER_ENV)
        try:
            await asyncio.to_thread(_wait_for_job, database_url, "sleep:fan_out", "doing")
            await asyncio.sleep(0.3)
        finally:
            kill_9(worker)
        await redis.execute_command("CLIENT", "UNPAUSE")
        assert _fan_outs(database_url) == [("doing", 0)]  # stuck with its dead worker
        # Meanwhile readers are answered from PostgreSQL, and see the night.
        for follower in followers:
            assert [i["id"] for i in await _feed(http, follower.headers, week)] == [night]
        # The night is deleted and another one written before the job is retried: their
        # fan-outs must not overtake it (a removal applied before the arrival it undoes would
        # leave the deleted night in the feeds).
        deleted = await http.delete(f"/api/v1/sleep/records/{night}", headers=owner.headers)
        assert deleted.status_code == 204, deleted.text
        other = {
            "sleep_at": (bed + timedelta(days=1)).isoformat(),
            "wake_at": (bed + timedelta(days=1, hours=6)).isoformat(),
        }
        added = await http.post("/api/v1/sleep/records", json=other, headers=owner.headers)
        assert added.status_code == 201, added.text
        second = added.json()["record"]["id"]
        # The dead worker had queued a stalled-job check of its own, which would run first and
        # retry the killed fan-out before the newer ones; without it the new worker takes the
        # newer fan-outs first, which is the order to survive.
        with psycopg.connect(database_url) as conn:
            conn.execute(
                "DELETE FROM procrastinate_jobs WHERE task_name = 'jobs:retry_stalled'"
                " AND status = 'todo'"
            )

        worker = start_worker(settings, **WORKER_ENV)
        try:
            await asyncio.to_thread(_wait_for_fan_outs, database_url, 3)
        finally:
            kill_9(worker)
        # The killed run and its retry by the stalled-job task; then the two others, once.
        assert _fan_outs(database_url) == [("succeeded", 2), ("succeeded", 1), ("succeeded", 1)]
        assert await redis.zcard(pending_key(week)) == 0
        cached = {}
        for follower in followers:
            members = await redis.zrange(feed_key(follower.id, week), 0, -1)
            assert [m.decode().split(":")[1] for m in members if m != b"~"] == [second]
            cached[follower.id] = await _feed(http, follower.headers, week)
            assert [i["id"] for i in cached[follower.id]] == [second]
        # The same feeds rebuilt from PostgreSQL alone.
        await redis.flushdb()
        for follower in followers:
            assert await _feed(http, follower.headers, week) == cached[follower.id]


def _catalog_feed(count: int) -> bytes:
    events = []
    for i in range(1, count + 1):
        day = datetime(2031, 1, 1) + timedelta(days=i % 300, hours=i % 10)
        events.append(
            f'<base_event base_event_id="{i}" sell_mode="online" title="Show {i}">'
            f'<event event_start_date="{day.isoformat()}"'
            f' event_end_date="{(day + timedelta(hours=2)).isoformat()}" event_id="{i}"'
            f' sell_from="2030-01-01T00:00:00" sell_to="{day.isoformat()}" sold_out="false">'
            f'<zone zone_id="1" capacity="100" price="{10 + i % 7}.00" name="Platea"'
            ' numbered="true"/>'
            f'<zone zone_id="2" capacity="50" price="{20 + i % 5}.50" name="Grada"'
            ' numbered="false"/>'
            "</event></base_event>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><eventList version="1.0"><output>'
        + "".join(events)
        + "</output></eventList>"
    ).encode()


class _StallingProvider(http.server.BaseHTTPRequestHandler):
    """The first answer stops halfway until `release` is set; the next ones are whole."""

    body = b""
    requests = 0
    stalled = threading.Event()
    release = threading.Event()

    def do_GET(self) -> None:
        cls = type(self)
        cls.requests += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(cls.body)))
        self.end_headers()
        if cls.requests == 1:
            self.wfile.write(cls.body[: len(cls.body) // 2])
            self.wfile.flush()
            cls.stalled.set()
            cls.release.wait(30)
            return
        self.wfile.write(cls.body)

    def log_message(self, *args: object) -> None:
        pass


async def test_a_catalog_sync_killed_mid_job_is_retried_into_one_whole_version(
    on_private_redis: FastAPI, database_url: str
) -> None:
    app = on_private_redis
    count = 400  # more than one chunk of the sync (service.CHUNK)
    _StallingProvider.body = _catalog_feed(count)
    _StallingProvider.requests = 0
    _StallingProvider.stalled.clear()
    _StallingProvider.release.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StallingProvider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    settings = app.state.services[Settings].model_copy(update={"catalog_provider_url": url})
    environment = {**WORKER_ENV, "RHYTHM_CATALOG_PROVIDER_URL": url}
    try:
        async with app.state.services[Resources].session_factory() as session:
            await defer(session, "catalog:sync_feed", queue="catalog", timestamp=0)
            await commit(session)
        worker = start_worker(settings, **environment)
        try:
            assert await asyncio.to_thread(_StallingProvider.stalled.wait, 40)
            assert _job(database_url, "catalog:sync_feed") == ("doing", 0)
        finally:
            kill_9(worker)
            _StallingProvider.release.set()
        with psycopg.connect(database_url) as conn:
            assert conn.execute("SELECT count(*) FROM catalog_slots").fetchone() == (0,)

        worker = start_worker(settings, **environment)
        try:
            attempts = await asyncio.to_thread(
                _wait_for_job, database_url, "catalog:sync_feed", "succeeded"
            )
        finally:
            kill_9(worker)
        assert attempts == 2
        assert _StallingProvider.requests == 2
    finally:
        server.shutdown()

    with psycopg.connect(database_url) as conn:
        syncs = conn.execute(
            "SELECT id, status, catalog_version FROM catalog_syncs ORDER BY id"
        ).fetchall()
        # The killed run's record stays `running`; the retry is one whole new version.
        assert [s[1] for s in syncs] == ["running", "succeeded"], syncs
        done = syncs[1]
        assert done[2] == done[0]
        versions = conn.execute(
            "SELECT sync_id, count(*) FROM catalog_slot_versions GROUP BY sync_id"
        ).fetchall()
        assert versions == [(done[0], count)]
        assert conn.execute("SELECT count(*) FROM catalog_slots").fetchone() == (count,)
    async with client_for(app) as http_client:
        found = await http_client.get("/search", params={"starts_at": "2030-01-01T00:00:00"})
    assert found.status_code == 200
    assert len(found.json()["data"]["events"]) == count
