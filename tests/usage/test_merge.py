"""Heartbeat merging without a database: aw-core's rule, the bucket stream against a literal
aw-server heartbeat API, late placement, and the report helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rhythm.usage.merge import (
    BucketStream,
    Event,
    GapFill,
    derived,
    domain_of,
    fill_gap,
    heartbeat_merge,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
A = {"app": "Firefox", "title": "Inbox"}
B = {"app": "Firefox", "title": "News"}
C = {"app": "Code", "title": "Inbox"}
VOCABULARY = (A, B, C)

PROPERTY = settings(max_examples=300, deadline=None)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def hb(start: float, duration: float = 0, data: dict[str, Any] | None = None) -> Event:
    """A heartbeat `start` seconds after T0; data is copied so equality, not identity, counts."""
    return Event(at(start), at(start + duration), dict(A if data is None else data))


def ev(
    start: float, end: float, data: dict[str, Any] | None = None, id: int | None = None
) -> Event:
    return Event(at(start), at(end), dict(A if data is None else data), id)


def spans(events: list[Event]) -> list[tuple[datetime, datetime, dict[str, Any]]]:
    return [(e.start, e.end, e.data) for e in events]


def run(heartbeats: list[Event], pulsetime: float, last: Event | None = None) -> BucketStream:
    stream = BucketStream(last)
    for heartbeat in heartbeats:
        stream.push(heartbeat, pulsetime)
    return stream


# --- heartbeat_merge: aw-core's rule --------------------------------------------------------


def test_merge_within_pulsetime_extends_to_the_heartbeat() -> None:
    last = ev(0, 10, id=3)
    merged = heartbeat_merge(last, hb(25), 30)
    assert merged is not None
    assert (merged.start, merged.end, merged.data, merged.id) == (at(0), at(25), A, 3)
    assert last.end == at(10)  # the last event itself is left alone


def test_merge_boundary_at_last_start_is_inclusive() -> None:
    merged = heartbeat_merge(ev(0, 10), hb(0), 30)
    assert merged is not None
    assert (merged.start, merged.end) == (at(0), at(10))


def test_merge_boundary_at_end_plus_pulsetime_is_inclusive() -> None:
    merged = heartbeat_merge(ev(0, 10), hb(40), 30)
    assert merged is not None
    assert (merged.start, merged.end) == (at(0), at(40))


def test_merge_just_past_end_plus_pulsetime_does_not_merge() -> None:
    assert heartbeat_merge(ev(0, 10), hb(40.001), 30) is None


def test_merge_end_is_the_later_end_heartbeat_inside_does_not_shrink() -> None:
    merged = heartbeat_merge(ev(0, 100), hb(20, 5), 30)
    assert merged is not None
    assert merged.end == at(100)


def test_merge_heartbeat_with_duration_past_the_end_extends() -> None:
    merged = heartbeat_merge(ev(0, 10), hb(5, 20), 30)
    assert merged is not None
    assert merged.end == at(25)


def test_merge_different_data_never_merges() -> None:
    assert heartbeat_merge(ev(0, 10), hb(5, data=B), 30) is None
    assert heartbeat_merge(ev(0, 10), hb(10, data=B), 30) is None
    assert heartbeat_merge(ev(0, 10), hb(0, data={**A, "extra": 1}), 30) is None


def test_merge_heartbeat_before_last_start_never_merges() -> None:
    assert heartbeat_merge(ev(10, 20), hb(9.999), 30) is None
    assert heartbeat_merge(ev(10, 20), hb(5, 10), 30) is None  # even if it reaches into it


def test_merge_pulsetime_zero() -> None:
    merged = heartbeat_merge(ev(0, 10), hb(10, 2), 0)
    assert merged is not None
    assert merged.end == at(12)
    merged = heartbeat_merge(ev(0, 10), hb(4), 0)
    assert merged is not None
    assert merged.end == at(10)
    assert heartbeat_merge(ev(0, 10), hb(10.001), 0) is None


def test_merge_zero_length_event_pulsetime_zero_same_instant() -> None:
    merged = heartbeat_merge(ev(5, 5), hb(5), 0)
    assert merged is not None
    assert (merged.start, merged.end) == (at(5), at(5))


# --- BucketStream ---------------------------------------------------------------------------


def test_watcher_stream_becomes_one_event() -> None:
    stream = run([hb(5 * i) for i in range(13)], 30)
    assert spans(stream.inserted) == [(at(0), at(60), A)]
    assert stream.updated == {}
    assert stream.late == []
    assert stream.last is stream.inserted[0]


def test_data_change_starts_a_new_event() -> None:
    stream = run([hb(0), hb(5), hb(10, data=B), hb(15, data=B), hb(20)], 30)
    assert spans(stream.inserted) == [(at(0), at(5), A), (at(10), at(15), B), (at(20), at(20), A)]


def test_gap_longer_than_pulsetime_starts_a_new_event() -> None:
    stream = run([hb(0), hb(5), hb(35), hb(65.001)], 30)
    assert spans(stream.inserted) == [(at(0), at(35), A), (at(65.001), at(65.001), A)]


def test_push_returns_the_event_the_heartbeat_ended_in() -> None:
    stream = BucketStream(None)
    first = stream.push(hb(0), 30)
    assert first is not None
    assert stream.push(hb(5), 30) is first
    second = stream.push(hb(6, data=B), 30)
    assert second is not None
    assert second is not first
    assert stream.inserted == [first, second]


def test_updated_holds_stored_events_whose_end_changed() -> None:
    stored = ev(0, 10, id=42)
    stream = BucketStream(stored)
    assert stream.push(hb(5), 30) is stored  # inside: end unchanged, nothing to write
    assert stream.updated == {}
    stream.push(hb(20), 30)
    assert stream.updated == {42: stored}
    assert stored.end == at(20)
    assert stream.inserted == []


def test_inserted_holds_new_events_and_their_merges() -> None:
    stored = ev(0, 10, id=42)
    stream = run([hb(100, data=B), hb(105, data=B)], 30, stored)
    assert stream.updated == {}
    assert stored.end == at(10)
    assert spans(stream.inserted) == [(at(100), at(105), B)]
    assert all(e.id is None for e in stream.inserted)


def test_new_event_before_the_stored_end_starts_where_it_ends() -> None:
    """Time already recorded is never taken back: the new event starts at the last one's end."""
    stored = ev(0, 60, id=7)
    stream = run([hb(20, 50, data=B)], 30, stored)
    assert stored.end == at(60)
    assert stream.updated == {}
    assert spans(stream.inserted) == [(at(60), at(70), B)]


