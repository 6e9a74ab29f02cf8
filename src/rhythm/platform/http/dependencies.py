"""FastAPI dependencies of the platform: one transaction per request, and the Redis client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.platform.database import commit, rollback, wrote_for
from rhythm.platform.errors import RhythmError
from rhythm.platform.http.shared import shared
from rhythm.platform.redis import RedisClient
from rhythm.platform.resources import Resources

# Methods that change nothing: their transactions are not remembered as their callers' writes.
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))


def note_caller(request: Request, user_id: object) -> None:
    """Who the request acts for (set by the caller dependencies): a request that changes
    something is remembered as that user's write, for reads on replicas (platform.replicas)."""
    request.state.caller_id = user_id


def _mark_write(request: Request, session: AsyncSession) -> None:
    if request.method not in SAFE_METHODS:
        caller = getattr(request.state, "caller_id", None)
        if caller is not None:
            wrote_for(session, caller)


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
                _mark_write(request, session)
                await commit(session)
            else:
                await rollback(session)
            raise
        except BaseException:
            await rollback(session)
            raise
        else:
            _mark_write(request, session)
            await commit(session)


# scope="function": the transaction commits before the response is sent, so a 2xx means durable.
DbSession = Annotated[AsyncSession, Depends(get_db_session, scope="function")]


async def get_redis(request: Request) -> RedisClient:
    return shared(request, Resources).redis


RedisDep = Annotated[RedisClient, Depends(get_redis)]
