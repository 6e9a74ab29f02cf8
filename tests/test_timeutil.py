"""Pure time logic: ISO weeks and local dates, with hypothesis over every IANA zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rhythm.platform.timeutil import (
    DayPart,
    InvalidWeek,
    Week,
    iso_week,
    local_date,
    parse_week,
    previous_week,
    split_at_local_midnight,
    start_of_day,
)

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
    with pytest.raises(InvalidWeek):
        Week.named(text)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
def test_the_week_of_a_day_is_the_week_of_its_name(day: date) -> None:
    week = Week.of(day)
    assert week == Week.named(week.name)
    assert week.name == iso_week(day)
    assert week.start <= day <= week.end
    assert week.start.isoweekday() == 1 and week.end - week.start == timedelta(days=6)


def test_a_week_across_new_year() -> None:
    assert Week.of(date(2027, 1, 1)) == Week("2026-W53", date(2026, 12, 28), date(2027, 1, 3))


# --- splitting a span at local midnights ------------------------------------------------------

span_starts = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2037, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
)
span_lengths = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(hours=24))
MICROSECOND = timedelta(microseconds=1)


def lengths(parts: list[DayPart]) -> list[timedelta]:
    return [part.end - part.start for part in parts]


def days(parts: list[DayPart]) -> list[date]:
    return [part.day for part in parts]


@settings(max_examples=300, deadline=None)
@given(span_starts, span_lengths, st.sampled_from(ZONES))
def test_split_tiles_the_span_by_local_date(start: datetime, length: timedelta, zone: str) -> None:
    tz = ZoneInfo(zone)
    end = start + length
    parts = split_at_local_midnight(start, end, zone)
    assert parts
    assert parts[0].start == start
    assert parts[-1].end == end
    assert sum(lengths(parts), timedelta()) == end - start
    for part in parts:
        assert part.start < part.end
        assert part.start.utcoffset() == part.end.utcoffset() == timedelta(0)
        assert part.start.astimezone(tz).date() == part.day
        assert (part.end - MICROSECOND).astimezone(tz).date() == part.day
    for before, after in pairwise(parts):
        assert before.end == after.start
        # each boundary changes the date; not always to the next one: a zone can skip a date
        # (Pacific/Apia), and a fall-back across midnight brings the previous one back
        assert before.day != after.day
    # the zone the instants are written in does not matter: same instants, still in UTC
    written_locally = split_at_local_midnight(start.astimezone(tz), end.astimezone(tz), zone)
    assert written_locally == parts
    assert all(part.start.tzinfo is UTC and part.end.tzinfo is UTC for part in written_locally)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2007, 11, 3, 20),
        max_value=datetime(2007, 11, 4, 8),
        timezones=st.just(UTC),
    )
    | st.datetimes(
        min_value=datetime(2009, 10, 31, 20),
        max_value=datetime(2009, 11, 1, 8),
        timezones=st.just(UTC),
    ),
    st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(hours=6)),
)
def test_split_around_fall_backs_across_midnight(start: datetime, length: timedelta) -> None:
    """St. John's fell back at 00:01 to 23:01 of the day before (2007, 2009): the same tiling
    rules hold around it."""
    test_split_tiles_the_span_by_local_date.hypothesis.inner_test(  # type: ignore[attr-defined]
        start, length, "America/St_Johns"
    )


def local_span(zone: str, start: datetime, end: datetime) -> list[DayPart]:
    tz = ZoneInfo(zone)
    return split_at_local_midnight(start.replace(tzinfo=tz), end.replace(tzinfo=tz), zone)


H = timedelta(hours=1)
HALF_HOUR = timedelta(minutes=30)


def test_new_york_spring_forward_day_is_23_hours() -> None:
    parts = local_span(
        "America/New_York", datetime(2026, 3, 7, 23, 30), datetime(2026, 3, 9, 0, 30)
    )
    assert days(parts) == [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)]
    assert lengths(parts) == [HALF_HOUR, 23 * H, HALF_HOUR]


def test_new_york_fall_back_day_is_25_hours() -> None:
    parts = local_span(
        "America/New_York", datetime(2026, 10, 31, 23, 30), datetime(2026, 11, 2, 0, 30)
    )
    assert days(parts) == [date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)]
    assert lengths(parts) == [HALF_HOUR, 25 * H, HALF_HOUR]


@pytest.mark.parametrize(
    ("day", "length"),
    [(date(2026, 4, 5), 24 * H + HALF_HOUR), (date(2026, 10, 4), 23 * H + HALF_HOUR)],
)
def test_lord_howe_shifts_half_an_hour(day: date, length: timedelta) -> None:
    before, after = day - timedelta(days=1), day + timedelta(days=1)
    parts = local_span(
        "Australia/Lord_Howe",
        datetime.combine(before, time(23, 30)),
        datetime.combine(after, time(0, 30)),
    )
    assert days(parts) == [before, day, after]
    assert lengths(parts) == [HALF_HOUR, length, HALF_HOUR]


@pytest.mark.parametrize(
    "zone", ["UTC", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"]
)
def test_half_an_hour_each_side_of_midnight(zone: str) -> None:
    parts = local_span(zone, datetime(2026, 6, 10, 23, 30), datetime(2026, 6, 11, 0, 30))
    assert days(parts) == [date(2026, 6, 10), date(2026, 6, 11)]
    assert lengths(parts) == [HALF_HOUR, HALF_HOUR]


def test_a_span_starting_at_midnight_is_one_part() -> None:
    parts = local_span("Europe/Paris", datetime(2026, 6, 11, 0, 0), datetime(2026, 6, 11, 1, 0))
    assert parts == [
        DayPart(
            date(2026, 6, 11),
            datetime(2026, 6, 10, 22, tzinfo=UTC),
            datetime(2026, 6, 10, 23, tzinfo=UTC),
        )
    ]


def test_new_years_eve_in_paris() -> None:
    parts = local_span("Europe/Paris", datetime(2026, 12, 31, 23, 0), datetime(2027, 1, 1, 1, 0))
    assert days(parts) == [date(2026, 12, 31), date(2027, 1, 1)]
    assert lengths(parts) == [H, H]
    assert parts[0].end == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "day", "jump"),
    [
        ("America/Santiago", date(2024, 9, 8), datetime(2024, 9, 8, 4, 0, tzinfo=UTC)),
        ("America/Havana", date(2025, 3, 9), datetime(2025, 3, 9, 5, 0, tzinfo=UTC)),
        ("Asia/Beirut", date(2025, 3, 30), datetime(2025, 3, 29, 22, 0, tzinfo=UTC)),
    ],
)
def test_a_day_without_midnight_starts_at_the_jump(zone: str, day: date, jump: datetime) -> None:
    tz = ZoneInfo(zone)
    # the premise: the clocks went from 23:59:59.999999 straight to 01:00 of `day`
    assert jump.astimezone(tz).replace(tzinfo=None) == datetime.combine(day, time(1, 0))
    assert (jump - MICROSECOND).astimezone(tz).date() == day - timedelta(days=1)
    assert start_of_day(day, tz) == jump
    parts = split_at_local_midnight(jump - H, jump + H, zone)
    assert parts == [
        DayPart(day - timedelta(days=1), jump - H, jump),
        DayPart(day, jump, jump + H),
    ]


def test_a_skipped_date_gets_no_part() -> None:
    # Samoa went from 2011-12-29 23:59:59 (-10) to 2011-12-31 00:00 (+14)
    parts = local_span("Pacific/Apia", datetime(2011, 12, 29, 23, 0), datetime(2011, 12, 31, 1, 0))
    assert days(parts) == [date(2011, 12, 29), date(2011, 12, 31)]
    assert lengths(parts) == [H, H]


# Newfoundland fell back at 00:01 local until 2011: 2009-11-01 00:01 NDT (-2:30) became
# 2009-10-31 23:01 NST (-3:30), so the first midnight of Nov 1 (02:30 UTC) comes before the
# repeated hour of Oct 31 (02:31 to 03:30 UTC).
ST_JOHNS = ZoneInfo("America/St_Johns")
NOV_1_FIRST_MIDNIGHT = datetime(2009, 11, 1, 2, 30, tzinfo=UTC)


def test_st_johns_2009_fell_back_across_midnight() -> None:
    assert start_of_day(date(2009, 11, 1), ST_JOHNS) == NOV_1_FIRST_MIDNIGHT
    repeated = datetime(2009, 11, 1, 2, 40, tzinfo=UTC).astimezone(ST_JOHNS)
    assert repeated.replace(tzinfo=None) == datetime(2009, 10, 31, 23, 10)


def test_a_span_inside_an_hour_repeated_across_midnight() -> None:
    start = datetime(2009, 11, 1, 2, 40, tzinfo=UTC)  # Oct 31 23:10, the second time
    end = start + timedelta(minutes=10)
    parts = split_at_local_midnight(start, end, "America/St_Johns")
    assert parts[0].start == start
    assert parts[-1].end == end
    assert sum(lengths(parts), timedelta()) == timedelta(minutes=10)
    assert days(parts) == [date(2009, 10, 31)]


def test_a_span_across_a_fall_back_over_midnight_has_a_part_per_date_change() -> None:
    """St. John's, 2009-11-01: at 00:01 NDT the clock fell back to 23:01 NST on Oct 31, so
    Oct 31 came back for an hour and Nov 1 began twice."""
    start = datetime(2009, 11, 1, 2, 0, tzinfo=UTC)  # Oct 31 23:30 NDT
    parts = split_at_local_midnight(start, start + timedelta(hours=2), "America/St_Johns")
    assert [(p.day, p.start.time(), p.end.time()) for p in parts] == [
        (date(2009, 10, 31), time(2, 0), time(2, 30)),
        (date(2009, 11, 1), time(2, 30), time(2, 31)),
        (date(2009, 10, 31), time(2, 31), time(3, 30)),
        (date(2009, 11, 1), time(3, 30), time(4, 0)),
    ]


def test_a_missing_midnight_changes_the_date_when_the_clock_jumps() -> None:
    """Tehran sprang forward at 00:00 on 2001-03-22 (+03:30 to +04:30): the date changes at
    20:30 UTC, not at 19:30 UTC (which is still 23:00 on the 21st)."""
    start = datetime(2001, 3, 21, 0, 0, tzinfo=UTC)
    parts = split_at_local_midnight(start, start + timedelta(hours=21), "Asia/Tehran")
    assert [(p.day, p.end) for p in parts] == [
        (date(2001, 3, 21), datetime(2001, 3, 21, 20, 30, tzinfo=UTC)),
        (date(2001, 3, 22), datetime(2001, 3, 21, 21, 0, tzinfo=UTC)),
    ]
