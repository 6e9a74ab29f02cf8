"""`after_commit` (rhythm.platform.database): an action runs once its session's transaction has
committed, never after a rollback, and a failing action does not undo the commit or stop the
others. Real PostgreSQL."""

from __future__ import annotations

import psycopg
from fastapi import FastAPI
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.app import create_app
from rhythm.platform.database import after_commit, commit, libpq_url, rollback
from rhythm.platform.resources import Resources
from tests.conftest import client_for, make_settings, started
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


async def test_postgresql_out_of_connections_is_a_503_problem(
    database_url: str, redis_url: str, worker_id: str
) -> None:
    """PostgreSQL refusing a connection for lack of slots (SQLSTATE 53300, "too many clients"
    or a role's connection limit) is the database being unavailable: 503, not 500."""
    role = f"rhythm_full_{worker_id}"
    admin = libpq_url(database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 0").format(sql.Identifier(role))
        )
    try:
        full = make_url(database_url).set(username=role).render_as_string(hide_password=False)
        async for running in started(create_app(make_settings(full, redis_url))):
            async with client_for(running) as http:
                response = await http.post(
                    "/api/v1/auth/register",
                    json={
                        "email": "full@example.com",
                        "password": "a-long-password-1",
                        "name": "F",
                    },
                )
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
