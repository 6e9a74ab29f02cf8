"""Alembic migrations of rhythm, applied with `rhythm migrate` or at `rhythm serve` start."""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy import MetaData

from rhythm.platform.database import Base, driver_url
from rhythm.platform.preflight import OperatorError, connect_database

HERE = Path(__file__).parent


CONTEXTS = ("identity", "social", "sleep", "focus", "usage", "catalog", "editors")


def metadata() -> MetaData:
    """Every table of rhythm: the models of every context, registered on the one Base."""
    for context in CONTEXTS:
        importlib.import_module(f"rhythm.{context}.models")
    return Base.metadata


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # configparser interpolates %: escape it (socket paths are percent-encoded).
    config.set_main_option("sqlalchemy.url", driver_url(database_url, "psycopg").replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def check(database_url: str, *, require_head: bool) -> None:
    """Raise OperatorError unless the database can be reached and its schema suits this code:
    at the newest migration when `require_head`, else at least one this code knows (so that
    `upgrade` can go on from it)."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    head = script.get_current_head()
    with connect_database(database_url) as connection:
        if connection.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,):
            current = None
        else:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            current = None if row is None else str(row[0])
    if current is not None and current not in {r.revision for r in script.walk_revisions()}:
        raise OperatorError(
            f"the database is at migration {current}, which this version of rhythm does not"
            f" know (its newest is {head}): run a newer rhythm, or restore the database."
        )
    if require_head and current != head:
        at = "has no migrations applied" if current is None else f"is at migration {current}"
        raise OperatorError(f"the database {at}, this rhythm needs {head}: run `rhythm migrate`.")


# The whole instance's contents, for `rhythm demo`: it fills only a fresh instance, and its
# --reset empties one first.


def _tables() -> list[sql.Identifier]:
    return [sql.Identifier(table.name) for table in metadata().sorted_tables]


def holds_data(database_url: str) -> bool:
    """Whether any of rhythm's tables has a row (procrastinate's queue aside: a server that ran
    on an empty database has queued its schedules there)."""
    query = sql.SQL("SELECT EXISTS ({})").format(
        sql.SQL(" UNION ALL ").join(
            sql.SQL("(SELECT 1 FROM {} LIMIT 1)").format(table) for table in _tables()
        )
    )
    with connect_database(database_url) as connection:
        return connection.execute(query).fetchone() == (True,)


def erase_data(database_url: str) -> None:
    """Empty every table of rhythm, and procrastinate's jobs (their arguments name users and
    records), in one transaction. Sequences go on: a catalog version is never reused, so no
    process's cached search answer outlives the data it came from."""
    tables = [*_tables(), sql.Identifier("procrastinate_jobs")]
    with connect_database(database_url) as connection:
        connection.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.SQL(", ").join(tables)))
        connection.commit()
