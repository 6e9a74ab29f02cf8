"""Pure time logic: ISO weeks and local dates, with hypothesis over every IANA zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rhythm.timeutil import InvalidWeek, iso_week, local_date, parse_week, previous_week

ZONES = sorted(available_timezones())
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
def test_week_round_trips(day: date) -> None:
    monday, sunday = parse_week(iso_week(day))
    assert monday <= day <= sunday
    assert monday.isoweekday() == 1 and sunday - monday == timedelta(days=6)


@given(instants, st.sampled_from(ZONES))
def test_local_date_is_the_wall_clock_date(instant: datetime, zone: str) -> None:
    assert local_date(instant, zone) == instant.astimezone(ZoneInfo(zone)).date()


@given(instants, st.sampled_from(ZONES))
def test_previous_week_is_seven_days_back(instant: datetime, zone: str) -> None:
    this_monday, _ = parse_week(iso_week(local_date(instant, zone)))
    previous_monday, _ = parse_week(previous_week(instant, zone))
    assert this_monday - previous_monday == timedelta(days=7)


def test_iso_years_differ_from_calendar_years() -> None:
    assert iso_week(date(2027, 1, 1)) == "2026-W53"
    assert iso_week(date(2024, 12, 30)) == "2025-W01"


@pytest.mark.parametrize("text", ["2026-W54", "2021-W53", "2026-W00", "26-W01", "2026W01"])
def test_invalid_weeks(text: str) -> None:
    with pytest.raises(InvalidWeek):
        parse_week(text)
