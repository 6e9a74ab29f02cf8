"""What /search lets a stranger spend: bounds normalised to the second before they form cache
keys, a per-IP limit shared by every process (429 in the route's own error format), a cap on
the events of an answer, and byte budgets on both cache layers."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rhythm.app import create_app
from rhythm.catalog import service
from rhythm.catalog.search_cache import BYTES_KEY, INDEX_KEY, Answer, SearchCache
from rhythm.platform.redis import RedisClient
from rhythm.platform.resources import Resources
from tests.catalog.test_sync_and_search import FILES, sync_file
from tests.conftest import client_for, make_settings, started

SECOND = "2021-01-01T00:00:00"
BATCH = 64  # ratelimit.BatchedLimit's default batch


async def answer_keys(redis: RedisClient) -> list[bytes]:
    """The answers' keys (SCAN: on a cluster it covers every primary, KEYS only one)."""
    keys = [key async for key in redis.scan_iter(match="catalog:search:*")]
    return [k for k in keys if k not in (INDEX_KEY.encode(), BYTES_KEY.encode())]


async def test_distinct_microseconds_share_one_entry_and_hit_the_limit(
    database_url: str, redis_url: str
) -> None:
    limited = make_settings(database_url, redis_url, rate_limit_search="2000/hour")
    async for app in started(create_app(limited)):
        redis = app.state.services[Resources].redis
        await redis.flushdb()
        await sync_file(app, FILES[0])
        etags = set()
        async with client_for(app) as client:
            for micro in range(1, 2001):
                response = await client.get(
                    "/search",
                    params={
                        "starts_at": f"{SECOND}.{micro:06d}",
                        "ends_at": f"2030-01-01T00:00:00.{micro:06d}",
                    },
                )
                assert response.status_code == 200, (micro, response.text)
                etags.add(response.headers["etag"])
                # A server's socket I/O gives the loop a turn after each request (the limit
                # sends its counts to Redis then); the in-process client does not.
                await asyncio.sleep(0)
            refused = await client.get("/search", params={"starts_at": f"{SECOND}.002001"})
        # One key: one query of PostgreSQL, one Redis entry, one entry in memory.
        assert len(etags) == 1
        assert len(await answer_keys(redis)) == 1
        assert len(app.state.services[SearchCache]) == 1
        assert refused.status_code == 429
        body = refused.json()
        assert body["data"] is None and body["error"]["code"] == "rate_limited"
        assert set(body["error"]) == {"code", "message"}
        assert int(refused.headers["retry-after"]) >= 1
        # Another process shares the count (Redis): it refuses within one batch.
        async for other in started(create_app(limited)):
            async with client_for(other) as client:
                statuses = []
                for _ in range(BATCH + 1):
                    response = await client.get("/search", params={"starts_at": SECOND})
                    statuses.append(response.status_code)
                    await asyncio.sleep(0)
            assert statuses[-1] == 429 and statuses.count(200) <= BATCH
        await redis.flushdb()


async def test_the_limit_fails_open_without_redis(database_url: str, redis_url: str) -> None:
    async for app in started(create_app(make_settings(database_url, redis_url))):
        await sync_file(app, FILES[0])
    no_redis = make_settings(database_url, "redis://127.0.0.1:9/0", rate_limit_search="5/hour")
    async for other in started(create_app(no_redis)):
        async with client_for(other) as client:
            for _ in range(20):
                assert (await client.get("/search")).status_code == 200


