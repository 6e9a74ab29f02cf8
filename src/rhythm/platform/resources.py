"""The long-lived connections one process holds: the engine, its sessions and Redis."""

from __future__ import annotations

from dataclasses import dataclass

from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rhythm.platform.database import create_engine, create_session_factory
from rhythm.platform.redis import RedisClient, create_redis
from rhythm.platform.settings import Settings


@dataclass
class Resources:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    redis: RedisClient

    @property
    def database_url(self) -> str:
        assert self.settings.database_url is not None
        return self.settings.database_url

    @property
    def redis_url(self) -> str:
        assert self.settings.redis_url is not None
        return self.settings.redis_url

    async def close(self) -> None:
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
    return Resources(
        settings=settings,
        engine=engine,
        session_factory=create_session_factory(engine),
        redis=create_redis(settings.redis_url, cluster=settings.redis_cluster),
    )


def resources_of(context: JobContext) -> Resources:
    """The Resources a worker passes to every job it runs."""
    resources: Resources = context.additional_context["resources"]
    return resources