def test_new_event_inside_the_last_one_is_zero_length_at_its_end() -> None:
    stream = run([hb(0, 60), hb(20, 5, data=B)], 30)
    assert spans(stream.inserted) == [(at(0), at(60), A), (at(60), at(60), B)]
    assert stream.updated == {}


def test_new_event_at_the_last_start_does_not_shrink_it() -> None:
    stream = run([hb(0, 60), hb(0, 5, data=B)], 30)
    assert spans(stream.inserted) == [(at(0), at(60), A), (at(60), at(60), B)]


def test_other_data_starting_exactly_at_the_last_end_truncates_nothing() -> None:
    stream = run([hb(0, 10), hb(10, 0, data=B)], 30)
    assert spans(stream.inserted) == [(at(0), at(10), A), (at(10), at(10), B)]


def test_late_heartbeats_are_collected_and_leave_last_alone() -> None:
    stored = ev(100, 110, id=1)
    stream = BucketStream(stored)
    late_same = hb(99, 20)
    late_other = hb(50, data=B)
    assert stream.push(late_same, 30) is None
    assert stream.push(late_other, 5) is None
    assert stream.last is stored
    assert (stored.start, stored.end) == (at(100), at(110))
    assert stream.late == [(late_same, 30), (late_other, 5)]
    assert stream.updated == {}
    assert stream.inserted == []


def test_late_after_new_events() -> None:
    stream = run([hb(0), hb(5), hb(50, data=B), hb(10)], 30)
    assert spans(stream.inserted) == [(at(0), at(5), A), (at(50), at(50), B)]
    assert len(stream.late) == 1
    assert stream.late[0][0].start == at(10)


def test_exact_retry_of_a_merged_heartbeat_changes_nothing() -> None:
    heartbeats = [hb(0), hb(5, 3), hb(10)]
    stream = run(heartbeats, 30)
    before = spans(stream.inserted)
    for heartbeat in heartbeats:
        stream.push(heartbeat, 30)
    assert spans(stream.inserted) == before == [(at(0), at(10), A)]
    assert stream.late == []


