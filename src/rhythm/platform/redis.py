"""The Redis client. Redis holds only what PostgreSQL can rebuild: caches, counters, feeds.

One server (`redis://host:port/n`) or a Redis Cluster (`redis+cluster://host:port[,host:port]`,
or any Redis URL with RHYTHM_REDIS_CLUSTER=1), behind one type, `RedisClient`. On a cluster
every key set that one command, one script or one transaction touches shares a hash tag: the
`{id}` of whom the data belongs to (docs/scaling.md, "Redis Cluster").
"""

from __future__ import annotations

from typing import TypeAlias
from urllib.parse import unquote, urlsplit

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode

RedisClient: TypeAlias = Redis | RedisCluster

CLUSTER_SCHEME = "redis+cluster"
CONNECT_TIMEOUT, TIMEOUT = 1.0, 2.0  # seconds, on one server or on each node of a cluster


def tag(owner: object) -> str:
    """The hash tag of an owner's keys: `{owner}`. Keys read or written together carry the
    same one, so a cluster keeps them in one slot."""
    return "{" + str(owner) + "}"


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme == CLUSTER_SCHEME


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """The (host, port) pairs of a `redis+cluster://[user:password@]host:port[,host:port]` URL
    (or of a plain Redis URL's one server); ValueError when there are none or a port is bad."""
    parts = urlsplit(url)
    locations = parts.netloc.rpartition("@")[2]
    nodes: list[tuple[str, int]] = []
    for location in locations.split(","):
        host, _, port = location.strip().rpartition(":")
        if not host:
            host, port = port, "6379"
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{location!r} is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    return nodes


def create_redis(url: str, *, cluster: bool = False) -> RedisClient:
    """A client of the server at `url`; a cluster client when `cluster` (RHYTHM_REDIS_CLUSTER)
    or the URL is `redis+cluster://`. A cluster client learns the topology on first use."""
    if cluster or is_cluster_url(url):
        parts = urlsplit(url)
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in cluster_nodes(url)],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            max_connections=64,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=TIMEOUT,
            health_check_interval=30,
        )
    return Redis.from_url(
        url,
        max_connections=64,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=TIMEOUT,
        health_check_interval=30,
    )


async def forget_keys_naming(
    redis: RedisClient, needle: str, *, keep_prefixes: tuple[str, ...]
) -> int:
    """Delete every key whose name contains `needle` (an erased account's id), except those
    starting with `keep_prefixes`. A SCAN of the whole keyspace (of every primary, on a
    cluster, whose client also splits each UNLINK by slot): meant for rare work (account
    erasure, in a job), never for a request."""
    deleted = 0
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=f"*{needle}*", count=1000):
        if key.decode(errors="replace").startswith(keep_prefixes):
            continue
        batch.append(key)
        if len(batch) >= 500:
            deleted += await redis.unlink(*batch)
            batch = []
    if batch:
        deleted += await redis.unlink(*batch)
    return deleted
