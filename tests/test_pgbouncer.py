"""rhythm behind Debian's PgBouncer in transaction mode (issue 15, docs/scaling.md).

PgBouncer 1.18 knows nothing of prepared statements: a named one stays on the server
connection it was made on, which the next transaction of any client may get. Each test starts
real PgBouncer processes (tests/pgbouncer.py) in front of the test PostgreSQL, and is skipped
without Debian's pgbouncer (failed instead when RHYTHM_REQUIRE_PGBOUNCER=1, as in CI).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url

from rhythm.jobs import run_worker
from rhythm.migrations import alembic_config
from rhythm.platform.database import libpq_url
from rhythm.platform.queue import defer
from rhythm.platform.resources import open_resources
from tests.conftest import make_settings
from tests.pgbouncer import PgBouncer

# One process's first statement through the pooler, as the app's engine sends it.
FIRST_STATEMENT = """
import asyncio, sys
from sqlalchemy import text
from rhythm.platform.database import create_engine

async def main(url, pooler):
    engine = create_engine(url, 1, pooler=pooler)
    async with engine.begin() as conn:
        await conn.execute(text("SELECT count(*) FROM users WHERE email = :e"), {"e": "x"})
    await engine.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.fixture
def one_server_connection(pgbouncer: PgBouncer, database_url: str) -> Iterator[str]:
    """The test database through a PgBouncer of its own with one server connection, which
    every client's transaction therefore gets in turn (`pgbouncer` skips or fails the test
    without Debian's pgbouncer)."""
    name = make_url(database_url).database
    assert name is not None
    with PgBouncer(os.environ["RHYTHM_TEST_DATABASE_URL"], pool_size=1) as bouncer:
        yield bouncer.url(name)


def first_statement(url: str, pooler: str) -> subprocess.CompletedProcess[str]:
    """A new process (asyncpg names statements with a per-process counter) runs it."""
    return subprocess.run(
        [sys.executable, "-c", FIRST_STATEMENT, url, pooler],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_the_setting_a_second_process_fails_at_its_first_statement(
    one_server_connection: str,
) -> None:
    first = first_statement(one_server_connection, "none")
    assert first.returncode == 0, first.stderr
    second = first_statement(one_server_connection, "none")
    assert second.returncode != 0
    assert 'prepared statement "__asyncpg_stmt_1__" already exists' in second.stderr


def test_with_the_setting_every_process_works_through_the_pooler(
    one_server_connection: str,
) -> None:
    for _ in range(3):
        done = first_statement(one_server_connection, "transaction")
        assert done.returncode == 0, done.stderr
    # And it left no prepared statement on the server connection for the next client.
    with psycopg.connect(libpq_url(one_server_connection), prepare_threshold=None) as conn:
        row = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
    assert row == (0,)


async def test_a_deferred_job_is_run_by_a_worker_through_the_pooler(
    app, pgbouncer: PgBouncer, database_url: str, redis_url: str
) -> None:
    """The worker cannot LISTEN through the pooler: it polls (jobs.POOLED_POLL_SECONDS), and
    the job deferred after it started still runs."""
    name = make_url(database_url).database
    assert name is not None
    settings = make_settings(pgbouncer.url(name), redis_url, database_pooler="transaction")
    resources = open_resources(settings)
    worker = asyncio.create_task(run_worker(resources, queues=["maintenance"]))
    try:
        async with resources.session_factory() as session:
            job = await defer(
                session, "identity:purge_expired_sessions", queue="maintenance", timestamp=0
            )
            await session.commit()
        status = None
        for _ in range(600):  # a bound on the wait, not a measure of it
            async with resources.engine.connect() as conn:
                status = (
                    await conn.execute(
                        text("SELECT status::text FROM procrastinate_jobs WHERE id = :id"),
                        {"id": job},
                    )
                ).scalar_one()
            if status == "succeeded" or worker.done():
                break
            await asyncio.sleep(0.1)
        assert status == "succeeded"
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
        await resources.close()


def rhythm_migrate(url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "RHYTHM_DATABASE_URL": url, "RHYTHM_DATABASE_POOLER": "transaction"}
    return subprocess.Popen(
        [sys.executable, "-m", "rhythm", "migrate"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_rhythm_migrate_through_the_pooler(pgbouncer: PgBouncer, scratch_database: str) -> None:
    """Two migrators at once queue on the migration lock and both succeed; a third, later,
    finds the lock free (a session lock would have stayed on whichever server connection
    took it)."""
    name = make_url(scratch_database).database
    assert name is not None
    with PgBouncer(os.environ["RHYTHM_TEST_DATABASE_URL"], pool_size=2) as bouncer:
        url = bouncer.url(name)
        migrators = [rhythm_migrate(url), rhythm_migrate(url)]
        for migrator in migrators:
            output, _ = migrator.communicate(timeout=120)
            assert migrator.returncode == 0, output
        again = rhythm_migrate(url)
        output, _ = again.communicate(timeout=120)
        assert again.returncode == 0, output
        with psycopg.connect(libpq_url(url), prepare_threshold=None) as conn:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            locks = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()
        bouncer.kill_database(name)
    script = ScriptDirectory.from_config(alembic_config(url))
    assert version == [(script.get_current_head(),)]
    assert locks == (0,)
