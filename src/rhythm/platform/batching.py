"""Group commit: many requests' writes in one transaction, each request still answered alone.

Requests that arrive while a batch is being written wait for the next batch, so under load a
transaction carries many writes (one set of round trips and one commit for all), and a quiet
server writes each at once. Every request is answered only after the commit that made its
write durable. A batch that fails as a whole is retried one item at a time, so one bad item
fails only its own request; a batch that failed because PostgreSQL is unreachable is not
retried, and every request in it is answered 503 at once.

What waits in memory is bounded: once `max_queued` (counted by `weight`, say heartbeats) are
queued or being written, a new submission waits for room instead of being refused, so a flood
is made slower, not answered with an error, and the queue never grows past the bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rhythm.platform.database import commit, rollback
from rhythm.platform.errors import DatabaseUnavailable, database_unavailable

log = structlog.get_logger("rhythm.platform.batching")

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")

# Writes a batch in the given session (without committing); one outcome per item, in order:
# a result, or the exception that item's request must raise.
BatchWriter = Callable[[AsyncSession, list[Item]], Awaitable[list[Outcome | Exception]]]


@dataclass
class _Waiting(Generic[Item, Outcome]):
    item: Item
    future: asyncio.Future[Outcome]
    weight: int


class GroupCommit(Generic[Item, Outcome]):
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        write: BatchWriter[Item, Outcome],
        name: str,
        max_batch: int = 200,
        max_queued: int = 10_000,
        weight: Callable[[Item], int] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.write = write
        self.name = name
        self.max_batch = max_batch
        self.max_queued = max_queued
        self.weight = weight
        self._queue: list[_Waiting[Item, Outcome]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._queued = 0  # the weight queued or being written
        self._room = asyncio.Event()
        # Batches committed, waiting for their writers' positions (platform.replicas) before
        # their requests are answered; the next batch does not wait for them.
        self._answering: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Outcome:
        """Queue the item (once there is room); its outcome once the batch that carries it has
        committed."""
        weight = 1 if self.weight is None else self.weight(item)
        while self._queued and self._queued + weight > self.max_queued:
            self._room.clear()
            await self._room.wait()
        self._queued += weight
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(item, future, weight))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        # If the request is cancelled (the client left), its write still goes on.
        return await asyncio.shield(future)

    async def flush(self) -> None:
        """Wait until every submitted item is written: a request whose client left still has
        its write going on, and the process must not close its pool under it."""
        while self._drainer is not None and not self._drainer.done():
            await asyncio.wait([self._drainer])
        if self._answering:
            await asyncio.wait(list(self._answering))

    async def _drain(self) -> None:
        while self._queue:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            outcomes: list[Outcome | Exception]
            remembering: list[Callable[[], Awaitable[None]]] = []
            try:
                outcomes = await self._commit([w.item for w in batch], remembering)
            except Exception as exc:
                if len(batch) == 1:
                    outcomes = [exc]
                elif database_unavailable(exc):
                    # No item would fare better alone: answer them all at once (503).
                    outcomes = [DatabaseUnavailable() for _ in batch]
                else:
                    log.warning("batch_failed", writer=self.name, size=len(batch), exc_info=True)
                    outcomes = []
                    for waiting in batch:
                        try:
                            outcomes.extend(await self._commit([waiting.item], remembering))
                        except Exception as single:
                            outcomes.append(single)
            self._queued -= sum(w.weight for w in batch)
            self._room.set()
            if remembering:
                task = asyncio.create_task(self._answer_after(remembering, batch, outcomes))
                self._answering.add(task)
                task.add_done_callback(self._answering.discard)
            else:
                _answer(batch, outcomes)

    @staticmethod
    async def _answer_after(
        remembering: list[Callable[[], Awaitable[None]]],
        batch: list[_Waiting[Item, Outcome]],
        outcomes: list[Outcome | Exception],
    ) -> None:
        for remember in remembering:
            await remember()  # logs its own failures
        _answer(batch, outcomes)

    async def _commit(
        self, items: list[Item], remembering: list[Callable[[], Awaitable[None]]]
    ) -> list[Outcome | Exception]:
        async with self.session_factory() as session:
            try:
                outcomes = await self.write(session, items)
            except BaseException:
                await rollback(session)
                raise
            remember = await commit(session, remember=False)
            if remember is not None:
                remembering.append(remember)
            return outcomes


def _answer(batch: list[_Waiting[Item, Outcome]], outcomes: list[Outcome | Exception]) -> None:
    for waiting, outcome in zip(batch, outcomes, strict=True):
        if waiting.future.done():
            continue
        if isinstance(outcome, Exception):
            waiting.future.set_exception(outcome)
        else:
            waiting.future.set_result(outcome)
