"""The declarative base, the engine and the one-transaction-per-request session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

import structlog
from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, mapped_column

if TYPE_CHECKING:
    from rhythm.platform.replicas import Replicas, Writer

log = structlog.get_logger("rhythm.platform.database")

AFTER_COMMIT = "rhythm_after_commit"
# Sessions of a primary with read replicas carry the Replicas (in their `info`, from the
# session factory), and the writers a transaction wrote for (platform.replicas).
REPLICAS = "rhythm_replicas"
WROTE_FOR = "rhythm_wrote_for"

# Settings.database_pooler: what stands between rhythm and PostgreSQL.
Pooler = Literal["none", "transaction"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Every instant is stored with its zone (timestamptz) unless a column says otherwise.
    type_annotation_map = {datetime: DateTime(timezone=True)}


# When a row was inserted, by PostgreSQL's clock: `created_at: Mapped[CreatedAt]`.
CreatedAt = Annotated[datetime, mapped_column(DateTime(timezone=True), server_default=func.now())]


def driver_url(url: str, driver: str) -> str:
    """The same PostgreSQL URL for another driver: asyncpg for the app, psycopg for the rest."""
    parsed = make_url(url)
    return parsed.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """A plain postgresql:// URL as libpq (psycopg, procrastinate) understands it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_engine(
    url: str,
    pool_size: int,
    *,
    connect_timeout: float = 1.0,
    pool_timeout: float = 2.0,
    pooler: Pooler = "none",
) -> AsyncEngine:
    """The asyncpg engine. Nothing waits on PostgreSQL for long: a connection attempt gives up
    after `connect_timeout` and a wait for a pooled connection after `pool_timeout`, and the
    request is answered 503 (errors.DatabaseUnavailable).

    No pre-ping (a round trip on every checkout): a connection found dead when used makes
    SQLAlchemy invalidate it and every connection pooled before it, so after a PostgreSQL
    restart the pool reconnects by itself, at the cost of one failed request per process.

    Behind a transaction pooler (`pooler="transaction"`, RHYTHM_DATABASE_POOLER), a named
    prepared statement outlives the transaction on a server connection other clients get next:
    a second process's `__asyncpg_stmt_1__` finds the first one's ("already exists"). So
    neither asyncpg nor SQLAlchemy caches statements, and SQLAlchemy prepares each one unnamed
    (asyncpg then sends it again, Parse, Bind and Execute in one message, when it runs).
    """
    connect_args: dict[str, Any] = {
        "timeout": connect_timeout,
        "server_settings": {"application_name": "rhythm"},
    }
    if pooler == "transaction":
        connect_args.update(
            statement_cache_size=0,
            prepared_statement_cache_size=0,
            prepared_statement_name_func=_unnamed,
        )
    return create_async_engine(
        driver_url(url, "asyncpg"),
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_timeout=pool_timeout,
        connect_args=connect_args,
    )


def _unnamed() -> str:
    return ""


def create_session_factory(
    engine: AsyncEngine, replicas: Replicas | None = None
) -> async_sessionmaker[AsyncSession]:
    info = None if replicas is None else {REPLICAS: replicas}
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)


def wrote_for(session: AsyncSession, writer: Writer) -> None:
    """Mark the session's transaction as a write of `writer` (a user's id, or a shared name):
    once it commits, that writer's next lag-tolerant reads wait for a replica that has
    replayed it (platform.replicas). Without replicas, nothing is done."""
    if REPLICAS in session.info:
        session.info.setdefault(WROTE_FOR, set()).add(writer)


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside the session's transaction (begun here
    if no statement has begun it yet).

    For the hottest write paths only: a statement sent straight to asyncpg skips SQLAlchemy's
    per-statement work (compilation cache, parameter processing, result wrapping), which
    profiling put at a third of a focus write's CPU. Commit and rollback stay the session's.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapted = raw.dbapi_connection
    # SQLAlchemy's asyncpg adapter begins its transaction lazily, at the first statement it
    # executes itself; one sent around it must begin it first.
    if adapted is not None and adapted._transaction is None:
        await adapted._start_transaction()
    return raw.driver_connection


async def stream_rows(
    session: AsyncSession, query: str, *args: Any, batch: int = 2000
) -> AsyncIterator[list[Any]]:
    """The rows of `query`, `batch` at a time, through a server-side cursor of the session's
    transaction: however many rows there are, only one batch is in memory (exports).

    A cursor needs a named statement. asyncpg would name it `__asyncpg_stmt_N__`, counted per
    process, and free it only when the object is collected, possibly after the transaction and
    then on another server connection of a pooler: so it gets a name no other process uses,
    and is deallocated inside the transaction that made it once read to the end."""
    driver = await driver_connection(session)
    name = f"rhythm_rows_{uuid.uuid4().hex}"
    statement = await driver.prepare(query, name=name)
    cursor = await statement.cursor(*args)
    while rows := await cursor.fetch(batch):
        yield rows
    await driver.execute(f"DEALLOCATE {name}")


def after_commit(session: AsyncSession, action: Callable[[], Awaitable[None]]) -> None:
    """Run `action` once the session's transaction has committed; drop it on rollback."""
    session.info.setdefault(AFTER_COMMIT, []).append(action)


async def commit(
    session: AsyncSession, *, remember: bool = True
) -> Callable[[], Awaitable[None]] | None:
    """Commit, then run the after-commit actions. Their failures are logged, not raised:
    what they do (cache writes) must be rebuildable from what was committed.

    With read replicas, the writers the transaction wrote for are remembered
    (platform.replicas) before the after-commit actions; with `remember=False` that is left to
    the caller, who is handed it to await before answering (group commit, so that its next
    batch need not wait for it)."""
    await session.commit()
    writers = session.info.pop(WROTE_FOR, None)
    remembering: Callable[[], Awaitable[None]] | None = None
    if writers:
        replicas: Replicas = session.info[REPLICAS]
        remembering = partial(replicas.remember, list(writers))
        if remember:
            # Before the after-commit actions: one of them may publish what was written.
            await remembering()
            remembering = None
    actions = session.info.pop(AFTER_COMMIT, [])
    for action in actions:
        try:
            await action()
        except Exception as exc:
            log.warning("after_commit_failed", error=str(exc))
    return remembering


async def rollback(session: AsyncSession) -> None:
    session.info.pop(AFTER_COMMIT, None)
    session.info.pop(WROTE_FOR, None)
    await session.rollback()


class ReadSession:
    """A read-only session opened on first use, for routes that usually need no database.

    The followings feed is served from Redis when the cache is current; opening (and
    committing) a session on every request measurably cost that route, so it asks for one
    only on a miss. Nothing it does is committed: leaving the block rolls back.
    """

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = factory
        self._session: AsyncSession | None = None

    async def __call__(self) -> AsyncSession:
        if self._session is None:
            self._session = self._factory()
        return self._session

    async def __aenter__(self) -> ReadSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
