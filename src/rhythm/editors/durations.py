"""Editor time from heartbeats, by WakaTime's rule (pure).

A user's heartbeats, whatever the editor or machine, are taken in time order. Consecutive
heartbeats less than the timeout apart join: the time between them is counted, and belongs to
the earlier one (its project, language, editor...). A gap of the timeout or more ends a
duration, so a lone heartbeat counts nothing. The time of each pair is split at local midnight,
so each day holds what happened on it.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import NamedTuple


class Attributes(NamedTuple):
    """What a heartbeat's time is reported by; None where the client did not say."""

    project: str | None
    language: str | None
    editor: str
    operating_system: str
    machine: str | None
    category: str
    branch: str | None
    entity: str


DIMENSIONS = Attributes._fields


@dataclass
class DayTotals:
    day: date
    total: float = 0.0
    by: dict[str, defaultdict[str | None, float]] = field(
        default_factory=lambda: {name: defaultdict(float) for name in DIMENSIONS}
    )

    def add(self, seconds: float, attributes: Attributes) -> None:
        self.total += seconds
        for name, value in zip(DIMENSIONS, attributes, strict=True):
            self.by[name][value] += seconds


def spans(
    beats: Iterable[tuple[float, Attributes]], timeout: float
) -> list[tuple[float, float, Attributes]]:
    """[start, end) of each counted gap, with the attributes of the heartbeat that starts it."""
    ordered = sorted(beats, key=lambda beat: beat[0])
    return [(t, t2, a) for (t, a), (t2, _) in pairwise(ordered) if 0 < t2 - t < timeout]


def by_day(
    beats: Iterable[tuple[float, Attributes]],
    timeout: float,
    days: Sequence[date],
    bounds: Sequence[float],
    project: str | None = None,
) -> list[DayTotals]:
    """Totals for each of `days`, whose local starts (epoch seconds) are `bounds[:-1]` and whose
    end is `bounds[-1]`. With `project`, only that project's time."""
    totals = [DayTotals(day) for day in days]
    for start, end, attributes in spans(beats, timeout):
        if project is not None and attributes.project != project:
            continue
        index = max(bisect.bisect_right(bounds, start) - 1, 0)
        while index < len(days) and bounds[index] < end:
            piece = min(end, bounds[index + 1]) - max(start, bounds[index])
            if piece > 0:
                totals[index].add(piece, attributes)
            index += 1
    return totals