def test_exact_retry_on_a_stored_event_writes_nothing() -> None:
    stored = ev(0, 10, id=5)
    stream = BucketStream(stored)
    stream.push(hb(10), 30)
    stream.push(hb(10), 30)
    assert stream.updated == {}
    assert stream.inserted == []


# --- a literal aw-server heartbeat API ------------------------------------------------------


@dataclass
class AwEvent:
    """aw-core's representation: a timestamp and a duration."""

    timestamp: datetime
    duration: timedelta
    data: dict[str, Any]


def aw_heartbeat_merge(last: AwEvent, heartbeat: AwEvent, pulsetime: float) -> AwEvent | None:
    """aw_transform/heartbeats.py, transcribed."""
    if last.data == heartbeat.data:
        pulseperiod_end = last.timestamp + last.duration + timedelta(seconds=pulsetime)
        within_pulsetime_window = last.timestamp <= heartbeat.timestamp <= pulseperiod_end
        if within_pulsetime_window:
            new_duration = (heartbeat.timestamp - last.timestamp) + heartbeat.duration
            last.duration = max(last.duration, new_duration)
            return last
    return None


def aw_server(heartbeats: list[Event], pulsetime: float) -> list[tuple[datetime, datetime, Any]]:
    """aw-server's heartbeat API: merge into the most recently inserted or merged event when
    the data are equal and the rule allows, else insert the heartbeat as a new event."""
    events: list[AwEvent] = []
    last: AwEvent | None = None
    for h in heartbeats:
        beat = AwEvent(h.start, h.end - h.start, dict(h.data))
        if last is not None and last.data == beat.data:
            merged = aw_heartbeat_merge(last, beat, pulsetime)
            if merged is not None:
                last = merged
                continue
        events.append(beat)
        last = beat
    return [(e.timestamp, e.timestamp + e.duration, e.data) for e in events]


PULSETIMES = st.sampled_from([0.0, 1.0, 5.0, 30.0, 120.0])


def gaps_ms(pulsetime: float) -> st.SearchStrategy[int]:
    pt = int(pulsetime * 1000)
    return st.one_of(
        st.just(0),
        st.just(pt),
        st.just(pt + 1),
        st.just(max(pt - 1, 0)),
        st.integers(0, 3 * pt + 5000),
    )


@st.composite
def streams(
    draw: st.DrawFn, durations: bool = False, strictly_increasing: bool = False
) -> tuple[float, list[Event]]:
    """(pulsetime, heartbeats) with non-decreasing timestamps; bursts at equal timestamps
    unless strictly increasing."""
    pulsetime = draw(PULSETIMES)
    gap = gaps_ms(pulsetime)
    if strictly_increasing:
        gap = gap.map(lambda g: max(g, 1))
    duration = st.integers(0, 60_000) if durations else st.just(0)
    steps = draw(
        st.lists(st.tuples(gap, duration, st.sampled_from(range(len(VOCABULARY)))), max_size=40)
    )
    heartbeats = []
    t = T0
    for g, d, k in steps:
        t += timedelta(milliseconds=g)
        heartbeats.append(Event(t, t + timedelta(milliseconds=d), dict(VOCABULARY[k])))
    return pulsetime, heartbeats


@PROPERTY
@given(streams())
def test_stream_equals_aw_server_for_duration_zero_heartbeats(
    case: tuple[float, list[Event]],
) -> None:
    pulsetime, heartbeats = case
    stream = run(heartbeats, pulsetime)
    assert spans(stream.inserted) == aw_server(heartbeats, pulsetime)
    assert stream.late == []
    assert stream.updated == {}
    assert all(h.end == h.start for h in heartbeats)  # heartbeats are not touched


def overlapping(events: list[Event]) -> list[tuple[Event, Event]]:
    """Pairs whose half-open [start, end) intervals share an instant."""
    return [
        (x, y)
        for i, x in enumerate(events)
        for y in events[i + 1 :]
        if x.start < x.end and y.start < y.end and x.start < y.end and y.start < x.end
    ]


