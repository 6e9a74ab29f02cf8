"""Read replicas with read-your-writes: which database a lag-tolerant read goes to.

Reads that tolerate lag (reports, interval lists, exports, rankings, search misses, cache
rebuilds) ask `Resources.read` for a session; with replicas configured it comes from here.

- **Position.** A background task per process polls, every `POLL_SECONDS`, the primary's
  `pg_current_wal_lsn()` and each replica's `pg_last_wal_replay_lsn()`, each with a timeout of
  `PROBE_TIMEOUT` seconds. A replica is healthy while its last probe succeeded less than
  `HEALTHY_FOR` seconds ago; a failed probe, or a failed query of a request, marks it down at
  once. So a dead or hung replica is skipped within 1 s, and a request that meets it first is
  answered from the primary (the read runs again there), never a 5xx.
- **Lag.** From the primary's recent positions, each replica's lag is the age of the newest
  primary position it has not yet replayed. A replica lagging more than
  `RHYTHM_DATABASE_REPLICA_MAX_LAG_SECONDS` serves nobody.
- **Read-your-writes.** After a transaction that wrote for a writer (a user's id, or a shared
  name such as `catalog`) commits, `remember` stores the primary's `pg_current_wal_lsn()` (at
  or past that commit) in Redis under `platform:lsn:{<writer>}` (a Redis Cluster hash tag),
  only ever raising it, for twice the lag bound. A read for that writer goes to a replica only
  if the replica's replayed position has reached it; a writer without a key has written
  nothing the lag bound does not already cover. Redis unreachable: the primary.
- **Cache fills** (`fresh=True`): a read whose answer is stored in a shared cache (a feed or
  standings rebuild) must not store anything older than the primary, or the stale answer
  would outlive the lag. It asks the primary for its position (one small query) and uses a
  replica only if it has replayed that far.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
import structlog
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rhythm.platform.database import (
    Pooler,
    ReadSession,
    create_engine,
    create_session_factory,
    libpq_url,
)
from rhythm.platform.redis import RedisClient as Redis

log = structlog.get_logger("rhythm.platform.replicas")

T = TypeVar("T")

POLL_SECONDS = 0.2
PROBE_TIMEOUT = 0.4
HEALTHY_FOR = 0.6
LSN_QUERY = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint"
REPLAY_QUERY = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"

# Raise the stored position only: two commits of one writer may finish in either order.
# Positions are stored as 16 hex digits, so comparing strings compares positions exactly.
REMEMBER_LUA = """
local current = redis.call('GET', KEYS[1])
if (not current) or ARGV[1] > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""

Writer = uuid.UUID | str


def lsn_key(writer: Writer) -> str:
    return f"platform:lsn:{{{writer}}}"


def replica_failure(exc: BaseException) -> bool:
    """Whether a read on a replica failed because of the replica (connection lost or refused,
    a timeout, its pool exhausted, a query cancelled by a recovery conflict, a read-only
    refusal): then the read runs again on the primary."""
    return isinstance(
        exc,
        DBAPIError | OSError | PoolTimeout | asyncpg.PostgresError | asyncpg.InterfaceError,
    )


@dataclass
class Replica:
    url: str
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    replayed: int = -1  # the last replay position probed
    caught_up_at: float = float("-inf")  # when the primary was last at or behind `replayed`
    probed_at: float = float("-inf")  # when the last probe succeeded; -inf when down
    probe: asyncpg.Connection | None = None

    def fit(self, now: float, max_lag: float, need: int | None) -> bool:
        if now - self.probed_at > HEALTHY_FOR or now - self.caught_up_at > max_lag:
            return False
        return need is None or self.replayed >= need

    def mark_down(self) -> None:
        if self.probed_at != float("-inf"):
            log.warning("replica_down", replica=_hide(self.url))
        self.probed_at = float("-inf")


