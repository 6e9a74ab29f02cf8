"""A watcher's backlog is never lost: heartbeats have their own per-user pace
(platform.ratelimit.HeartbeatPace) instead of the per-user request limit, and a flood waits
instead of being refused. The replay by unmodified aw-client is in test_activitywatch.py; the
full day (259,200 heartbeats) is bench/backlog_replay.py."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from rhythm.app import create_app
from rhythm.platform.batching import GroupCommit
from rhythm.platform.resources import Resources
from rhythm.platform.settings import Settings
from tests.conftest import client_for, make_settings, started
from tests.factories import create_user

T0 = datetime(2026, 11, 9, 0, 0, tzinfo=UTC)
APPS = ("Editor", "Terminal", "Browser")


async def limited_app(settings: Settings, **overrides: object) -> AsyncIterator[FastAPI]:
    """The app with the default per-user request limit (1,200/minute) and `overrides`."""
    values: dict[str, object] = {"rate_limit_default": "1200/minute", **overrides}
    strict = make_settings(settings.database_url or "", settings.redis_url or "", **values)
    async for running in started(create_app(strict)):
        yield running


@pytest.fixture
async def default_app(app: FastAPI, settings: Settings) -> AsyncIterator[FastAPI]:
    async for running in limited_app(settings):
        yield running


async def basic_for_new_key(client: AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    made = await client.post("/api/v1/auth/api-keys", json={"name": "aw"}, headers=headers)
    assert made.status_code == 201, made.text
    basic = base64.b64encode(f"{made.json()['key']}:".encode()).decode()
    return {"Authorization": f"Basic {basic}"}


def beat(i: int) -> dict[str, Any]:
    """The i-th second of a watcher at 1 Hz, each in another window than the one before."""
    return {
        "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
        "duration": 0,
        "data": {"app": APPS[i % 3], "title": f"t{i % 7}"},
    }


async def test_a_replay_far_over_the_request_limit_is_taken_whole(
    default_app: FastAPI,
) -> None:
    """Three watchers replaying as fast as they can, one user, the default settings: 14,000
    heartbeats (the full day, 259,200, is bench/backlog_replay.py), one /api/0 watcher and one
    v1 tracker sending one at a time, a third in bulk. Every request is accepted, and every
    heartbeat is stored."""
    user = await create_user(default_app)
    async with client_for(default_app) as client:
        aw = await basic_for_new_key(client, user.headers)
        created = await client.post(
            "/api/0/buckets/watcher-0",
            json={"client": "t", "type": "currentwindow", "hostname": "h"},
            headers=aw,
        )
        assert created.status_code == 200

        async def aw_watcher() -> list[int]:
            url = "/api/0/buckets/watcher-0/heartbeat?pulsetime=2"
            return [
                (await client.post(url, json=beat(i), headers=aw)).status_code for i in range(1000)
            ]

        async def v1_tracker() -> list[int]:
            statuses = []
            for i in range(1000):
                body = {"source": "tracker-1", "pulsetime": 2, **beat(i)["data"]}
                body["timestamp"] = beat(i)["timestamp"]
                sent = await client.post(
                    "/api/v1/usage/heartbeats", json=body, headers=user.headers
                )
                statuses.append(sent.status_code)
            return statuses

        async def bulk_tracker() -> list[int]:
            statuses = []
            for start in range(0, 12_000, 1000):
                body = [
                    {
                        "source": "bulk-2",
                        "pulsetime": 2,
                        "timestamp": beat(i)["timestamp"],
                        **beat(i)["data"],
                    }
                    for i in range(start, start + 1000)
                ]
                sent = await client.post(
                    "/api/v1/usage/heartbeats/bulk", json=body, headers=user.headers
                )
                statuses.append(sent.status_code)
            return statuses

        began = time.monotonic()
        aw_statuses, v1_statuses, bulk_statuses = await asyncio.gather(
            aw_watcher(), v1_tracker(), bulk_tracker()
        )
        elapsed = time.monotonic() - began
        assert set(aw_statuses) == {200}
        assert set(v1_statuses) == set(bulk_statuses) == {202}
        # More requests than the request limit lets through in the time it took.
        assert len(aw_statuses) + len(v1_statuses) > 1200 * max(1.0, elapsed / 60)
        events = await client.get(
            "/api/0/buckets/watcher-0/events", params={"limit": -1}, headers=aw
        )
        assert len(events.json()) == 1000  # each heartbeat its own event: none was lost
        # The request limit itself is untouched by all of that.
        me = await client.get("/api/v1/users/me", headers=user.headers)
        assert me.status_code == 200
    async with default_app.state.services[Resources].session_factory() as session:
        from sqlalchemy import text

        rows = (
            await session.execute(
                text(
                    "SELECT b.name, count(*) FROM usage_events e JOIN usage_buckets b "
                    "ON b.id = e.bucket_pk WHERE b.user_id = :user "
                    "GROUP BY b.name ORDER BY b.name"
                ),
                {"user": user.id},
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("bulk-2", 12_000),
        ("tracker-1", 1000),
        ("watcher-0", 1000),
    ]


async def test_over_the_burst_heartbeats_wait_their_turn_and_a_flood_is_bounded(
    app: FastAPI, settings: Settings
) -> None:
    """At 50 heartbeats/s after a burst of 10: a watcher sending one at a time is slowed to
    the pace, never refused; a user with more requests waiting at once than the pace's
    longest wait (0.3 s here) covers gets 429 for the excess, and nothing of it is written."""
    async for paced in limited_app(
        settings,
        rate_limit_heartbeats="50/second",
        rate_limit_heartbeats_burst=10,
        rate_limit_heartbeats_max_wait=0.3,
    ):
        user = await create_user(paced)
        async with client_for(paced) as client:
            aw = await basic_for_new_key(client, user.headers)
            await client.post(
                "/api/0/buckets/w", json={"client": "t", "type": "t", "hostname": "h"}, headers=aw
            )
            url = "/api/0/buckets/w/heartbeat?pulsetime=2"
            began = time.monotonic()
            statuses = [
                (await client.post(url, json=beat(i), headers=aw)).status_code for i in range(100)
            ]
            elapsed = time.monotonic() - began
            assert set(statuses) == {200}
            assert elapsed >= (100 - 10) / 50 * 0.9  # paced: 90 heartbeats over the burst

            began = time.monotonic()
            flood = await asyncio.gather(
                *(client.post(url, json=beat(1000 + i), headers=aw) for i in range(60))
            )
            flooding = time.monotonic() - began
            accepted = [r for r in flood if r.status_code == 200]
            refused = [r for r in flood if r.status_code == 429]
            assert len(accepted) + len(refused) == 60
            # The pace lets in what its rate covers while the flood lasts plus its longest wait
            # (50/s x (duration + 0.3 s)), one more for the edge, and refuses the rest: a bound
            # that holds however slowly a loaded machine serves the flood.
            assert 5 <= len(accepted) <= 50 * (flooding + 0.3) + 1
            assert refused or 50 * (flooding + 0.3) + 1 >= 60
            assert all(r.headers["Retry-After"].isdigit() for r in refused)
            assert all(r.headers["RateLimit-Policy"].startswith('"heartbeats"') for r in refused)
            events = await client.get("/api/0/buckets/w/events", params={"limit": -1}, headers=aw)
            assert len(events.json()) == 100 + len(accepted)


async def test_other_routes_keep_the_request_limit(app: FastAPI, settings: Settings) -> None:
    """Heartbeats do not use the per-user request limit, and everything else keeps it."""
    async for strict in limited_app(settings, rate_limit_default="5/minute"):
        user = await create_user(strict)
        async with client_for(strict) as client:
            for i in range(30):
                body = {"source": "s", "timestamp": beat(i)["timestamp"], "app": "Editor"}
                sent = await client.post(
                    "/api/v1/usage/heartbeats", json=body, headers=user.headers
                )
                assert sent.status_code == 202
            reads = [
                (await client.get("/api/v1/users/me", headers=user.headers)).status_code
                for _ in range(6)
            ]
            assert reads == [200] * 5 + [429]


async def test_the_write_queue_is_bounded_and_a_flood_waits_for_room(app: FastAPI) -> None:
    """GroupCommit holds at most `max_queued` (by weight) at once; the rest wait for room and
    are all written in the end."""
    gate = asyncio.Event()
    written: list[int] = []

    async def write(session: Any, items: list[int]) -> list[int | Exception]:
        await gate.wait()
        written.extend(items)
        return list(items)

    commits: GroupCommit[int, int] = GroupCommit(
        app.state.services[Resources].session_factory,
        write,
        "test",
        max_batch=2,
        max_queued=6,
        weight=lambda item: 2,
    )
    tasks = [asyncio.create_task(commits.submit(i)) for i in range(20)]
    await asyncio.sleep(0.2)
    assert commits._queued <= 6  # three items of weight 2; the other 17 wait for room
    assert not any(t.done() for t in tasks)
    gate.set()
    assert await asyncio.gather(*tasks) == list(range(20))
    assert sorted(written) == list(range(20))
