"""Local days and ISO weeks in IANA time zones. Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

# Anchored with fullmatch and ASCII-only: `$` would also match before a trailing newline, and
# `\d` would take any Unicode digit.
WEEK_PATTERN = r"([0-9]{4})-W([0-9]{2})"
_WEEK = re.compile(WEEK_PATTERN, re.ASCII)


class InvalidWeek(ValueError):
    pass


def iso_week(day: date) -> str:
    """`2026-W46` for any date of that ISO week (ISO years can differ from calendar years)."""
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def parse_week(text: str) -> tuple[date, date]:
    """The Monday and Sunday of an ISO week written `YYYY-Www`."""
    match = _WEEK.fullmatch(text)
    if match is None:
        raise InvalidWeek(f"{text!r} is not an ISO week like 2026-W46")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        monday = date.fromisocalendar(year, week, 1)
        return monday, monday + timedelta(days=6)
    except (ValueError, OverflowError):  # OverflowError: the Sunday of 9999-W52 is past 9999
        raise InvalidWeek(f"{text!r}: {year} has no week {week}") from None


@dataclass(frozen=True)
class Week:
    """An ISO week: its name (`2026-W46`), its Monday and its Sunday."""

    name: str
    start: date
    end: date

    @classmethod
    def named(cls, name: str) -> Week:
        """The week written `YYYY-Www`; InvalidWeek if there is none."""
        start, end = parse_week(name)
        return cls(name, start, end)

    @classmethod
    def of(cls, day: date) -> Week:
        """The week `day` falls in."""
        monday = day - timedelta(days=day.weekday())
        return cls(iso_week(day), monday, monday + timedelta(days=6))


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


class DayPart(NamedTuple):
    """The piece of a span that falls on one local date: [start, end) as UTC instants."""

    day: date
    start: datetime
    end: datetime


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local date, in UTC.

    Where midnight does not exist (a DST jump at 00:00), `fold=0` reads it with the offset in
    force before the jump, which lands exactly on the jump: the first instant the day has.
    Where midnight happens twice, `fold=0` is the first one.
    """
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def local_day_start(day: date, zone: str) -> datetime:
    """start_of_day for a zone given by name."""
    return start_of_day(day, ZoneInfo(zone))


def _next_date_change(instant: datetime, day: date, zone: ZoneInfo) -> datetime:
    """The first instant after `instant` (whose local date is `day`) with another local date.

    Usually the next midnight. Where the clock falls back across midnight, the day's midnight
    happens twice, and the fall-back itself takes the clock back into the previous date.
    """
    midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    candidates = [m.astimezone(UTC) for m in (midnight, midnight.replace(fold=1))]
    # In a gap at midnight (spring forward at 00:00), fold=1 reads the missing midnight with the
    # new offset: an instant still on `day`. Only an instant on another date is the change.
    change = min(c for c in candidates if c > instant and c.astimezone(zone).date() != day)
    before = instant.astimezone(zone).utcoffset()
    if (change - _TICK).astimezone(zone).utcoffset() != before:
        # An offset change before that midnight: find it (to the microsecond).
        low, high = instant, change
        while high - low > _TICK:
            middle = low + (high - low) / 2
            if middle.astimezone(zone).utcoffset() == before:
                low = middle
            else:
                high = middle
        if high.astimezone(zone).date() != day:
            change = high
    return change


_TICK = timedelta(microseconds=1)


def split_at_local_midnight(start: datetime, end: datetime, zone: str) -> list[DayPart]:
    """Split [start, end) wherever its local date in `zone` changes: parts are contiguous,
    each lies within one local date (the date of its start) and they sum to the span's real
    length (a DST day is 23 or 25 hours long, Lord Howe's 23.5 or 24.5). Where a fall-back
    crosses midnight, a date can come back: one span can then have two parts on one date."""
    tz = ZoneInfo(zone)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    parts: list[DayPart] = []
    cursor = start
    while cursor < end:
        day = cursor.astimezone(tz).date()
        piece_end = min(_next_date_change(cursor, day, tz), end)
        parts.append(DayPart(day, cursor, piece_end))
        cursor = piece_end
    return parts