def _hide(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


class Replicas:
    """The replicas of one process, their positions, and the choice of one for a read."""

    def __init__(
        self,
        urls: list[str],
        primary_engine: AsyncEngine,
        primary_url: str,
        redis: Redis,
        *,
        max_lag_seconds: float,
        pool_size: int,
        connect_timeout: float,
        pool_timeout: float,
        pooler: Pooler = "none",
    ) -> None:
        # Reads on the primary, when no replica fits (never committed: nothing to remember).
        self.primary = create_session_factory(primary_engine)
        self.primary_engine = primary_engine
        self.primary_url = primary_url
        self.redis = redis
        self.max_lag = max_lag_seconds
        self.lsn_ttl_ms = int(max_lag_seconds * 2 * 1000)
        self.replicas = []
        for url in urls:
            # A busy pool is not a failing replica: wait for it as for the primary's.
            engine = create_engine(
                url,
                pool_size,
                connect_timeout=min(connect_timeout, 1.0),
                pool_timeout=pool_timeout,
                pooler=pooler,
            )
            self.replicas.append(Replica(url, engine, create_session_factory(engine)))
        # Behind a transaction pooler the probes' own connections keep no prepared statements
        # either (settings.database_pooler).
        self._probe_cache = 0 if pooler == "transaction" else 100
        # The primary's recent positions, oldest first: (monotonic time, position).
        self._history: deque[tuple[float, int]] = deque()
        self._primary_probe: asyncpg.Connection | None = None
        self._poller: asyncio.Task[None] | None = None
        # The primary's position for commits and fresh reads: one query at a time on a
        # connection of its own, shared by every caller that asked before it was sent.
        self._position_connection: asyncpg.Connection | None = None
        self._position_lock = asyncio.Lock()
        self._next_position: asyncio.Future[int] | None = None
        # Writers whose commits wait for their position to be stored (remember).
        self._unremembered: set[Writer] = set()
        self._remembered: asyncio.Future[None] | None = None
        self._remember_lock = asyncio.Lock()

    # --- positions ---------------------------------------------------------------------

    def start(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll_forever())

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        probes = [self._primary_probe, self._position_connection, *(r.probe for r in self.replicas)]
        for connection in probes:
            if connection is not None:
                connection.terminate()
        for replica in self.replicas:
            await replica.engine.dispose()

    async def position(self) -> int:
        """The primary's `pg_current_wal_lsn()`, read after this call began: at or past every
        commit that finished before it. Concurrent callers share one query (as group commit
        shares one transaction), so a burst of commits costs one round trip, and no pooled
        connection is taken from the requests."""
        if self._next_position is None:
            self._next_position = asyncio.get_running_loop().create_future()
            asyncio.create_task(self._read_position())  # noqa: RUF006 (its future is awaited)
        return await asyncio.shield(self._next_position)

    async def _read_position(self) -> None:
        async with self._position_lock:
            # Whoever asked until now is served by this query; later callers by the next.
            waiting, self._next_position = self._next_position, None
            assert waiting is not None
            try:
                self._position_connection, value = await self._probe(
                    self._position_connection, self.primary_url, LSN_QUERY
                )
            except Exception as exc:
                self._position_connection = None
                waiting.set_exception(exc)
                waiting.exception()  # retrieved: a caller that left must not log it
                return
            waiting.set_result(value)

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception:  # a bug here must not stop the probes: log and go on
                log.exception("replica_poll_failed")
            await asyncio.sleep(POLL_SECONDS)

    async def poll(self) -> None:
        """One round of probes: the primary's position, then every replica's at once."""
        try:
            self._primary_probe, position = await self._probe(
                self._primary_probe, self.primary_url, LSN_QUERY
            )
        except Exception:
            self._primary_probe = None
            return  # without the primary's position no lag can be known; keep the last
        now = time.monotonic()
        self._history.append((now, position))
        while len(self._history) > 1 and self._history[0][0] < now - self.max_lag - 2:
            self._history.popleft()
        await asyncio.gather(*(self._poll_replica(r) for r in self.replicas))

    async def _poll_replica(self, replica: Replica) -> None:
        try:
            replica.probe, replayed = await self._probe(replica.probe, replica.url, REPLAY_QUERY)
        except Exception:
            replica.probe = None
            replica.mark_down()
            return
        now = time.monotonic()
        replica.replayed = replayed
        caught_up = [t for t, position in self._history if position <= replayed]
        replica.caught_up_at = caught_up[-1] if caught_up else float("-inf")
        if not self._history or self._history[-1][1] <= replayed:
            replica.caught_up_at = now
        if replica.probed_at == float("-inf"):
            # Back (or first seen): connections pooled before it went down are dead; drop them
            # now rather than let a request find out.
            await replica.engine.dispose()
            log.info("replica_up", replica=_hide(replica.url))
        replica.probed_at = now

    async def _probe(
        self, connection: asyncpg.Connection | None, url: str, query: str
    ) -> tuple[asyncpg.Connection, int]:
        if connection is None or connection.is_closed():
            connection = await asyncpg.connect(
                libpq_url(url), timeout=PROBE_TIMEOUT, statement_cache_size=self._probe_cache
            )
        try:
            value = await connection.fetchval(query, timeout=PROBE_TIMEOUT)
        except BaseException:
            connection.terminate()
            raise
        return connection, -1 if value is None else int(value)

    # --- the choice ----------------------------------------------------------------------

    async def choose(self, writer: Writer | None, fresh: bool) -> Replica | None:
        """A replica fit for this read, or None for the primary."""
        self.start()
        now = time.monotonic()
        if not any(r.fit(now, self.max_lag, None) for r in self.replicas):
            return None
        need: int | None = None
        if fresh:
            # The primary is at least where it was last probed: a replica behind that cannot
            # be current, so under writes a fresh read goes to the primary without asking.
            latest = self._history[-1][1] if self._history else None
            if latest is None or not any(r.fit(now, self.max_lag, latest) for r in self.replicas):
                return None
            try:
                need = await self.position()
            except Exception:
                return None
        elif writer is not None:
            try:
                stored = await self.redis.get(lsn_key(writer))
            except RedisError:
                return None  # unknown: only the primary is certainly current
            need = None if stored is None else int(stored, 16)
        fit = [r for r in self.replicas if r.fit(now, self.max_lag, need)]
        if not fit:
            return None
        # Spread reads: the replica with the most replayed first would draw every read.
        return fit[int(now * 1000) % len(fit)]

    async def read(
        self, work: Callable[[ReadSession], Awaitable[T]], writer: Writer | None, fresh: bool
    ) -> T:
        chosen = _ChosenRead(self, writer, fresh)
        try:
            async with chosen as db:
                return await work(db)
        except Exception as exc:
            if chosen.replica is None or not replica_failure(exc):
                raise
            chosen.replica.mark_down()
            log.warning("replica_read_failed", replica=_hide(chosen.replica.url), error=str(exc))
        async with ReadSession(self.primary) as db:
            return await work(db)

    async def stream(
        self, work: Callable[[AsyncSession], AsyncIterator[T]], writer: Writer | None
    ) -> AsyncIterator[T]:
        """`work`'s pieces from a replica, or from the primary if the replica fails before the
        first piece (after it, the failure is the stream's, as on the primary)."""
        replica = await self.choose(writer, fresh=False)
        if replica is not None:
            started = False
            try:
                async with replica.session_factory() as session:
                    async for piece in work(session):
                        started = True
                        yield piece
                return
            except Exception as exc:
                if started or not replica_failure(exc):
                    raise
                replica.mark_down()
                log.warning("replica_read_failed", replica=_hide(replica.url), error=str(exc))
        async with self.primary() as session:
            async for piece in work(session):
                yield piece

    # --- read-your-writes ----------------------------------------------------------------

    async def remember(self, writers: Sequence[Writer]) -> None:
        """After a commit that wrote for `writers`: the primary's position, at or past that
        commit, as each writer's position to wait for. Commits finishing together share one
        position query and one Redis pipeline. A failure is logged: the writers' next reads
        then follow the lag bound alone."""
        self._unremembered.update(writers)
        if self._remembered is None:
            self._remembered = asyncio.get_running_loop().create_future()
            asyncio.create_task(self._remember_pending())  # noqa: RUF006 (its future is awaited)
        await asyncio.shield(self._remembered)

    async def _remember_pending(self) -> None:
        async with self._remember_lock:
            # Whoever committed until now is covered by a position read from here on.
            done, self._remembered = self._remembered, None
            writers, self._unremembered = self._unremembered, set()
            assert done is not None
            try:
                value = f"{await self.position():016x}"
                async with self.redis.pipeline(transaction=False) as pipe:
                    for writer in writers:
                        # EVAL, not a registered script: a cluster's pipeline refuses EVALSHA.
                        pipe.eval(REMEMBER_LUA, 1, lsn_key(writer), value, self.lsn_ttl_ms)
                    await pipe.execute()
            except Exception as exc:  # Redis, or the primary's position: never the request's
                log.warning("replica_remember_failed", error=str(exc))
            done.set_result(None)


class _ChosenRead(ReadSession):
    """A ReadSession whose database is chosen when it is first used: a read the cache
    answers costs no choice (no Redis read, no position query)."""

    def __init__(self, replicas: Replicas, writer: Writer | None, fresh: bool) -> None:
        super().__init__(replicas.primary)
        self._replicas = replicas
        self._writer = writer
        self._fresh = fresh
        self.replica: Replica | None = None

    async def __call__(self) -> AsyncSession:
        if self._session is None:
            self.replica = await self._replicas.choose(self._writer, self._fresh)
            if self.replica is not None:
                self._factory = self.replica.session_factory
        return await super().__call__()


def status(replicas: Replicas) -> list[dict[str, Any]]:
    """Each replica's state as probed (for logs and tests)."""
    now = time.monotonic()
    return [
        {
            "url": _hide(r.url),
            "healthy": now - r.probed_at <= HEALTHY_FOR,
            "replayed": r.replayed,
            "lag_seconds": max(0.0, now - r.caught_up_at),
        }
        for r in replicas.replicas
    ]