@PROPERTY
@given(streams(durations=True))
def test_stream_events_never_overlap_with_durations(case: tuple[float, list[Event]]) -> None:
    pulsetime, heartbeats = case
    stream = run(heartbeats, pulsetime)
    events = stream.inserted
    assert all(e.end >= e.start for e in events)
    assert overlapping(events) == []
    # stronger: in order, each event ends at or before the next one starts
    assert all(x.end <= y.start for x, y in pairwise(events))


@PROPERTY
@given(streams(durations=True), st.randoms(use_true_random=False))
def test_stream_events_never_overlap_in_any_order(
    case: tuple[float, list[Event]], random: Any
) -> None:
    pulsetime, heartbeats = case
    random.shuffle(heartbeats)
    stream = run(heartbeats, pulsetime)
    assert all(e.end >= e.start for e in stream.inserted)
    assert overlapping(stream.inserted) == []
    assert len(stream.inserted) + len(stream.late) <= len(heartbeats)


def snapshot(stream: BucketStream) -> tuple[object, ...]:
    return (
        spans(stream.inserted),
        {k: (e.start, e.end) for k, e in stream.updated.items()},
        None if stream.last is None else (stream.last.start, stream.last.end),
    )


def check_retry(pulsetime: float, heartbeats: list[Event], index: int) -> None:
    stream = run(heartbeats, pulsetime)
    before = snapshot(stream)
    stream.push(heartbeats[index % len(heartbeats)], pulsetime)
    assert snapshot(stream) == before


@PROPERTY
@given(streams(durations=True, strictly_increasing=True), st.integers(0, 1000))
def test_retry_of_an_earlier_heartbeat_changes_nothing(
    case: tuple[float, list[Event]], index: int
) -> None:
    pulsetime, heartbeats = case
    if heartbeats:
        check_retry(pulsetime, heartbeats, index)


def counted(stream: BucketStream) -> list[tuple[object, ...]]:
    """The events that count time: (start, end, data) of those longer than zero."""
    return [(e.start, e.end, e.data) for e in stream.inserted if e.end > e.start]


@PROPERTY
@given(streams(durations=True), st.integers(0, 1000))
@example((30.0, [hb(0), hb(0, data=B)]), 0)
def test_retry_of_an_earlier_heartbeat_never_changes_time_counted(
    case: tuple[float, list[Event]], index: int
) -> None:
    """With bursts (equal timestamps), a retry can add a zero-length event, as aw-server
    would; it never changes a span."""
    pulsetime, heartbeats = case
    if not heartbeats:
        return
    stream = run(heartbeats, pulsetime)
    before = counted(stream)
    stream.push(heartbeats[index % len(heartbeats)], pulsetime)
    assert counted(stream) == before


def test_retry_at_the_last_start_with_other_data_changes_nothing() -> None:
    first, second = hb(0, 10), hb(0, 5, data=B)
    stream = run([first, second], 30)
    assert spans(stream.inserted) == [(at(0), at(10), A), (at(10), at(10), B)]
    stream.push(first, 30)  # late now: left to fill_gap, which finds it inside A
    assert spans(stream.inserted) == [(at(0), at(10), A), (at(10), at(10), B)]
    assert fill_gap(stream.inserted[0], at(10), first, 30) == GapFill()


# --- fill_gap: late heartbeats --------------------------------------------------------------


def test_fill_inside_equal_data_extends_up_to_next_start() -> None:
    previous = ev(0, 10, id=9)
    placed = fill_gap(previous, at(30), hb(5, 10), 5)
    assert placed.insert is None
    assert placed.extend is not None
    assert (placed.extend.start, placed.extend.end, placed.extend.id) == (at(0), at(15), 9)
    assert previous.end == at(10)  # the caller writes the new end

    placed = fill_gap(previous, at(12), hb(5, 60), 5)
    assert placed.extend is not None
    assert placed.extend.end == at(12)

    placed = fill_gap(previous, None, hb(10, 60), 5)
    assert placed.extend is not None
    assert placed.extend.end == at(70)


def test_fill_inside_equal_data_within_the_event_does_nothing() -> None:
    assert fill_gap(ev(0, 10, id=9), at(30), hb(5, 2), 5) == GapFill()
    assert fill_gap(ev(0, 10, id=9), at(30), hb(0), 5) == GapFill()


