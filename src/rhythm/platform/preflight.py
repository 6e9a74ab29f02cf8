"""What an operator is told when a command cannot reach its servers: one sentence, no traceback.

A command checks PostgreSQL and Redis before it starts its work (`connect_database`,
`check_redis`), so that a wrong URL, a server that is down or a database that does not exist
is named at once; `explain` turns the same failures met later, mid-run, into the same kind of
sentence. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import asyncpg  # type: ignore[import-untyped]
import psycopg
from redis import Redis, RedisCluster
from redis.cluster import ClusterNode
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import SQLAlchemyError

from rhythm.platform.database import libpq_url
from rhythm.platform.errors import database_unavailable
from rhythm.platform.redis import cluster_nodes, is_cluster_url

CONNECT_TIMEOUT_SECONDS = 5


class OperatorError(Exception):
    """A problem of configuration or connection, worded for the operator."""


def shown(url: str) -> str:
    """The URL as an operator may see it: no password."""
    return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", url, count=1)


def reason(exc: BaseException) -> str:
    """A driver's message on one line, without its boilerplate (and libpq's hint lines)."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    # libpq: 'connection failed: connection to server at "h", port 5432 failed: FATAL:  why'
    text = text.rsplit(" failed: ", 1)[-1]
    text = text.removeprefix("FATAL:").strip().rstrip(".")
    return text or type(exc).__name__


def connect_database(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """An open connection to the database, or OperatorError saying why there is none.

    Its statements are never prepared (a command's checks run each once), so it works through
    a transaction pooler too (Settings.database_pooler)."""
    try:
        return psycopg.connect(
            libpq_url(url), connect_timeout=CONNECT_TIMEOUT_SECONDS, prepare_threshold=None
        )
    except psycopg.Error as exc:
        raise OperatorError(f"cannot reach PostgreSQL at {shown(url)}: {reason(exc)}.") from None


def check_redis(url: str, *, cluster: bool = False) -> None:
    """Redis answers; for a cluster (RHYTHM_REDIS_CLUSTER or a redis+cluster:// URL), one of
    its nodes answers with the cluster's slots and every node pings back."""
    timeout = CONNECT_TIMEOUT_SECONDS
    client: Redis | RedisCluster | None = None
    try:
        if cluster or is_cluster_url(url):
            client = RedisCluster(
                startup_nodes=[
                    ClusterNode(host, port)  # type: ignore[no-untyped-call]
                    for host, port in cluster_nodes(url)
                ],
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
            )
        else:
            client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        client.ping()
    except (RedisError, RedisClusterException) as exc:
        raise OperatorError(f"cannot reach Redis at {shown(url)}: {reason(exc)}.") from None
    finally:
        if client is not None:
            client.close()


def explain(exc: BaseException) -> str | None:
    """The sentence for a lost or refused connection met mid-run; None for anything else (a
    missing file is an OSError too, and says so itself)."""
    chain = list(_chain(exc))
    for current in chain:
        if isinstance(current, OperatorError):
            return str(current)
        if isinstance(current, RedisConnectionError | RedisTimeoutError):
            return f"Redis failed: {reason(current)}."
        if isinstance(current, psycopg.OperationalError):
            return f"PostgreSQL failed: {reason(current)}."
    if any(isinstance(e, _DATABASE_ERRORS) for e in chain) and database_unavailable(exc):
        return f"PostgreSQL failed: {reason(chain[-1])}."
    return None


_DATABASE_ERRORS = (SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    current: BaseException | None = exc
    for _ in range(8):
        if current is None:
            return
        yield current
        # SQLAlchemy keeps the driver's error as `orig` (and as the cause when it raised).
        current = current.__cause__ or getattr(current, "orig", None) or current.__context__
