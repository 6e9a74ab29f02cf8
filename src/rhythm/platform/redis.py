"""The Redis client. Redis holds only what PostgreSQL can rebuild: caches, counters, feeds."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(url: str) -> Redis:
    return Redis.from_url(
        url,
        max_connections=64,
        socket_connect_timeout=1.0,
        socket_timeout=2.0,
        health_check_interval=30,
    )


async def forget_keys_naming(redis: Redis, needle: str, *, keep_prefixes: tuple[str, ...]) -> int:
    """Delete every key whose name contains `needle` (an erased account's id), except those
    starting with `keep_prefixes`. A SCAN of the whole keyspace: meant for rare work (account
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
