"""Alembic environment: synchronous psycopg, all migrations in one transaction that first takes
an advisory lock, so that concurrent migrators queue.

The lock is the transaction's (pg_advisory_xact_lock), not the session's: through a pooler in
transaction mode (Settings.database_pooler) a session lock is taken on one server connection
and its unlock may run on another, leaving the lock held. psycopg prepares nothing
(prepare_threshold=None) for the same reason: a named statement outlives its transaction on a
server connection that other clients get next.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from rhythm.migrations import metadata

MIGRATION_LOCK = 7_263_533_001

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url, poolclass=pool.NullPool, connect_args={"prepare_threshold": None})
    with engine.connect() as connection:
        # The lock begins the transaction the migrations run in (Alembic joins a transaction
        # already begun), and the commit releases it.
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        context.configure(connection=connection, target_metadata=metadata())
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    engine.dispose()


run_migrations_online()
