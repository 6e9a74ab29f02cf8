"""Ranking with ties, as every ranked list of rhythm shows it. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def ranked(ordered: Iterable[T], value: Callable[[T], object]) -> Iterator[tuple[int, T]]:
    """(rank, item) of items already in ranking order: items with an equal value share a rank,
    and a rank is 1 + the number of items before the first of its equals (1, 2, 2, 4)."""
    rank, previous = 0, None
    for position, item in enumerate(ordered, start=1):
        current = value(item)
        if position == 1 or current != previous:
            rank, previous = position, current
        yield rank, item
