"""Redis Cluster (issue 15): the settings that name one, and what the platform does on one.

The cluster tests run under RHYTHM_TEST_REDIS_CLUSTER=1 (`make test-redis-cluster`, on a
3-primary cluster that tests/rediscluster.py starts); without it they are skipped. The suites
that `make test-redis-cluster` runs are the rest of the proof: a command or script whose keys
span slots fails there with CROSSSLOT.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from pydantic import ValidationError
from redis.asyncio import Redis, RedisCluster

from rhythm.catalog.search_cache import CHANNEL, SearchCache
from rhythm.platform.redis import (
    RedisClient,
    cluster_nodes,
    create_redis,
    forget_keys_naming,
    tag,
)
from rhythm.platform.settings import Settings
from tests.rediscluster import PRIMARIES, LocalCluster


def test_cluster_urls_are_accepted_and_bad_ones_named() -> None:
    url = "redis+cluster://10.0.0.1:7000,10.0.0.2:7001"
    assert Settings(redis_url=url).redis_url == url
    assert cluster_nodes(url) == [("10.0.0.1", 7000), ("10.0.0.2", 7001)]
    assert cluster_nodes("redis+cluster://user:pw@h:1") == [("h", 1)]
    for bad in ("redis+cluster://h:port", "redis+cluster://h:70000", "redis+cluster://"):
        with pytest.raises(ValidationError, match="redis\\+cluster://host:port"):
            Settings(redis_url=bad)


def test_the_client_follows_the_url_or_the_setting() -> None:
    assert isinstance(create_redis("redis://127.0.0.1:6379/0"), Redis)
    assert isinstance(create_redis("redis+cluster://127.0.0.1:7000"), RedisCluster)
    assert isinstance(create_redis("redis://127.0.0.1:7000", cluster=True), RedisCluster)
    assert tag(uuid.UUID(int=1)) == "{00000000-0000-0000-0000-000000000001}"


def _on_cluster(cluster: LocalCluster | None) -> LocalCluster:
    if cluster is None:
        pytest.skip("a Redis Cluster test: run with RHYTHM_TEST_REDIS_CLUSTER=1")
    return cluster


async def test_forgetting_keys_scans_every_primary(
    redis_cluster: LocalCluster | None, redis: RedisClient
) -> None:
    cluster = _on_cluster(redis_cluster)
    needle = str(uuid.uuid4())
    names = [f"k{i}:{needle}" for i in range(60)] + [f"keep:{needle}", "other"]
    for name in names:
        await redis.set(name, 1)
    holding = [await cluster_node_keys(cluster, index) for index in range(PRIMARIES)]
    assert all(holding), "the keys spread over every primary"
    assert await forget_keys_naming(redis, needle, keep_prefixes=("keep:",)) == 60
    left = sorted([key async for key in redis.scan_iter(match="*")])
    assert left == [b"keep:" + needle.encode(), b"other"]


async def cluster_node_keys(cluster: LocalCluster, index: int) -> int:
    with cluster.node(index) as node:
        return int(node.dbsize())


async def test_a_version_published_through_any_node_reaches_the_app(
    redis_cluster: LocalCluster | None, app: FastAPI
) -> None:
    cluster = _on_cluster(redis_cluster)
    cache = app.state.services[SearchCache]
    await _until(lambda: _subscribers(cluster) >= 1)
    version = await cache.load_version()
    for index in range(PRIMARIES):
        version += 1
        with cluster.node(index) as node:
            node.publish(CHANNEL, version)
        await _until(lambda v=version: cache.version == v)  # type: ignore[misc]


def _subscribers(cluster: LocalCluster) -> int:
    total = 0
    for index in range(PRIMARIES):
        with cluster.node(index) as node:
            total += int(dict(node.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0))
    return total


async def _until(condition, seconds: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.05)


async def test_readiness_pings_the_cluster(
    redis_cluster: LocalCluster | None, client: AsyncClient
) -> None:
    _on_cluster(redis_cluster)
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
