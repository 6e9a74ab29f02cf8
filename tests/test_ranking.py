"""Ranking with ties (platform.ranking), as the sleep ranking and the focus leaderboard show it:
equal values share a rank, and a rank is 1 + the number of items strictly ahead."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rhythm.platform.ranking import ranked

values = st.lists(st.integers(min_value=0, max_value=5), max_size=30)


def test_equal_values_share_a_rank_and_the_next_one_skips() -> None:
    assert [rank for rank, _ in ranked([10, 8, 8, 5], lambda v: v)] == [1, 2, 2, 4]


def test_nothing_to_rank() -> None:
    assert list(ranked([], lambda v: v)) == []


def test_ties_in_the_ranked_value_only() -> None:
    rows = [("a", 3, 9), ("b", 3, 1), ("c", 2, 9)]
    assert [(rank, row[0]) for rank, row in ranked(rows, lambda r: r[1])] == [
        (1, "a"),
        (1, "b"),
        (3, "c"),
    ]


@given(values)
def test_a_rank_is_one_plus_the_number_strictly_ahead(unordered: list[int]) -> None:
    ordered = sorted(unordered, reverse=True)
    out = list(ranked(ordered, lambda v: v))
    assert [item for _, item in out] == ordered
    for rank, item in out:
        assert rank == 1 + sum(1 for other in ordered if other > item)


@given(values)
def test_in_ascending_order_too(unordered: list[int]) -> None:
    ordered = sorted(unordered)
    for rank, item in ranked(ordered, lambda v: v):
        assert rank == 1 + sum(1 for other in ordered if other < item)
