"""The search answers each API process keeps in memory, keyed by the catalog version.

Peak search traffic (5,000 to 10,000 requests/s) is more than one Redis round trip per request
allows on two cores, so each process answers repeated queries from its own memory. It learns a
new catalog version the moment a sync publishes it (Redis pub/sub, `catalog:version`); while
Redis is unreachable it reads the version from PostgreSQL once a second instead. Answers are
keyed by version, so a new version makes every older answer unreachable at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rhythm.catalog import repository

log = structlog.get_logger("rhythm.catalog.cache")

CHANNEL = "catalog:version"
VERSION_KEY = "catalog:version"
POLL_SECONDS = 1.0


class SearchCache:
    def __init__(
        self,
        redis: Redis,
        session_factory: async_sessionmaker[AsyncSession],
        max_entries: int = 2000,
    ) -> None:
        self.redis = redis
        self.session_factory = session_factory
        self.max_entries = max_entries
        self.version: int | None = None
        self._entries: OrderedDict[tuple[int, str], bytes] = OrderedDict()

    def get(self, version: int, query: str) -> bytes | None:
        body = self._entries.get((version, query))
        if body is not None:
            self._entries.move_to_end((version, query))
        return body

    def put(self, version: int, query: str, body: bytes) -> None:
        self._entries[(version, query)] = body
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def learn(self, version: int) -> None:
        if self.version is None or version > self.version:
            self.version = version

    async def load_version(self) -> int:
        """The current version, from Redis, else from PostgreSQL."""
        try:
            value = await self.redis.get(VERSION_KEY)
            if value is not None:
                self.learn(int(value))
                assert self.version is not None
                return self.version
        except RedisError:
            pass
        async with self.session_factory() as session:
            version = await repository.current_version(session)
        self.learn(version)
        return version

    async def follow(self) -> None:
        """Keep `version` current until cancelled: pub/sub, else polling PostgreSQL."""
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    await self.load_version()  # anything published before the subscription
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            with contextlib.suppress(ValueError, TypeError):
                                self.learn(int(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis gone: poll PostgreSQL until it is back
                log.warning("catalog_version_feed_lost", error=str(exc))
                deadline = asyncio.get_running_loop().time() + 10 * POLL_SECONDS
                while asyncio.get_running_loop().time() < deadline:
                    with contextlib.suppress(Exception):
                        async with self.session_factory() as session:
                            self.learn(await repository.current_version(session))
                    await asyncio.sleep(POLL_SECONDS)


async def publish(redis: Redis, version: int) -> None:
    """Announce a catalog version to every API process."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(VERSION_KEY, version)
        pipe.publish(CHANNEL, version)
        await pipe.execute()
