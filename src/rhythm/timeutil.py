"""Local days and ISO weeks in IANA time zones. Pure: no I/O."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class InvalidWeek(ValueError):
    pass


def iso_week(day: date) -> str:
    """`2026-W46` for any date of that ISO week (ISO years can differ from calendar years)."""
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def parse_week(text: str) -> tuple[date, date]:
    """The Monday and Sunday of an ISO week written `YYYY-Www`."""
    match = _WEEK.match(text)
    if match is None:
        raise InvalidWeek(f"{text!r} is not an ISO week like 2026-W46")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        raise InvalidWeek(f"{text!r}: {year} has no week {week}") from None
    return monday, monday + timedelta(days=6)


def local_date(instant: datetime, zone: str) -> date:
    return instant.astimezone(ZoneInfo(zone)).date()


def local_iso(instant: datetime, zone: str) -> str:
    """The instant on the zone's wall clock, with that zone's offset at that instant."""
    return instant.astimezone(ZoneInfo(zone)).isoformat()


def previous_week(now: datetime, zone: str) -> str:
    """The ISO week before the one `now` falls in, on the zone's calendar."""
    return iso_week(local_date(now, zone) - timedelta(days=7))


def utc_now() -> datetime:
    return datetime.now(UTC)
