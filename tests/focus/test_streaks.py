"""Streaks with freezes: fixed cases for every rule, and hypothesis against a literal replay."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from rhythm.focus.streaks import Anchor, Streak, as_of, frozen_days, summarize

D = date(2026, 1, 1)


def run(first: date, length: int) -> list[date]:
    """`length` consecutive days from `first`."""
    return [first + timedelta(days=i) for i in range(length)]


def streak(days: list[date], today: date) -> Streak:
    return as_of(summarize(days), today)


# --- a literal, day-by-day reading of the module docstring ----------------------------------


@dataclass
class Reference:
    current: int
    longest: int
    freezes: int
    frozen: set[date] = field(default_factory=set)


def reference(days: list[date], today: date) -> Reference:
    """Walk every calendar day from the first qualified day to yesterday, then today."""
    qualified = set(days)
    run_length = freezes = in_a_row = longest = 0
    frozen: set[date] = set()
    if not qualified:
        return Reference(0, 0, 0, frozen)

    def qualify() -> None:
        nonlocal run_length, in_a_row, freezes, longest
        run_length += 1
        in_a_row += 1
        if in_a_row % 7 == 0:
            freezes = min(2, freezes + 1)
        longest = max(longest, run_length)

    day = min(qualified)
    while day < today:
        if day in qualified:
            qualify()
        else:
            in_a_row = 0
            if run_length > 0:
                if freezes > 0:
                    freezes -= 1
                    run_length += 1
                    frozen.add(day)
                    longest = max(longest, run_length)
                else:
                    run_length = 0
        day += timedelta(days=1)
    if today in qualified:  # today is never a missed day; it only counts once qualified
        qualify()
    return Reference(run_length, longest, freezes, frozen)


# --- fixed cases ------------------------------------------------------------------------------


def test_no_days() -> None:
    assert summarize([]) == Anchor()
    assert as_of(summarize([]), D) == Streak(0, 0, 0, None, 0)
    assert frozen_days([], D) == set()


def test_single_day() -> None:
    assert streak([D], D) == Streak(1, 1, 0, D, 1)
    assert streak([D], D + timedelta(days=1)) == Streak(1, 1, 0, D, 1)
    assert streak([D], D + timedelta(days=2)) == Streak(0, 1, 0, D, 1)


def test_run_ending_yesterday_is_current_two_days_ago_is_not() -> None:
    days = run(D, 3)
    assert streak(days, D + timedelta(days=3)).current == 3
    broken = streak(days, D + timedelta(days=4))
    assert broken.current == 0
    assert broken.longest == 3


def test_today_is_never_a_missed_day() -> None:
    days = run(D, 7)  # one freeze earned
    today = D + timedelta(days=7)
    assert streak(days, today) == Streak(7, 7, 1, D + timedelta(days=6), 7)
    assert frozen_days(days, today) == set()


def test_a_gap_filled_late_joins_two_runs() -> None:
    days = [*run(D, 3), *run(D + timedelta(days=4), 2)]
    today = D + timedelta(days=6)
    before = streak(days, today)
    assert (before.current, before.longest, before.qualified_days) == (2, 3, 5)
    after = streak([*days, D + timedelta(days=3)], today)
    assert (after.current, after.longest, after.qualified_days) == (6, 6, 6)


def test_freeze_earned_on_the_seventh_day_and_not_before() -> None:
    for length, freezes in [(1, 0), (6, 0), (7, 1), (8, 1), (13, 1), (14, 2), (15, 2)]:
        days = run(D, length)
        assert summarize(days).freezes == freezes, length
        assert streak(days, days[-1]).freezes_held == freezes, length
        assert streak(days, days[-1] + timedelta(days=1)).freezes_held == freezes, length


def test_at_most_two_freezes_held() -> None:
    days = run(D, 21)
    result = streak(days, D + timedelta(days=21))
    assert result.freezes_held == 2
    assert result.current == 21
    # the third freeze was not banked: three missed days break the streak
    broken = streak(days, D + timedelta(days=24))
    assert (broken.current, broken.longest, broken.freezes_held) == (0, 23, 0)


def test_a_one_day_gap_is_frozen_and_counts_in_the_length() -> None:
    days = [*run(D, 7), D + timedelta(days=8)]
    today = D + timedelta(days=9)
    assert streak(days, today) == Streak(9, 9, 0, D + timedelta(days=8), 8)
    assert frozen_days(days, today) == {D + timedelta(days=7)}


def test_a_gap_longer_than_the_freezes_spends_them_all_then_breaks() -> None:
    days = [*run(D, 14), D + timedelta(days=17)]  # misses days 14, 15, 16 with 2 freezes
    today = D + timedelta(days=18)
    result = streak(days, today)
    assert result.current == 1
    assert result.longest == 16  # 14 qualified + the 2 frozen days it reached
    assert result.freezes_held == 0
    assert frozen_days(days, today) == {D + timedelta(days=14), D + timedelta(days=15)}


def test_the_in_a_row_count_restarts_after_a_frozen_day() -> None:
    # 10 in a row (1 freeze), day 10 frozen, then 4 more: 14 qualified days but only 4 in a row
    days = [*run(D, 10), *run(D + timedelta(days=11), 4)]
    assert summarize(days).freezes == 0
    assert summarize(days).run == 15
    # the seventh day in a row after the frozen day earns the next freeze
    six_more = [*run(D, 10), *run(D + timedelta(days=11), 6)]
    seven_more = [*run(D, 10), *run(D + timedelta(days=11), 7)]
    assert summarize(six_more).freezes == 0
    assert summarize(seven_more).freezes == 1


def test_trailing_missed_days_covered_by_freezes_keep_the_streak() -> None:
    days = run(D, 14)  # 2 freezes
    last = D + timedelta(days=13)
    assert streak(days, D + timedelta(days=15)) == Streak(15, 15, 1, last, 14)
    assert streak(days, D + timedelta(days=16)) == Streak(16, 16, 0, last, 14)
    assert frozen_days(days, D + timedelta(days=16)) == {
        D + timedelta(days=14),
        D + timedelta(days=15),
    }
    # a third missed day: both freezes spent, and the streak is over
    assert streak(days, D + timedelta(days=17)) == Streak(0, 16, 0, last, 14)
    assert frozen_days(days, D + timedelta(days=17)) == {
        D + timedelta(days=14),
        D + timedelta(days=15),
    }


def test_a_year_of_daily_qualified_days() -> None:
    days = run(D, 365)
    for today in (days[-1], days[-1] + timedelta(days=1)):
        assert streak(days, today) == Streak(365, 365, 2, days[-1], 365)
        assert frozen_days(days, today) == set()


def test_frozen_days_ignore_days_from_today_on() -> None:
    days = [*run(D, 7), D + timedelta(days=8), D + timedelta(days=9)]
    # on day 8, day 7 is yesterday: missed and frozen; days 8 and 9 do not change that
    assert frozen_days(days, D + timedelta(days=8)) == {D + timedelta(days=7)}
    # on day 7 it is today, never a missed day, so nothing is frozen yet
    assert frozen_days(days, D + timedelta(days=7)) == set()


# --- properties -------------------------------------------------------------------------------

SETTINGS = settings(max_examples=300, deadline=None)


@st.composite
def day_sets(draw: st.DrawFn) -> list[date]:
    """Runs of qualified days separated by gaps, so freezes get earned, spent and exceeded."""
    first = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)))
    blocks = draw(
        st.lists(st.tuples(st.integers(1, 22), st.integers(1, 5)), min_size=0, max_size=8)
    )
    days: list[date] = []
    cursor = first
    for length, gap in blocks:
        days.extend(run(cursor, length))
        cursor += timedelta(days=length + gap)
    sparse = draw(st.lists(st.integers(0, 120), max_size=20))
    days.extend(first + timedelta(days=offset) for offset in sparse)
    return days


@st.composite
def days_and_today(draw: st.DrawFn) -> tuple[list[date], date]:
    days = draw(day_sets())
    last = max(days, default=date(2020, 1, 1))
    return days, last + timedelta(days=draw(st.integers(0, 6)))


@SETTINGS
@given(days_and_today(), st.randoms(use_true_random=False), st.integers(0, 10))
def test_order_and_duplicates_do_not_matter(
    case: tuple[list[date], date], rng: Random, extra: int
) -> None:
    days, today = case
    shuffled = [*days, *days[:extra]]
    rng.shuffle(shuffled)
    canonical = sorted(set(days))
    assert summarize(shuffled) == summarize(canonical)
    assert as_of(summarize(shuffled), today) == as_of(summarize(canonical), today)
    assert frozen_days(shuffled, today) == frozen_days(canonical, today)


@SETTINGS
@given(days_and_today())
def test_agrees_with_a_day_by_day_replay(case: tuple[list[date], date]) -> None:
    days, today = case
    expected = reference(days, today)
    result = as_of(summarize(days), today)
    assert (result.current, result.longest, result.freezes_held) == (
        expected.current,
        expected.longest,
        expected.freezes,
    )
    assert result.last_qualified == max(days, default=None)
    assert result.qualified_days == len(set(days))
    assert frozen_days(days, today) == expected.frozen


@SETTINGS
@given(days_and_today())
def test_frozen_days_are_missed_days_inside_the_walk(case: tuple[list[date], date]) -> None:
    days, today = case
    frozen = frozen_days(days, today)
    assert not frozen & set(days)
    assert all(min(days) < day < today for day in frozen)
    result = as_of(summarize(days), today)
    assert result.longest >= result.current
    assert result.longest <= len(set(days)) + len(frozen)
    assert 0 <= result.freezes_held <= 2
