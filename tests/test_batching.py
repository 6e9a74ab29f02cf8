"""Group commit: one bad item of a batch fails alone, and at shutdown a write whose request was
cancelled still reaches PostgreSQL before the process closes its pool (the lifespan awaits
`flush`)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.platform.batching import GroupCommit
from rhythm.platform.errors import Conflict
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


async def test_one_bad_item_fails_alone_and_the_rest_of_its_batch_is_stored(app: FastAPI) -> None:
    users = [await create_user(app, name=f"Before {i}") for i in range(4)]
    batches: list[int] = []

    async def rename(session: AsyncSession, items: list[tuple[int, str]]) -> list[Exception | str]:
        batches.append(len(items))
        for user_id, name in items:
            await session.execute(
                text("UPDATE users SET name = :name WHERE id = :id"), {"name": name, "id": user_id}
            )
        return [name for _, name in items]

    commits: GroupCommit[tuple[int, str], str] = GroupCommit(
        app.state.services[Resources].session_factory, rename, "test"
    )
    too_long = "x" * 101  # users.name is varchar(100): PostgreSQL refuses the whole batch
    wanted = [(u.id, too_long if i == 2 else f"After {i}") for i, u in enumerate(users)]
    outcomes = await asyncio.gather(
        *(commits.submit(item) for item in wanted), return_exceptions=True
    )

    assert batches == [4, 1, 1, 1, 1]  # one batch carried them all, then each was retried alone
    assert [o for i, o in enumerate(outcomes) if i != 2] == ["After 0", "After 1", "After 3"]
    assert isinstance(outcomes[2], DBAPIError)
    async with app.state.services[Resources].session_factory() as session:
        names = dict(
            (
                await session.execute(
                    text("SELECT id, name FROM users WHERE id = ANY(:ids)"),
                    {"ids": [u.id for u in users]},
                )
            ).all()
        )
    assert [names[u.id] for u in users] == ["After 0", "After 1", "Before 2", "After 3"]


async def test_an_item_refused_by_its_writer_fails_alone(app: FastAPI) -> None:
    user = await create_user(app, name="Before")

    async def write(session: AsyncSession, items: list[str]) -> list[Exception | str]:
        outcomes: list[Exception | str] = []
        for name in items:
            if name == "refused":
                outcomes.append(Conflict("Refused by the writer."))
                continue
            await session.execute(
                text("UPDATE users SET name = :name WHERE id = :id"), {"name": name, "id": user.id}
            )
            outcomes.append(name)
        return outcomes

    commits: GroupCommit[str, str] = GroupCommit(
        app.state.services[Resources].session_factory, write, "test"
    )
    accepted, refused = await asyncio.gather(
        commits.submit("After"), commits.submit("refused"), return_exceptions=True
    )
    assert accepted == "After"
    assert isinstance(refused, Conflict)
    async with app.state.services[Resources].session_factory() as session:
        name = await session.scalar(text("SELECT name FROM users WHERE id = :id"), {"id": user.id})
    assert name == "After"
