"""WakaTime's duration rule and user-agent parsing, without a database."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from rhythm.editors.agents import editor_and_os
from rhythm.editors.durations import Attributes, by_day, spans

TIMEOUT = 900.0
DAY = date(2026, 11, 10)
D0 = 1_794_268_800.0  # 2026-11-10T00:00:00Z


def at(project: str = "rhythm", language: str | None = "Python") -> Attributes:
    return Attributes(project, language, "Vim", "Linux", "laptop", "coding", "main", "/a.py")


def test_heartbeats_less_than_the_timeout_apart_join() -> None:
    beats = [(D0 + 100, at()), (D0 + 160, at()), (D0 + 400, at())]
    (day,) = by_day(beats, TIMEOUT, [DAY], [D0, D0 + 86_400])
    assert day.total == 300
    assert dict(day.by["project"]) == {"rhythm": 300}


def test_a_gap_of_the_timeout_or_more_ends_a_duration_and_a_lone_heartbeat_counts_nothing() -> None:
    beats = [(D0 + 0, at()), (D0 + 60, at()), (D0 + 60 + TIMEOUT, at()), (D0 + 5000, at())]
    (day,) = by_day(beats, TIMEOUT, [DAY], [D0, D0 + 86_400])
    assert day.total == 60


def test_the_time_between_two_heartbeats_belongs_to_the_earlier_one() -> None:
    beats = [(D0, at("a", "Go")), (D0 + 30, at("b", None)), (D0 + 100, at("a", "Go"))]
    (day,) = by_day(beats, TIMEOUT, [DAY], [D0, D0 + 86_400])
    assert dict(day.by["project"]) == {"a": 30, "b": 70}
    assert dict(day.by["language"]) == {"Go": 30, None: 70}
    (only_b,) = by_day(beats, TIMEOUT, [DAY], [D0, D0 + 86_400], project="b")
    assert only_b.total == 70


def test_a_duration_across_midnight_is_split_between_the_days() -> None:
    beats = [(D0 - 120, at()), (D0 + 180, at())]
    before, after = by_day(beats, TIMEOUT, [date(2026, 11, 9), DAY], [D0 - 86_400, D0, D0 + 86_400])
    assert (before.total, after.total) == (120, 180)


def test_heartbeats_arriving_out_of_order_count_as_if_in_order() -> None:
    beats = [(D0 + 200, at()), (D0, at()), (D0 + 100, at())]
    assert [(s, e) for s, e, _ in spans(beats, TIMEOUT)] == [(D0, D0 + 100), (D0 + 100, D0 + 200)]


@given(
    st.lists(st.floats(min_value=0, max_value=3 * 86_400, allow_nan=False), max_size=60),
    st.floats(min_value=1, max_value=7200),
)
def test_days_add_up_to_the_whole_and_each_dimension_to_its_day(
    offsets: list[float], timeout: float
) -> None:
    beats = [(D0 + o, at(str(int(o) % 3))) for o in offsets]
    bounds = [D0 + i * 86_400.0 for i in range(4)]
    days = by_day(beats, timeout, [DAY, DAY, DAY], bounds)
    whole = sum(e - s for s, e, _ in spans(beats, timeout))
    assert abs(sum(d.total for d in days) - whole) < 1e-6
    for day in days:
        assert day.total <= 86_400 + 1e-6
        for counter in day.by.values():
            assert abs(sum(counter.values()) - day.total) < 1e-6


def test_editors_and_systems_come_from_the_user_agent() -> None:
    assert editor_and_os(
        "wakatime/v1.90.0 (linux-6.5.0-14-generic-x86_64) go1.21.5 vscode/1.85.1 "
        "vscode-wakatime/24.4.0"
    ) == ("VS Code", "Linux")
    assert editor_and_os(
        "wakatime/13.1.0 (Darwin-21.6.0-x86_64-i386-64bit) Python3.9.18.final.0 vim/9.0 "
        "vim-wakatime/9.0.1"
    ) == ("Vim", "macOS")
    assert editor_and_os(
        "wakatime/13.1.0 (Linux-5.15.0-x86_64-with-glibc2.35) Python3.9.18.final.0 Unknown/0"
    ) == ("Unknown", "Linux")
    assert editor_and_os(
        "wakatime/v1.90.0 (windows-10.0.22631-amd64) go1.21.5 PyCharm/2023.3 "
        "PyCharm-wakatime/15.0.0"
    ) == ("PyCharm", "Windows")
    assert editor_and_os("chrome/120.0 chrome-wakatime/4.0.0") == ("Chrome", "Unknown")
    assert editor_and_os("") == ("Unknown", "Unknown")
    assert editor_and_os("curl/8.0") == ("Curl", "Unknown")
