"""The long-lived connections one process holds: the engine, its sessions and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rhythm.platform.database import ReadSession, create_engine, create_session_factory
from rhythm.platform.redis import RedisClient, create_redis
from rhythm.platform.replicas import Replicas, Writer
from rhythm.platform.settings import Settings

T = TypeVar("T")


@dataclass
class Resources:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    redis: RedisClient
    replicas: Replicas | None = None

    @property
    def database_url(self) -> str:
        assert self.settings.database_url is not None
        return self.settings.database_url

    @property
    def redis_url(self) -> str:
        assert self.settings.redis_url is not None
        return self.settings.redis_url

    async def read(
        self,
        work: Callable[[ReadSession], Awaitable[T]],
        *,
        writer: Writer | None,
        fresh: bool = False,
    ) -> T:
        """`work` on a session for a read that tolerates lag: on a read replica when one fits
        (platform.replicas: it has replayed `writer`'s last write, or, with `fresh`, everything
        the primary has, for answers stored in a shared cache), else on the primary. The
        session opens on first use; nothing is committed."""
        if self.replicas is None:
            async with ReadSession(self.session_factory) as db:
                return await work(db)
        return await self.replicas.read(work, writer, fresh)

    async def read_stream(
        self, work: Callable[[AsyncSession], AsyncIterator[T]], *, writer: Writer | None
    ) -> AsyncIterator[T]:
        """`read` for a streamed answer (an export): its pieces, from a replica that fits."""
        if self.replicas is None:
            async with self.session_factory() as session:
                async for piece in work(session):
                    yield piece
            return
        async for piece in self.replicas.stream(work, writer):
            yield piece

    async def close(self) -> None:
        if self.replicas is not None:
            await self.replicas.close()
        await self.redis.aclose()
        await self.engine.dispose()


def open_resources(settings: Settings) -> Resources:
    if settings.database_url is None or settings.redis_url is None:
        raise RuntimeError(
            "RHYTHM_DATABASE_URL and RHYTHM_REDIS_URL must be set here;"
            " `rhythm serve` sets them when it starts the embedded servers."
        )
    engine = create_engine(
        settings.database_url,
        settings.db_pool_size,
        connect_timeout=settings.db_connect_timeout_seconds,
        pool_timeout=settings.db_pool_timeout_seconds,
        pooler=settings.database_pooler,
    )
    redis = create_redis(settings.redis_url, cluster=settings.redis_cluster)
    replicas = None
    if settings.database_replica_urls:
        replicas = Replicas(
            settings.database_replica_urls,
            engine,
            settings.database_url,
            redis,
            max_lag_seconds=settings.database_replica_max_lag_seconds,
            pool_size=settings.database_replica_pool_size or settings.db_pool_size,
            connect_timeout=settings.db_connect_timeout_seconds,
            pool_timeout=settings.db_pool_timeout_seconds,
            pooler=settings.database_pooler,
        )
    return Resources(
        settings=settings,
        engine=engine,
        session_factory=create_session_factory(engine, replicas),
        redis=redis,
        replicas=replicas,
    )


def resources_of(context: JobContext) -> Resources:
    """The Resources a worker passes to every job it runs."""
    resources: Resources = context.additional_context["resources"]
    return resources