async def test_an_answer_holds_at_most_the_cap(database_url: str, redis_url: str) -> None:
    capped = make_settings(database_url, redis_url, search_max_events=2)
    async for app in started(create_app(capped)):
        await app.state.services[Resources].redis.flushdb()
        for path in FILES:
            await sync_file(app, path)
        async with client_for(app) as client:
            for _ in range(2):  # from PostgreSQL, then from memory
                whole = await client.get("/search")
                assert len(whole.json()["data"]["events"]) == 2
                assert whole.headers["x-result-truncated"] == "true"
            narrow = await client.get(
                "/search",
                params={"starts_at": "2021-06-30T00:00:00", "ends_at": "2021-07-01T00:00:00"},
            )
            assert len(narrow.json()["data"]["events"]) <= 1
            assert "x-result-truncated" not in narrow.headers
    # From Redis, in a process that has not seen it: still marked. (Started after the first app
    # has stopped, not inside it: two lifespans nested on one loop could wait on each other.)
    async for other in started(create_app(capped)):
        async with client_for(other) as client:
            again = await client.get("/search")
        assert again.headers["x-result-truncated"] == "true"
        assert again.json() == whole.json()
        await other.state.services[Resources].redis.flushdb()


# Slots start and end on whole seconds: normalising the bounds never changes an answer.
whole_seconds = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime.max).map(
    lambda d: d.replace(microsecond=0)
)
bounds = st.none() | st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime.max)


@given(slot=st.tuples(whole_seconds, whole_seconds), starts=bounds, ends=bounds)
def test_normalised_bounds_match_the_same_slots(
    slot: tuple[datetime, datetime], starts: datetime | None, ends: datetime | None
) -> None:
    def matches(low: datetime | None, high: datetime | None) -> bool:
        return (low is None or slot[0] >= low) and (high is None or slot[1] <= high)

    low, high = service.normalise_bounds(starts, ends)
    assert matches(low, high) == matches(starts, ends)
    for bound in (low, high):
        assert bound is None or bound.microsecond == 0 or bound == datetime.max
    # Every bound within one second maps to one key.
    if starts is not None and starts.microsecond and starts < datetime.max - timedelta(seconds=1):
        twin = starts.replace(microsecond=random.randint(1, 999_999))
        assert service.normalise_bounds(twin, ends) == (low, high)


@settings(max_examples=200, deadline=None)
@given(
    budget=st.integers(min_value=300, max_value=5000),
    puts=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 30), st.integers(0, 3000), st.booleans()),
        max_size=60,
    ),
)
def test_the_memory_cache_never_exceeds_its_budget(
    app, budget: int, puts: list[tuple[int, int, int, bool]]
) -> None:
    cache = SearchCache(
        app.state.services[Resources].redis,
        app.state.services[Resources].session_factory,
        memory_bytes=budget,
    )
    for version, query, size, truncated in puts:
        answer = Answer(b"x" * size, truncated)
        cache.put(version, str(query), answer)
        assert cache.size <= budget
        held = [cache.get(v, str(q)) for v in range(4) for q in range(31)]
        assert cache.size == sum(
            SearchCache.cost(str(q), a)
            for (v, q), a in zip([(v, q) for v in range(4) for q in range(31)], held, strict=True)
            if a is not None
        )
        if SearchCache.cost(str(query), answer) <= budget:
            assert cache.get(version, str(query)) == answer  # the newest is always kept


async def test_the_redis_layer_keeps_within_its_budget(app, redis) -> None:
    await redis.flushdb()
    budget = 20_000
    cache = SearchCache(
        app.state.services[Resources].redis,
        app.state.services[Resources].session_factory,
        redis_bytes=budget,
    )
    rng = random.Random(7)
    for n in range(300):
        key = service.search_key(1, None, None) + str(n)
        stored = await cache.store_shared(key, Answer(b"y" * rng.randint(0, 3000), n % 2 == 0))
        assert stored
        keys = await answer_keys(redis)
        sizes = [await redis.strlen(k) for k in keys]
        assert sum(sizes) <= budget
        assert int(await redis.get(BYTES_KEY)) == sum(sizes)
        assert await redis.zcard(INDEX_KEY) == len(keys)
        assert (await cache.read_shared(key)) is not None  # the newest is always kept
    # Larger than the whole budget: not stored.
    assert not await cache.store_shared(
        service.search_key(1, None, None) + "big", Answer(b"z" * budget, False)
    )
    await redis.flushdb()
