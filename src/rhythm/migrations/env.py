"""Alembic environment: synchronous psycopg, one advisory lock so concurrent migrators queue."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from rhythm.catalog import models as _catalog  # noqa: F401  (register tables on Base)
from rhythm.focus import models as _focus  # noqa: F401
from rhythm.identity import models as _identity  # noqa: F401
from rhythm.platform.database import Base
from rhythm.sleep import models as _sleep  # noqa: F401
from rhythm.social import models as _social  # noqa: F401
from rhythm.usage import models as _usage  # noqa: F401

MIGRATION_LOCK = 7_263_533_001

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        connection.commit()
        try:
            context.configure(connection=connection, target_metadata=Base.metadata)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            connection.commit()
    engine.dispose()


run_migrations_online()
