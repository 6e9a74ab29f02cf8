"""The Redis feed cache: served when provably current, and always equal to PostgreSQL's answer."""

from __future__ import annotations

import random
import uuid

from httpx import AsyncClient

from rhythm.app import create_app
from rhythm.jobs import run_worker
from rhythm.platform.resources import Resources
from rhythm.sleep.feed_cache import (
    FeedCache,
    feed_key,
    item_key,
    pending_key,
    popular_key,
)
from tests.conftest import client_for, make_settings, started
from tests.factories import create_user
from tests.sleep.test_feed import WEEK, feed, follow, night


async def ids(client: AsyncClient, viewer, **params) -> list[str]:  # type: ignore[no-untyped-def]
    collected: list[str] = []
    cursor = None
    while True:
        page = await feed(
            client, viewer, limit=3, **params, **({"cursor": cursor} if cursor else {})
        )
        collected += [item["id"] for item in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return collected


async def drain(app) -> None:  # type: ignore[no-untyped-def]
    await run_worker(app.state.services[Resources], wait=False, queues=["feeds"])


async def test_feed_is_built_once_then_served_from_redis(app, client: AsyncClient, redis) -> None:
    viewer = await create_user(app)
    friend = await create_user(app)
    await follow(client, viewer, friend)
    first = await night(client, friend, 0, 8)
    await drain(app)
    assert await ids(client, viewer) == [first]
    assert await redis.exists(feed_key(viewer.id, WEEK))
    # A new night: pending until its job runs, and visible at once either way.
    second = await night(client, friend, 1, 9)
    assert await redis.zcard(pending_key(WEEK)) == 1
    assert await ids(client, viewer) == [second, first]
    await drain(app)
    assert await redis.zcard(pending_key(WEEK)) == 0
    members = await redis.zrange(feed_key(viewer.id, WEEK), 0, -1)
    assert any(second.encode() in m for m in members)
    assert await ids(client, viewer) == [second, first]
    # Removal goes the same way.
    await client.delete(f"/api/v1/sleep/records/{second}", headers=friend.headers)
    assert await ids(client, viewer) == [first]
    await drain(app)
    assert await ids(client, viewer) == [first]
    members = await redis.zrange(feed_key(viewer.id, WEEK), 0, -1)
    assert not any(second.encode() in m for m in members)


async def test_follow_and_unfollow_invalidate_the_cached_feed(app, client: AsyncClient) -> None:
    viewer = await create_user(app)
    alice = await create_user(app)
    bob = await create_user(app)
    a = await night(client, alice, 0, 7)
    b = await night(client, bob, 0, 8)
    await drain(app)
    await follow(client, viewer, alice)
    assert await ids(client, viewer) == [a]
    await follow(client, viewer, bob)
    assert await ids(client, viewer) == [b, a]
    await client.delete(f"/api/v1/users/me/following/{bob.id}", headers=viewer.headers)
    assert await ids(client, viewer) == [a]


async def test_answers_are_identical_after_a_redis_flush(app, client: AsyncClient, redis) -> None:
    viewer = await create_user(app)
    for hours in (6, 7, 8, 9):
        friend = await create_user(app)
        await follow(client, viewer, friend)
        await night(client, friend, int(hours) % 7, hours)
    await drain(app)
    before = await ids(client, viewer)
    await redis.flushdb()
    assert await ids(client, viewer) == before
    assert await ids(client, viewer) == before


async def test_a_rolled_back_change_leaves_no_lasting_marker(
    app, client: AsyncClient, redis
) -> None:
    viewer = await create_user(app)
    friend = await create_user(app)
    await follow(client, viewer, friend)
    await night(client, friend, 0, 8)
    await drain(app)
    await redis.zadd(pending_key(WEEK), {f"{friend.id}:987654321": 987654321})
    await ids(client, viewer)
    assert await redis.zcard(pending_key(WEEK)) == 0


async def test_popular_accounts_are_merged_on_read(database_url: str, redis_url: str) -> None:
    settings = make_settings(database_url, redis_url, sleep_fanout_threshold=1)
    async for app in started(create_app(settings)):
        await app.state.services[Resources].redis.flushdb()
        async with client_for(app) as client:
            star = await create_user(app)
            fans = [await create_user(app) for _ in range(3)]
            regular = await create_user(app)
            for fan in fans:
                await follow(client, fan, star)
            await follow(client, fans[0], regular)
            s1 = await night(client, star, 0, 9)
            r1 = await night(client, regular, 0, 8)
            await drain(app)
            assert await ids(client, fans[0]) == [s1, r1]
            assert await app.state.services[Resources].redis.exists(popular_key(star.id, WEEK))
            s2 = await night(client, star, 1, 10)
            await drain(app)
            members = await app.state.services[Resources].redis.zrange(
                popular_key(star.id, WEEK), 0, -1
            )
            assert any(s2.encode() in m for m in members)
            assert await ids(client, fans[0]) == [s2, s1, r1]
            assert await ids(client, fans[1]) == [s2, s1]
        await app.state.services[Resources].redis.flushdb()


async def test_cache_always_equals_postgresql_under_random_changes(
    app, client: AsyncClient, redis
) -> None:
    """A random mix of follows, unfollows, nights, deletes and job runs; after every step each
    viewer's feed (paged through the cache) equals the answer computed from PostgreSQL."""
    rng = random.Random(1234)
    users = [await create_user(app) for _ in range(6)]
    nights: dict[str, list[str]] = {str(u.id): [] for u in users}
    day_of: dict[str, int] = {str(u.id): 0 for u in users}
    for step in range(40):
        actor = rng.choice(users)
        other = rng.choice([u for u in users if u.id != actor.id])
        action = rng.choice(["follow", "follow", "unfollow", "night", "night", "delete", "drain"])
        if action == "follow":
            await client.put(f"/api/v1/users/me/following/{other.id}", headers=actor.headers)
        elif action == "unfollow":
            await client.delete(f"/api/v1/users/me/following/{other.id}", headers=actor.headers)
        elif action == "night" and day_of[str(actor.id)] < 7:
            nights[str(actor.id)].append(
                await night(client, actor, day_of[str(actor.id)], rng.choice([6, 7, 8, 8, 9]))
            )
            day_of[str(actor.id)] += 1
        elif action == "delete" and nights[str(actor.id)]:
            victim = nights[str(actor.id)].pop(rng.randrange(len(nights[str(actor.id)])))
            await client.delete(f"/api/v1/sleep/records/{victim}", headers=actor.headers)
        elif action == "drain":
            await drain(app)
        viewer = rng.choice(users)
        following = (
            await client.get("/api/v1/users/me/following?limit=100", headers=viewer.headers)
        ).json()
        followed = {item["id"] for item in following["data"]}
        expected_records = []
        for owner in followed:
            listed = (
                await client.get(
                    "/api/v1/sleep/records?limit=100",
                    headers=next(u for u in users if str(u.id) == owner).headers,
                )
            ).json()
            expected_records += [
                r for r in listed["data"] if r["status"] == "completed" and r["week"] == WEEK
            ]
        expected = [
            r["id"]
            for r in sorted(expected_records, key=lambda r: (-r["duration_seconds"], r["id"]))
        ]
        assert await ids(client, viewer) == expected, f"step {step}: {action}"
    # The comparison above went through cached feeds, not only the PostgreSQL fallback.
    assert await redis.keys("sleep:feed:*")


async def test_crossing_the_popularity_threshold_keeps_feeds_exact(
    database_url: str, redis_url: str
) -> None:
    settings = make_settings(database_url, redis_url, sleep_fanout_threshold=1)
    async for app in started(create_app(settings)):
        await app.state.services[Resources].redis.flushdb()
        async with client_for(app) as client:
            owner = await create_user(app)
            first, second = await create_user(app), await create_user(app)
            await follow(client, first, owner)
            r1 = await night(client, owner, 0, 7)
            await drain(app)
            assert await ids(client, first) == [r1]  # built while the owner is ordinary
            await follow(client, second, owner)  # now popular: 2 followers > 1
            r2 = await night(client, owner, 1, 9)
            await drain(app)
            assert await ids(client, first) == [r2, r1]
            assert await ids(client, second) == [r2, r1]
            r3 = await night(client, owner, 2, 8)
            await drain(app)
            assert await ids(client, first) == [r2, r3, r1]
        await app.state.services[Resources].redis.flushdb()


async def test_a_page_served_from_redis_equals_the_one_built_from_postgresql(
    app, client: AsyncClient, redis
) -> None:
    """Warm pages come from cached items and profiles: names with quotes, backslashes, slashes
    and characters beyond ASCII (emoji are surrogate pairs in the cached JSON) come out exactly
    as on the cold page, read from PostgreSQL."""
    viewer = await create_user(app)
    names = ['Zoë "Z" O\'Neil', "back\\slash/and/slash", "睡眠 😴", "tab\there", "plain"]
    for hours, name in enumerate(names, start=5):
        friend = await create_user(app, name=name)
        await follow(client, viewer, friend)
        await night(client, friend, hours % 7, hours)
    await drain(app)
    await redis.flushdb()
    cold = await feed(client, viewer, limit=3)  # rebuilt: items and names from PostgreSQL
    warm = await feed(client, viewer, limit=3)  # every item and profile cached
    assert cold == warm
    feeds = app.state.services[FeedCache]
    head = await feeds.read(viewer.id, WEEK, None, 3)
    assert head.valid and len(head.members) == 4
    data = await feeds.read_page(viewer.id, head.members[:3])
    assert all(item and item.startswith(b"{") for item in data.items)
    assert all(data.profiles)
    assert (data.graph_version, data.feed_version) == (head.graph_version, head.feed_version)
    assert [item["user"]["name"] for item in warm["data"]] == names[::-1][:3]
    rest = await feed(client, viewer, limit=3, cursor=warm["next_cursor"])
    assert [item["user"]["name"] for item in rest["data"]] == names[::-1][3:]
    assert rest["next_cursor"] is None


async def test_an_item_read_before_a_change_is_not_cached(app, redis) -> None:  # type: ignore[no-untyped-def]
    """A reader that loaded a night's JSON from PostgreSQL before an edit's job ran does not
    cache it: the job leaves a tombstone in the item's place, and a late write over anything
    but what the reader found must not bring the old JSON back."""
    feeds = app.state.services[FeedCache]
    record = uuid.uuid4()
    # The reader found nothing; the edit's job ran meanwhile.
    await feeds.forget_item(record, 1)
    assert await feeds.store_items({record: (None, '{"as":"it was"}')}) == [False]
    assert await redis.get(item_key(record)) == b"~1"
    # A reader that found the tombstone stores the JSON it read after it.
    assert await feeds.store_items({record: (b"~1", '{"as":"it is"}')}) == [True]
    assert await redis.get(item_key(record)) == b'{"as":"it is"}'
