"""Monthly range partitions (UTC months) of a partitioned table, through the SQL functions of
migration 0012: `<table>_pYYYYMM` partitions made ahead of time from the table's DEFAULT
partition (its columns, constraints and indexes), and dropped past a retention.

The DDL waits at most LOCK_TIMEOUT for its locks (a long query on the table): the job then
fails and runs again at its next schedule, rather than queueing every writer behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.platform.database import driver_connection

LOCK_TIMEOUT = "5s"
# Months kept made before the current one (unless past a retention): imported history of the
# last two years lands in its months' partitions, older history in the default partition.
MONTHS_BACK = 24


def month_start(when: datetime | date, months_later: int = 0) -> date:
    """The first day of the (UTC) month of `when`, moved by `months_later` months."""
    if isinstance(when, datetime):
        when = when.astimezone(UTC).date()
    index = when.year * 12 + when.month - 1 + months_later
    return date(index // 12, index % 12 + 1, 1)


async def ensure_months(session: AsyncSession, table: str, first: date, last: date) -> int:
    """Make the missing partitions of the months from `first`'s to `last`'s; how many. Safe to
    run concurrently (one maker at a time per table) and again."""
    driver = await driver_connection(session)
    await driver.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    made: int = await driver.fetchval(
        "SELECT rhythm_month_partitions($1, $2, $3)", table, first, last
    )
    return made


@dataclass(frozen=True)
class Upkeep:
    """What one run of a table's upkeep did."""

    made: int  # partitions made ahead
    dropped: list[str]  # partitions dropped past the retention
    deleted: int  # rows of those months deleted from the default partition


async def make_ahead(
    session: AsyncSession,
    table: str,
    now: datetime,
    months_ahead: int,
    retention_months: int | None,
) -> tuple[int, datetime | None]:
    """Make `table`'s partitions from MONTHS_BACK months before `now`'s (UTC) month, or from
    the retention's first kept month if later, to `months_ahead` months after it: (how many
    were made, the retention's cutoff as an instant, or None without a retention)."""
    first = month_start(now, -MONTHS_BACK)
    cutoff = None if retention_months is None else month_start(now, 1 - retention_months)
    made = await ensure_months(
        session,
        table,
        first if cutoff is None else max(first, cutoff),
        month_start(now, months_ahead),
    )
    if cutoff is None:
        return made, None
    return made, datetime(cutoff.year, cutoff.month, 1, tzinfo=UTC)


async def drop_months_before(session: AsyncSession, table: str, before: date) -> list[str]:
    """Detach and drop the partitions of the months before `before` (the first of a month);
    their names. Rows of those months in the default partition are the caller's to delete."""
    driver = await driver_connection(session)
    await driver.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    rows = await driver.fetch(
        "SELECT rhythm_drop_month_partitions($1, $2::date::timestamp AT TIME ZONE 'UTC')",
        table,
        before,
    )
    return [r[0] for r in rows]


async def partitions(session: AsyncSession, table: str) -> list[str]:
    """The table's partitions by name (the default one included)."""
    driver = await driver_connection(session)
    rows = await driver.fetch(
        "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = $1::regclass ORDER BY 1",
        table,
    )
    return [r[0] for r in rows]
