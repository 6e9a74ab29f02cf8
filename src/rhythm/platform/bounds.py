"""The documented windows every accepted date, date-time and ISO week lies in, as pure checks.

One definition per window, used by the request types of rhythm.platform.schemas (both lanes:
FastAPI and api.FastLane validate with the same types) and by the reads that must survive rows
stored before these windows existed (clamp_sql, clamp_instant).

- Stored instants (sleep, focus, query bounds): 1970-01-01T00:00:00Z <= t < 2200-01-01T00:00:00Z.
- Live instants (heartbeats, ActivityWatch events): 1970-01-01T00:00:00Z <= t <= now + 5 minutes.
- Dates and ISO weeks in queries: 1970-01-01 .. 2199-12-31 (ISO years 1970 .. 2199), so that a
  day's +1 day, a week's +7 days and any time-zone conversion of them cannot overflow.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import DateTime, case, func, literal_column, null
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from rhythm.platform.timeutil import InvalidWeek, parse_week

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_WINDOW = datetime(2200, 1, 1, tzinfo=UTC)  # exclusive
FIRST_DATE = date(1970, 1, 1)
LAST_DATE = date(2199, 12, 31)
LIVE_AHEAD = timedelta(minutes=5)

INSTANT_WINDOW = "from 1970-01-01T00:00:00Z to before 2200-01-01T00:00:00Z"
LIVE_WINDOW = "from 1970-01-01T00:00:00Z to at most 5 minutes ahead of the server's clock"
DATE_WINDOW = "from 1970-01-01 to 2199-12-31"
# How a query parameter of each kind is documented.
INSTANT_DOC = f"ISO 8601 with an offset, {INSTANT_WINDOW}."
DATE_DOC = f"YYYY-MM-DD, {DATE_WINDOW}."
WEEK_WINDOW = "ISO years 1970 to 2199"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_instant(value: datetime) -> datetime:
    """An aware date-time inside the stored window, unchanged; ValueError otherwise."""
    try:
        inside = EPOCH <= value.astimezone(UTC) < END_OF_WINDOW
    except OverflowError:  # year 1 or 9999 with an offset: outside the window anyway
        inside = False
    if not inside:
        raise ValueError(f"must lie {INSTANT_WINDOW}")
    return value


def check_live(value: datetime, now: datetime) -> datetime:
    """An aware date-time of live data: not before 1970 and at most 5 minutes ahead of `now`."""
    check_instant(value)
    if value > now + LIVE_AHEAD:
        raise ValueError("timestamp is more than 5 minutes in the future")
    return value


def check_date(value: date) -> date:
    if not FIRST_DATE <= value <= LAST_DATE:
        raise ValueError(f"must lie {DATE_WINDOW}")
    return value


def check_week(text: str) -> str:
    """An ISO week `YYYY-Www` (timeutil.parse_week) of ISO years 1970 to 2199, unchanged."""
    if len(text) != len("2026-W46"):
        raise InvalidWeek("must be an ISO week like 2026-W46")
    year = text[:4]
    if year.isascii() and year.isdigit() and not FIRST_DATE.year <= int(year) <= LAST_DATE.year:
        raise InvalidWeek(f"{text!r}: weeks are accepted in {WEEK_WINDOW}")
    parse_week(text)
    return text


def check_name(value: str) -> str:
    """An id or name: no control characters (they make no sense there, and break logs)."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def clamp_instant(value: datetime) -> datetime:
    """A stored instant moved into the window, for rows written before it was enforced:
    asyncpg reads PostgreSQL's ±infinity as naive datetime.min/max, and year 1 or 9999
    overflows any time-zone conversion."""
    if value.tzinfo is None:
        return EPOCH if value.year < 1970 else END_OF_WINDOW
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        return EPOCH if value.year < 1970 else END_OF_WINDOW
    return min(max(utc, EPOCH), END_OF_WINDOW)


def clamp_sql(column: str) -> str:
    """SQL reading a NOT NULL timestamptz column clamped into the window (±infinity and dates
    Python cannot represent included): for select lists, never for WHERE or ORDER BY, which
    keep their indexes."""
    return (
        f"least(greatest({column}, '{EPOCH.isoformat()}'::timestamptz),"
        f" '{END_OF_WINDOW.isoformat()}'::timestamptz)"
    )


class StoredInstant(TypeDecorator[datetime]):
    """timestamptz read clamped into the window: in SQL wherever the column is selected (a
    value Python cannot represent, year 20000, never reaches the driver), and in Python for
    what SQL returns unclamped (an aggregate such as max() at ±infinity)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def column_expression(self, column: ColumnElement[datetime]) -> ColumnElement[datetime]:
        low = literal_column(f"'{EPOCH.isoformat()}'::timestamptz", self)
        high = literal_column(f"'{END_OF_WINDOW.isoformat()}'::timestamptz", self)
        # least() and greatest() skip NULLs: an open night's NULL wake_at must stay NULL.
        clamped = func.least(func.greatest(column, low), high, type_=self)
        return case((column.is_(None), null()), else_=clamped)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else clamp_instant(value)
