"""`after_commit` (rhythm.platform.database): an action runs once its session's transaction has
committed, never after a rollback, and a failing action does not undo the commit or stop the
others. Real PostgreSQL."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.platform.database import after_commit, commit, rollback
from rhythm.platform.resources import Resources
from tests.factories import create_user

RENAME = text("UPDATE users SET name = :name WHERE id = :id")
NAME = text("SELECT name FROM users WHERE id = :id")


async def test_an_action_runs_after_the_commit_and_sees_what_it_committed(app: FastAPI) -> None:
    user = await create_user(app, name="Before")
    seen: list[str | None] = []

    async def look_from_another_connection() -> None:
        async with app.state.services[Resources].session_factory() as other:
            seen.append(await other.scalar(NAME, {"id": user.id}))

    session: AsyncSession
    async with app.state.services[Resources].session_factory() as session:
        await session.execute(RENAME, {"name": "After", "id": user.id})
        after_commit(session, look_from_another_connection)
        after_commit(session, look_from_another_connection)
        assert seen == []  # registered, not run
        await commit(session)
        assert seen == ["After", "After"]
        await session.execute(RENAME, {"name": "Again", "id": user.id})
        await commit(session)
    assert seen == ["After", "After"]  # ran once: a later commit does not run them again


async def test_an_action_is_dropped_on_rollback(app: FastAPI) -> None:
    user = await create_user(app, name="Before")
    ran: list[str] = []

    async def record() -> None:
        ran.append("ran")

    async with app.state.services[Resources].session_factory() as session:
        await session.execute(RENAME, {"name": "Rolled back", "id": user.id})
        after_commit(session, record)
        await rollback(session)
        assert ran == []
        await session.execute(RENAME, {"name": "Committed", "id": user.id})
        await commit(session)  # the next transaction of the same session
        assert ran == []
        assert await session.scalar(NAME, {"id": user.id}) == "Committed"


async def test_a_failing_action_neither_undoes_the_commit_nor_stops_the_others(
    app: FastAPI,
) -> None:
    user = await create_user(app, name="Before")
    ran: list[str] = []

    async def fail() -> None:
        raise ConnectionError("the cache is down")

    async def record() -> None:
        ran.append("ran")

    async with app.state.services[Resources].session_factory() as session:
        await session.execute(RENAME, {"name": "After", "id": user.id})
        after_commit(session, fail)
        after_commit(session, record)
        await commit(session)
    assert ran == ["ran"]
    async with app.state.services[Resources].session_factory() as session:
        assert await session.scalar(NAME, {"id": user.id}) == "After"
