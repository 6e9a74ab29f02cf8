"""Streaks with freezes: a pure function of the set of qualified days. No I/O.

The rules, as users know them from Duolingo, walked one day at a time:
- a qualified day extends the streak by one;
- every 7 consecutive qualified days earn a freeze, up to 2 held (an eighth qualified day in a
  row earns nothing more until the 14th; a missed day, frozen or not, restarts the count);
- a missed day inside a streak spends a held freeze: the day is *frozen* and counts in the
  streak's length (not in the qualified days). With no freeze held, the streak ends;
- freezes are spent day by day, so a gap longer than the freezes held spends them all and the
  streak still ends (its length counted the frozen days it reached);
- the current streak is the run that ends today or yesterday: today, not over yet, is never a
  missed day.

`summarize` reduces the qualified days to what does not depend on today (`Anchor`); `as_of`
finishes the walk from the last qualified day to today. `frozen_days` replays the whole walk
for a calendar. Late data simply means calling them again with the new set of days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

MAX_FREEZES = 2
DAYS_PER_FREEZE = 7
# Daily totals are kept in microseconds; a day qualifies with the threshold's minutes of them.
MICROS_PER_MINUTE = 60_000_000


@dataclass(frozen=True)
class Anchor:
    """The walk's state at the last qualified day."""

    last_qualified: date | None = None
    run: int = 0  # the streak's length on that day, frozen days included
    freezes: int = 0  # held after that day
    longest: int = 0  # the longest streak up to that day
    qualified_days: int = 0


@dataclass(frozen=True)
class Streak:
    current: int
    longest: int
    freezes_held: int
    last_qualified: date | None
    qualified_days: int


@dataclass
class _Walk:
    run: int = 0
    freezes: int = 0
    in_a_row: int = 0
    longest: int = 0

    def qualified(self) -> None:
        self.run += 1
        self.in_a_row += 1
        if self.in_a_row % DAYS_PER_FREEZE == 0:
            self.freezes = min(MAX_FREEZES, self.freezes + 1)
        self.longest = max(self.longest, self.run)

    def missed(self, days: int) -> int:
        """Miss `days` days in a row; returns how many of them were frozen."""
        if days <= 0:
            return 0
        self.in_a_row = 0
        if self.run == 0:
            return 0
        covered = min(days, self.freezes)
        self.freezes -= covered
        self.run += covered
        self.longest = max(self.longest, self.run)
        if covered < days:
            self.run = 0
        return covered


def _days(qualified: Iterable[date]) -> list[date]:
    return sorted(set(qualified))


def summarize(qualified: Iterable[date]) -> Anchor:
    walk = _Walk()
    previous: date | None = None
    days = _days(qualified)
    for day in days:
        if previous is not None:
            walk.missed((day - previous).days - 1)
        walk.qualified()
        previous = day
    return Anchor(previous, walk.run, walk.freezes, walk.longest, len(days))


def as_of(anchor: Anchor, today: date) -> Streak:
    """The streak figures on `today` (the owner's local date)."""
    if anchor.last_qualified is None:
        return Streak(0, 0, 0, None, 0)
    walk = _Walk(run=anchor.run, freezes=anchor.freezes, longest=anchor.longest)
    walk.missed((today - anchor.last_qualified).days - 1)
    return Streak(
        walk.run, walk.longest, walk.freezes, anchor.last_qualified, anchor.qualified_days
    )


def frozen_days(qualified: Iterable[date], today: date) -> set[date]:
    """Every day a freeze covered, up to yesterday."""
    walk = _Walk()
    frozen: set[date] = set()
    previous: date | None = None
    for day in [*(d for d in _days(qualified) if d < today), today]:
        if previous is not None:
            covered = walk.missed((day - previous).days - 1)
            frozen.update(previous + timedelta(days=i) for i in range(1, covered + 1))
        walk.qualified()
        previous = day
    return frozen