def test_fill_inside_other_data_is_dropped() -> None:
    assert fill_gap(ev(0, 10, id=9), at(30), hb(5, 2, data=B), 5) == GapFill()
    assert fill_gap(ev(0, 10, id=9), at(30), hb(5, 60, data=B), 5) == GapFill()
    assert fill_gap(ev(0, 10, id=9), None, hb(0, data=B), 5) == GapFill()


def test_fill_gap_within_pulsetime_of_equal_data_extends() -> None:
    placed = fill_gap(ev(0, 10, id=9), at(100), hb(15, 2), 5)
    assert placed.insert is None
    assert placed.extend is not None
    assert (placed.extend.start, placed.extend.end, placed.extend.id) == (at(0), at(17), 9)

    placed = fill_gap(ev(0, 10, id=9), at(100), hb(15), 5)  # boundary: exactly end + pulsetime
    assert placed.extend is not None
    assert placed.extend.end == at(15)

    placed = fill_gap(ev(0, 10, id=9), at(16), hb(14, 60), 5)
    assert placed.extend is not None
    assert placed.extend.end == at(16)


def test_fill_gap_within_pulsetime_of_other_data_inserts() -> None:
    placed = fill_gap(ev(0, 10, id=9), at(100), hb(12, 3, data=B), 5)
    assert placed.extend is None
    assert placed.insert is not None
    assert spans([placed.insert]) == [(at(12), at(15), B)]
    assert placed.insert.id is None


def test_fill_gap_past_pulsetime_inserts_clipped_at_next_start() -> None:
    placed = fill_gap(ev(0, 10, id=9), at(100), hb(15.001, 3), 5)
    assert placed.extend is None
    assert placed.insert is not None
    assert spans([placed.insert]) == [(at(15.001), at(18.001), A)]

    placed = fill_gap(ev(0, 10), at(50), hb(40, 30, data=B), 5)
    assert placed.insert is not None
    assert spans([placed.insert]) == [(at(40), at(50), B)]


def test_fill_without_previous_inserts() -> None:
    placed = fill_gap(None, at(50), hb(40, 30), 5)
    assert placed == GapFill(insert=placed.insert)
    assert placed.insert is not None
    assert spans([placed.insert]) == [(at(40), at(50), A)]

    placed = fill_gap(None, None, hb(40, 30), 5)
    assert placed.insert is not None
    assert spans([placed.insert]) == [(at(40), at(70), A)]

    placed = fill_gap(None, at(50), hb(40), 5)
    assert placed.insert is not None
    assert spans([placed.insert]) == [(at(40), at(40), A)]


# --- domain_of and derived ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.Example.com/path", "example.com"),
        ("http://WWW.EXAMPLE.COM:8080/x", "example.com"),
        ("https://bücher.de", "xn--bcher-kva.de"),
        ("https://www.BÜCHER.de/x", "xn--bcher-kva.de"),
        ("https://sub.www.example.com", "sub.www.example.com"),
        ("https://example.com./x", "example.com"),
        ("https://www.example.com./x", "example.com"),
        ("  https://example.com/  ", "example.com"),
        ("http://[::1]:8000/", "::1"),
        ("not a url", None),
        ("", None),
        (None, None),
        ("file:///tmp/x", None),
        ("http://[::1/", None),  # urlsplit raises ValueError
    ],
)
def test_domain_of(url: str | None, domain: str | None) -> None:
    assert domain_of(url) == domain


def test_domain_of_ipv6_matches_urlsplit() -> None:
    assert urlsplit("http://[::1]:8000/").hostname == "::1"


def test_derived_trims_app_and_keeps_strings() -> None:
    data = {"app": "  Firefox \n", "title": " Inbox ", "url": "https://www.example.com/a"}
    assert derived(data) == ("Firefox", " Inbox ", "https://www.example.com/a", "example.com")


def test_derived_non_strings_give_none() -> None:
    assert derived({"app": 3, "title": ["x"], "url": {"u": 1}}) == (None, None, None, None)
    assert derived({"app": None, "title": None, "url": None}) == (None, None, None, None)
    assert derived({}) == (None, None, None, None)


def test_derived_url_without_host() -> None:
    assert derived({"url": "about:blank"}) == (None, None, "about:blank", None)
