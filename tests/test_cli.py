"""Operator errors are sentences: every `rhythm` command, run as an operator runs it, answers a
configuration or connection problem with one line on stderr and a non-zero exit, never a
traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from alembic.script import ScriptDirectory
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from rhythm.migrations import alembic_config, upgrade
from rhythm.platform.database import libpq_url
from rhythm.platform.preflight import explain
from tests.conftest import free_port

# Commands that work on the configured servers without migrating them first.
OPERATING = [
    ["worker"],
    ["users", "promote", "nobody@example.com"],
    ["catalog", "sync", "--file", "absent.xml"],
    ["usage", "import", "absent.json", "--user", "nobody@example.com"],
    ["users", "export", "nobody@example.com"],
    ["users", "import", "nobody@example.com", "absent.ndjson"],
    ["demo"],
]


def rhythm(
    database_url: str, redis_url: str, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RHYTHM_DATABASE_URL": database_url,
        "RHYTHM_REDIS_URL": redis_url,
        "RHYTHM_SECRET_KEY": "operator-secret-key-0123456789-abcdefghij",
        "RHYTHM_LOG_LEVEL": "ERROR",
    }
    return subprocess.run(
        [sys.executable, "-m", "rhythm", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def sentence(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The one line the command printed on stderr, once it is checked to be only that."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rhythm: ")
    return lines[0]


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def test_a_database_that_does_not_exist(database_url: str, redis_url: str) -> None:
    url = make_url(with_database(database_url, "rhythm_no_such_database")).set(
        password="hunter2-secret"
    )
    missing = url.render_as_string(hide_password=False)
    for args in (["migrate"], *OPERATING):
        line = sentence(rhythm(missing, redis_url, *args))
        assert 'database "rhythm_no_such_database" does not exist' in line, line
        assert "hunter2-secret" not in line


def test_a_refused_connection(database_url: str, redis_url: str) -> None:
    closed = make_url(database_url).set(host="127.0.0.1", port=free_port())
    refused = closed.render_as_string(hide_password=False)
    for args in (["migrate"], ["serve"], *OPERATING):
        line = sentence(rhythm(refused, redis_url, *args))
        assert line.startswith("rhythm: cannot reach PostgreSQL at postgresql://"), line
        assert "Connection refused" in line, line


MALFORMED = [
    ("database", "not a url"),
    ("database", "mysql://rhythm@127.0.0.1/rhythm"),
    ("redis", "http://127.0.0.1:6379/0"),
    ("redis", "redis://127.0.0.1:port/0"),
]


def test_a_malformed_url(database_url: str, redis_url: str) -> None:
    # Each command with one of the bad URLs, and each bad URL at least once.
    commands = [["migrate"], ["serve"], *OPERATING]
    assert len(commands) >= len(MALFORMED)
    for index, args in enumerate(commands):
        variable, value = MALFORMED[index % len(MALFORMED)]
        urls = {"database": database_url, "redis": redis_url, variable: value}
        line = sentence(rhythm(urls["database"], urls["redis"], *args), code=2)
        assert line.startswith(f"rhythm: configuration error: RHYTHM_{variable.upper()}_URL: "), (
            line
        )


def test_migrations_behind_the_code(scratch_database: str, redis_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(scratch_database))
    head = script.get_current_head()
    assert head is not None
    previous = script.get_revision(head).down_revision
    assert isinstance(previous, str)

    for args in OPERATING:
        line = sentence(rhythm(scratch_database, redis_url, *args))
        assert line == (
            f"rhythm: the database has no migrations applied, this rhythm needs {head}:"
            " run `rhythm migrate`."
        )
    upgrade(scratch_database, previous)
    for args in OPERATING:
        line = sentence(rhythm(scratch_database, redis_url, *args))
        assert line == (
            f"rhythm: the database is at migration {previous}, this rhythm needs {head}:"
            " run `rhythm migrate`."
        )

    migrated = rhythm(scratch_database, redis_url, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    # Past the check now: the command does its own work and answers for itself.
    promoted = rhythm(scratch_database, redis_url, "users", "promote", "nobody@example.com")
    assert promoted.returncode == 1
    assert promoted.stderr.strip() == "No account with the email nobody@example.com."


def test_a_database_migrated_by_a_newer_rhythm(scratch_database: str, redis_url: str) -> None:
    upgrade(scratch_database)
    with psycopg.connect(libpq_url(scratch_database), autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    for args in (["migrate"], *OPERATING):
        line = sentence(rhythm(scratch_database, redis_url, *args))
        assert line.startswith(
            "rhythm: the database is at migration 9999_future, which this version of rhythm"
            " does not know"
        ), line


def test_redis_unreachable(database_url: str) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    for args in (["serve"], *OPERATING):
        line = sentence(rhythm(database_url, closed, *args))
        assert line.startswith(f"rhythm: cannot reach Redis at {closed}: "), line
        assert "Connection refused" in line, line


def test_a_connection_lost_mid_run_is_a_sentence_and_a_bug_keeps_its_traceback() -> None:
    # What `main` prints for an exception that escapes a command once it is under way.
    port = free_port()
    engine = create_engine(f"postgresql+psycopg://rhythm@127.0.0.1:{port}/rhythm")
    with pytest.raises(DBAPIError) as database:
        engine.connect()
    engine.dispose()
    assert explain(database.value) == "PostgreSQL failed: Connection refused."
    with pytest.raises(RedisError) as redis:
        Redis.from_url(f"redis://127.0.0.1:{port}/0").ping()
    assert explain(redis.value) == (
        f"Redis failed: Error 111 connecting to 127.0.0.1:{port}. Connection refused."
    )
    with pytest.raises(FileNotFoundError) as missing:
        open("/nonexistent/feed.xml")  # noqa: SIM115
    assert explain(missing.value) is None
