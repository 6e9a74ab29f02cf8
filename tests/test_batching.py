"""Group commit at shutdown: a write whose request was cancelled still reaches PostgreSQL
before the process closes its pool (the lifespan awaits `flush`)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.platform.batching import GroupCommit
from rhythm.platform.resources import Resources
from tests.factories import create_user


async def test_flush_waits_for_the_write_of_a_cancelled_request(app: FastAPI) -> None:
    user = await create_user(app, name="Before")

    async def write(session: AsyncSession, names: list[str]) -> list[Exception | None]:
        await asyncio.sleep(0.05)  # still under way when the request is cancelled
        await session.execute(
            text("UPDATE users SET name = :name WHERE id = :id"), {"name": names[-1], "id": user.id}
        )
        return [None for _ in names]

    commits: GroupCommit[str, None] = GroupCommit(
        app.state.services[Resources].session_factory, write, "test"
    )
    request = asyncio.create_task(commits.submit("After"))
    await asyncio.sleep(0)  # queued, and its batch begun
    request.cancel()  # the client left
    await commits.flush()

    async with app.state.services[Resources].session_factory() as session:
        name = await session.scalar(text("SELECT name FROM users WHERE id = :id"), {"id": user.id})
    assert name == "After"
    assert request.cancelled()
