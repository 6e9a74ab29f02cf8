"""FastAPI dependencies of the platform: one transaction per request, and the Redis client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.platform.database import commit, rollback
from rhythm.platform.errors import RhythmError
from rhythm.platform.http.shared import shared
from rhythm.platform.redis import RedisClient
from rhythm.platform.resources import Resources


async def get_db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit on success, roll back on error.

    A RhythmError with `commit = True` is the one exception: what the request did is kept,
    and the error is still returned (refresh-token reuse revokes a session and answers 401).
    """
    async with shared(request, Resources).session_factory() as session:
        try:
            yield session
        except RhythmError as exc:
            if exc.commit:
                await commit(session)
            else:
                await rollback(session)
            raise
        except BaseException:
            await rollback(session)
            raise
        else:
            await commit(session)


# scope="function": the transaction commits before the response is sent, so a 2xx means durable.
DbSession = Annotated[AsyncSession, Depends(get_db_session, scope="function")]


async def get_redis(request: Request) -> RedisClient:
    return shared(request, Resources).redis


RedisDep = Annotated[RedisClient, Depends(get_redis)]
