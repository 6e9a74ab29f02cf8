"""The ORM models say what the migrations made: Alembic's autogenerate comparison of the models
with a database migrated to head finds nothing to change, and every index and constraint the
migrations define is declared on its model, with the same definition."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, MetaData, create_engine, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.schema import CreateIndex, Index

import rhythm
from rhythm.platform.database import Base, driver_url

# Tables the migrations create for others: procrastinate's (its own schema) and Alembic's.
FOREIGN_TABLES = re.compile(r"procrastinate_.*|alembic_version")
# The partitions of the partitioned tables (migration 0012): made at run time, not models;
# test_partitions checks what each holds.
PARTITIONS = re.compile(r"(usage_events|catalog_slot_versions)_(p[0-9]{6}|default)")


def not_ours(table: str) -> bool:
    return bool(FOREIGN_TABLES.fullmatch(table) or PARTITIONS.fullmatch(table))


def metadata() -> MetaData:
    """Every context's tables: each package of rhythm with a models module."""
    for module in pkgutil.iter_modules(rhythm.__path__):
        if module.ispkg and importlib.util.find_spec(f"rhythm.{module.name}.models"):
            importlib.import_module(f"rhythm.{module.name}.models")
    return Base.metadata


@pytest.fixture(scope="module")
def connection(database_url: str) -> Iterator[Connection]:
    engine = create_engine(driver_url(database_url, "psycopg"))
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def index_ddl(index: Index) -> str:
    return str(CreateIndex(index).compile(dialect=postgresql.dialect()))


def collated(index: Index) -> bool:
    """SQLAlchemy reflects an index expression without its COLLATE, so autogenerate would see
    such an index as another one: test_indexes_are_declared_as_migrated compares it instead."""
    return " COLLATE " in index_ddl(index)


def _ours(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    return not (type_ == "table" and name is not None and not_ours(name))


def _comparable(item: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if type_ != "index":
        return True
    declared = compare_to if reflected else item
    return declared is None or not collated(declared)


def test_autogenerate_finds_no_difference(connection: Connection) -> None:
    context = MigrationContext.configure(
        connection,
        opts={
            "include_name": _ours,
            "include_object": _comparable,
            "compare_type": True,
            "compare_server_default": True,
        },
    )
    assert compare_metadata(context, metadata()) == []


def normalised(ddl: str) -> str:
    """An index definition as PostgreSQL prints it or as SQLAlchemy compiles it, without what
    only one of them writes: the schema, the default method, casts, parentheses, spacing."""
    # A partitioned table's index is printed `ON ONLY table` (its partitions have their own).
    ddl = ddl.replace("public.", "").replace(" USING btree", "").replace(" ON ONLY ", " ON ")
    ddl = re.sub(r"::[a-z ]+", "", ddl)
    return re.sub(r"[\s()]", "", ddl).lower()


def test_indexes_are_declared_as_migrated(connection: Connection) -> None:
    rows = connection.execute(
        text(
            "SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes AS i"
            " LEFT JOIN pg_constraint AS c ON c.conname = i.indexname"
            " WHERE i.schemaname = 'public' AND c.oid IS NULL"
        )
    )
    migrated = {name: normalised(ddl) for table, name, ddl in rows if not not_ours(table)}
    declared = {
        index.name: normalised(index_ddl(index))
        for table in metadata().tables.values()
        for index in table.indexes
    }
    assert declared == {name: migrated.get(name) for name in declared}
    assert set(migrated) - set(declared) == set()


def test_check_and_exclusion_constraints_are_declared_as_migrated(connection: Connection) -> None:
    """Autogenerate compares neither: each is declared on its model, under its name."""
    rows = connection.execute(
        text(
            "SELECT conrelid::regclass::text, conname, contype FROM pg_constraint"
            " WHERE contype IN ('c', 'x') AND connamespace = 'public'::regnamespace"
        )
    )
    migrated = {
        (table, constraint, "check" if kind == "c" else "exclude")
        for table, constraint, kind in rows
        if not not_ours(table)
    }
    kinds = {CheckConstraint: "check", ExcludeConstraint: "exclude"}
    name = postgresql.dialect().identifier_preparer.format_constraint  # the naming convention
    declared = {
        (table.name, name(constraint), kinds[type(constraint)])
        for table in metadata().tables.values()
        for constraint in table.constraints
        if type(constraint) in kinds
    }
    assert declared == migrated
