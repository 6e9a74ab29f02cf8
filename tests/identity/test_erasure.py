"""Account erasure leaves nothing behind: no Redis key or value and no job row names the
account or its records once its erasure jobs have run, and former followers' feeds drop it on
the very next request. Finished jobs are pruned after the retention setting."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text

from rhythm.app import create_app
from rhythm.identity.profiles import profile_key
from rhythm.jobs import run_worker
from rhythm.platform.queue import defer
from rhythm.platform.redis import RedisClient
from rhythm.platform.resources import Resources
from tests.conftest import client_for, make_settings, started
from tests.factories import create_user, delete_account
from tests.sleep.test_feed import feed, follow, night


async def redis_mentions(redis: RedisClient, needles: set[str]) -> list[str]:
    """Every key whose name or value contains one of `needles`."""
    found = []
    async for raw in redis.scan_iter(count=1000):
        key = raw.decode()
        kind = (await redis.type(raw)).decode()
        if kind == "string":
            values = [await redis.get(raw)]
        elif kind == "zset":
            values = await redis.zrange(raw, 0, -1)
        elif kind == "hash":
            values = [v for pair in (await redis.hgetall(raw)).items() for v in pair]
        elif kind == "set":
            values = list(await redis.smembers(raw))
        elif kind == "list":
            values = await redis.lrange(raw, 0, -1)
        else:
            values = []
        text_ = key + " " + " ".join(v.decode(errors="replace") for v in values if v)
        if any(n in text_ for n in needles):
            found.append(key)
    return found


async def job_mentions(app: FastAPI, needles: set[str]) -> list[str]:
    async with app.state.services[Resources].engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT task_name, args::text FROM procrastinate_jobs"))
        ).all()
    return [f"{task} {args}" for task, args in rows if any(n in args for n in needles)]


async def feed_ids(client: AsyncClient, viewer) -> list[str]:  # type: ignore[no-untyped-def]
    return [item["id"] for item in (await feed(client, viewer))["data"]]


async def erase_and_check(app: FastAPI, client: AsyncClient) -> None:
    redis: RedisClient = app.state.services[Resources].redis
    alice = await create_user(app)
    bob, carol = await create_user(app), await create_user(app)
    for fan in (bob, carol):
        await follow(client, fan, alice)
    await follow(client, alice, bob)
    await follow(client, bob, carol)
    nights = [await night(client, alice, day, 7 + day) for day in range(3)]
    theirs = await night(client, carol, 0, 6)
    await run_worker(app.state.services[Resources], wait=False)
    # Feeds, items and profiles cached for every viewer, alice's own included.
    assert await feed_ids(client, bob) == [*reversed(nights), theirs]
    assert await feed_ids(client, carol) == list(reversed(nights))
    assert await feed_ids(client, alice) == []
    pending = await night(client, alice, 4, 5)  # its fan-out job still waiting
    focus = await client.post(
        "/api/v1/focus/sessions",
        json={
            "session_id": str(uuid.uuid4()),
            "started_at": "2026-11-02T09:00:00Z",
            "ended_at": "2026-11-02T10:00:00Z",
            "timezone": "UTC",
        },
        headers=alice.headers,
    )
    assert focus.status_code in (200, 201), focus.text
    await client.get(f"/api/v1/users/{alice.id}/streak", headers=bob.headers)
    needles = {str(alice.id), *nights, pending}
    assert await redis_mentions(redis, needles) and await job_mentions(app, needles)

    response = await delete_account(client, alice)
    assert response.status_code == 204
    # The very next request, before any job has run.
    assert await feed_ids(client, bob) == [theirs]
    assert await feed_ids(client, carol) == []

    await run_worker(app.state.services[Resources], wait=False)
    # The profile tombstone (only the id, in its name) stays until it expires: it keeps a
    # request that raced the deletion from caching the profile again.
    tombstone = profile_key(alice.id)
    assert [k for k in await redis_mentions(redis, needles) if k != tombstone] == []
    assert await job_mentions(app, needles) == []
    assert await feed_ids(client, bob) == [theirs]
    assert await feed_ids(client, carol) == []
    # The others' data is untouched.
    assert await job_mentions(app, {str(carol.id)})
    assert await redis_mentions(redis, {theirs})


async def test_erasure_leaves_nothing_of_an_ordinary_account(app, client: AsyncClient) -> None:
    await erase_and_check(app, client)


async def test_erasure_leaves_nothing_of_a_popular_account(
    database_url: str, redis_url: str
) -> None:
    # Over the threshold: alice's nights are merged on read, from her own popular sets, and
    # her followers' feed metadata names her.
    settings = make_settings(database_url, redis_url, sleep_fanout_threshold=1)
    async for app in started(create_app(settings)):
        await app.state.services[Resources].redis.flushdb()
        async with client_for(app) as client:
            await erase_and_check(app, client)
        await app.state.services[Resources].redis.flushdb()


async def test_finished_jobs_are_pruned_after_the_retention(app, client: AsyncClient) -> None:
    user = await create_user(app)
    await night(client, user, 0, 8)
    await run_worker(app.state.services[Resources], wait=False)
    async with app.state.services[Resources].session_factory() as session:
        waiting = await defer(session, "sleep:fan_out", queue="nothing", owner_id="x")
        # Jobs that ended otherwise: every finished status goes.
        ended = [
            await defer(session, "sleep:fan_out", queue="nothing", owner_id=status)
            for status in ("failed", "cancelled", "aborted")
        ]
        await session.commit()
    async with app.state.services[Resources].engine.begin() as conn:
        for job_id, status in zip(ended, ("failed", "cancelled", "aborted"), strict=True):
            await conn.execute(
                text(
                    "UPDATE procrastinate_jobs SET status = CAST(:s AS procrastinate_job_status)"
                    " WHERE id = :i"
                ),
                {"s": status, "i": job_id},
            )
        # Every finished job ended 200 hours ago: past the 168-hour retention.
        await conn.execute(
            text(
                "UPDATE procrastinate_events SET at = now() - interval '200 hours'"
                " WHERE job_id IN (SELECT id FROM procrastinate_jobs WHERE status <> 'todo')"
            )
        )
        finished = (
            await conn.execute(
                text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'")
            )
        ).scalar_one()
    assert finished >= 1
    async with app.state.services[Resources].session_factory() as session:
        await defer(session, "jobs:prune_finished", queue="maintenance", timestamp=0)
        await session.commit()
    await run_worker(app.state.services[Resources], wait=False, queues=["maintenance"])
    async with app.state.services[Resources].engine.connect() as conn:
        left = (
            await conn.execute(text("SELECT id, task_name, status::text FROM procrastinate_jobs"))
        ).all()
    # The waiting job, and the prune job itself (finished just now), remain.
    assert sorted((task, status) for _, task, status in left) == [
        ("jobs:prune_finished", "succeeded"),
        ("sleep:fan_out", "todo"),
    ]
    assert waiting in {job_id for job_id, _, _ in left}
