"""The documented input windows (rhythm.platform.bounds) as pure validators, and the request
types built on them (rhythm.platform.schemas): hypothesis over the whole range
Python can represent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from rhythm.platform.bounds import (
    END_OF_WINDOW,
    EPOCH,
    FIRST_DATE,
    LAST_DATE,
    LIVE_AHEAD,
    check_live,
    clamp_instant,
)
from rhythm.platform.schemas import IsoDate, IsoDatetime, IsoWeek, LiveDatetime, Name
from rhythm.platform.timeutil import local_day_start

INSTANT = TypeAdapter(IsoDatetime)
LIVE = TypeAdapter(LiveDatetime)
DATE = TypeAdapter(IsoDate)
WEEK = TypeAdapter(IsoWeek)
NAME = TypeAdapter(Name)

# Any offset a date-time can carry (strictly inside ±24 h), to the minute.
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
any_datetime = st.datetimes(timezones=offsets)


def _inside(value: datetime) -> bool:
    try:
        return EPOCH <= value.astimezone(UTC) < END_OF_WINDOW
    except OverflowError:
        return False


@given(any_datetime)
def test_instants_are_accepted_exactly_inside_the_window(value: datetime) -> None:
    for given_as in (value, value.isoformat()):
        if _inside(value):
            assert INSTANT.validate_python(given_as) == value
        else:
            with pytest.raises(ValidationError):
                INSTANT.validate_python(given_as)


@given(
    any_datetime,
    st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2150, 1, 1), timezones=st.just(UTC)
    ),
)
def test_live_instants_are_at_most_five_minutes_ahead(value: datetime, now: datetime) -> None:
    if _inside(value) and value <= now + LIVE_AHEAD:
        assert check_live(value, now) == value
    else:
        with pytest.raises(ValueError):
            check_live(value, now)


def test_live_type_uses_the_server_clock() -> None:
    now = datetime.now(UTC)
    assert LIVE.validate_python(now.isoformat()) == now
    with pytest.raises(ValidationError, match="5 minutes in the future"):
        LIVE.validate_python((now + timedelta(minutes=6)).isoformat())
    with pytest.raises(ValidationError):
        LIVE.validate_python("1969-12-31T23:59:59Z")


@given(st.dates())
def test_dates_are_accepted_exactly_inside_the_window(value: date) -> None:
    if FIRST_DATE <= value <= LAST_DATE:
        assert DATE.validate_python(value.isoformat()) == value
        # The arithmetic the routes do on an accepted date cannot overflow.
        for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
            assert local_day_start(value + timedelta(days=7), zone) > EPOCH - timedelta(days=2)
    else:
        with pytest.raises(ValidationError):
            DATE.validate_python(value.isoformat())


@given(st.dates())
def test_every_week_of_the_window_round_trips(value: date) -> None:
    year, week, _ = value.isocalendar()
    text = f"{year:04d}-W{week:02d}"
    if FIRST_DATE.year <= year <= LAST_DATE.year:
        assert WEEK.validate_python(text) == text
    else:
        with pytest.raises(ValidationError):
            WEEK.validate_python(text)


@given(st.text(max_size=20) | st.from_regex(r"\A[0-9]{4}-W[0-9]{2}\s?\Z"))
def test_week_text_fuzz_only_ever_fails_validation(text: str) -> None:
    try:
        accepted = WEEK.validate_python(text)
    except ValidationError:
        return
    # Anything accepted is exactly ASCII YYYY-Www of the window.
    assert accepted == text and len(text) == 8 and text.isascii()
    assert FIRST_DATE.year <= int(text[:4]) <= LAST_DATE.year


@pytest.mark.parametrize(
    "text",
    [
        "2026-W01\n",
        "2026-W01 ",
        "\uff12\uff10\uff12\uff16-W01",  # fullwidth digits
        "2026-W00",
        "2021-W53",
        "9999-W52",
        "0001-W01",
        "",
    ],
)
def test_weeks_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        WEEK.validate_python(text)


@pytest.mark.parametrize("text", ["", "a" * 257, "bucket\n", "tab\there", "nul\x00", "del\x7f"])
def test_names_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        NAME.validate_python(text)


def test_names_accepted() -> None:
    assert (
        NAME.validate_python("aw-watcher-window_laptop.local") == "aw-watcher-window_laptop.local"
    )
    assert NAME.validate_python("é" * 256) == "é" * 256


@given(any_datetime)
def test_clamp_instant_always_lands_in_the_window(value: datetime) -> None:
    clamped = clamp_instant(value)
    assert EPOCH <= clamped <= END_OF_WINDOW
    if _inside(value):
        assert clamped == value


def test_clamp_reads_postgres_infinities() -> None:
    # asyncpg reads -infinity and infinity as naive datetime.min and datetime.max.
    assert clamp_instant(datetime.min) == EPOCH
    assert clamp_instant(datetime.max) == END_OF_WINDOW
