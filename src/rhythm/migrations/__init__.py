"""Alembic migrations of rhythm, applied with `rhythm migrate` or at `rhythm serve` start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from rhythm.platform.database import driver_url

HERE = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # configparser interpolates %: escape it (socket paths are percent-encoded).
    config.set_main_option("sqlalchemy.url", driver_url(database_url, "psycopg").replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
