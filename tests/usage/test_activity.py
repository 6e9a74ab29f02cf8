"""Active time (usage/activity.py): aw-core's transforms on integer microseconds.

Properties with hypothesis (measured against plain interval arithmetic on a grid), hand-worked
cases of aw-webui's canonical query, and the transforms checked against aw-core itself (the
aw-server virtualenv's aw_transform, run once over many random cases).
"""

from __future__ import annotations

import itertools
import json
import random
import subprocess
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rhythm.usage import activity
from rhythm.usage.activity import HostDay, Span
from tests.usage.test_activitywatch import aw_python  # noqa: F401 (a fixture)

S = 1_000_000  # one second in microseconds
A = {"app": "Editor", "title": "a.py"}
B = {"app": "Mail", "title": "Inbox"}
FIREFOX = {"app": "Firefox", "title": "docs"}
NOT_AFK = {"status": "not-afk"}
AFK = {"status": "afk"}


def covered(spans: list[Span]) -> set[int]:
    """The whole seconds [t, t+1) a list of second-aligned spans covers."""
    return {t for s, e, _ in spans for t in range(s // S, e // S)}


def ordered_disjoint(spans: list[Span]) -> bool:
    return all(a[1] <= b[0] for a, b in itertools.pairwise(spans)) and all(
        s < e for s, e, _ in spans
    )


# Spans on a grid of whole seconds, so that coverage can be compared as sets of seconds.
grid_span = st.tuples(
    st.integers(0, 200), st.integers(0, 12), st.sampled_from([A, B, FIREFOX])
).map(lambda t: [t[0] * S, (t[0] + t[1]) * S, t[2]])
grid_spans = st.lists(grid_span, max_size=25)


def disjoint(spans: list[Span]) -> list[Span]:
    """A list made non-overlapping by keeping what each span adds after the previous ones."""
    out: list[Span] = []
    end = -1
    for s, e, d in sorted(spans, key=lambda x: x[0]):
        s = max(s, end)
        if e > s:
            out.append([s, e, d])
            end = e
    return out


@settings(max_examples=300, deadline=None)
@given(grid_spans, st.integers(0, 10))
def test_flood_fills_only_short_gaps_and_never_overlaps(spans: list[Span], pulse: int) -> None:
    spans = disjoint(spans)  # a bucket's events never overlap
    flooded = activity.flood(spans, pulse * S)
    assert ordered_disjoint(flooded)
    before = covered(spans)
    after = covered(flooded)
    assert before <= after  # flooding never takes recorded time away
    # Whatever it adds lies in a gap no longer than the pulsetime.
    for t in after - before:
        left = max((e for s, e, _ in spans if e <= t * S), default=None)
        right = min((s for s, e, _ in spans if s > t * S), default=None)
        assert left is not None and right is not None and right - left <= pulse * S
    # And the input's spans are left alone when nothing is within reach.
    assert activity.flood(activity.flood(spans, pulse * S), pulse * S) == flooded


@settings(max_examples=300, deadline=None)
@given(grid_spans, grid_spans)
def test_intersection_and_union_measure_what_interval_arithmetic_says(
    first: list[Span], second: list[Span]
) -> None:
    a, b = disjoint(first), disjoint(second)
    cut = activity.filter_period_intersect(a, b)
    assert covered(cut) == covered(a) & covered(b)
    assert sum(e - s for s, e, _ in cut) == len(covered(a) & covered(b)) * S
    # Each piece keeps the data of the event it came from.
    for s, e, d in cut:
        assert any(s0 <= s and e <= e0 and d is d0 for s0, e0, d0 in a)
    union = activity.period_union(a, b)
    assert ordered_disjoint(union)
    assert covered(union) == covered(a) | covered(b)
    assert activity.union_seconds([*first, *second]) == len(covered(first) | covered(second))


@settings(max_examples=200, deadline=None)
@given(grid_spans, st.lists(st.integers(1, 60), min_size=1, max_size=6))
def test_split_days_cuts_at_each_boundary(spans: list[Span], lengths: list[int]) -> None:
    bounds: list[tuple[int, int]] = []
    start = 20 * S
    for length in lengths:
        bounds.append((start, start + length * S))
        start += length * S
    days = activity.split_days(spans, bounds)
    inside = {t for t in covered(spans) if bounds[0][0] // S <= t < bounds[-1][1] // S}
    assert set().union(*(covered(d) for d in days)) == inside
    for (lo, hi), pieces in zip(bounds, days, strict=True):
        assert all(lo <= s <= e <= hi for s, e, _ in pieces)


@settings(max_examples=200, deadline=None)
@given(st.lists(grid_spans, max_size=3))
def test_tally_is_each_keys_union_over_parts(parts: list[list[Span]]) -> None:
    parts = [disjoint(p) for p in parts]
    items = dict(activity.tally(parts, lambda d: (d["app"],)))
    for app in ("Editor", "Mail", "Firefox"):
        seconds = {t for p in parts for t in covered([s for s in p if s[2]["app"] == app])}
        assert items.get(app, 0) == len(seconds)
    ranked = activity.tally(parts, lambda d: (d["app"],))
    assert ranked == sorted(ranked, key=lambda kv: (-kv[1], kv[0]))


def test_flood_splits_a_short_gap_between_different_data_at_its_midpoint() -> None:
    flooded = activity.flood([[0, 10 * S, A], [13 * S, 20 * S, B], [40 * S, 41 * S, B]])
    assert flooded == [[0, 11_500_000, A], [11_500_000, 20 * S, B], [40 * S, 41 * S, B]]
    # Equal data merge across the gap; a lone heartbeat (zero length) takes half a gap.
    assert activity.flood([[0, 4 * S, A], [7 * S, 9 * S, A]]) == [[0, 9 * S, A]]
    assert activity.flood([[0, 0, A], [3 * S, 5 * S, B]]) == [
        [0, 1_500_000, A],
        [1_500_000, 5 * S, B],
    ]


def test_host_day_counts_window_time_only_while_not_afk_or_listening() -> None:
    """Window 0-600 s; not AFK 0-100 and 300-400; AFK 100-300; an audible Firefox tab while
    Firefox is the window, 500-560 s (AFK then: idle, but listening)."""
    window = [[0, 450 * S, A], [450 * S, 500 * S, B], [500 * S, 600 * S, FIREFOX]]
    afk = [[0, 100 * S, NOT_AFK], [100 * S, 300 * S, AFK], [300 * S, 400 * S, NOT_AFK]]
    afk.append([400 * S, 600 * S, AFK])
    tab = {"url": "https://www.example.org/x", "title": "x", "audible": True}
    quiet = {"url": "https://docs.python.org/", "title": "y", "audible": False}
    web = [[0, 500 * S, quiet], [500 * S, 560 * S, tab], [560 * S, 600 * S, quiet]]
    counted = activity.count_host_day(HostDay(window, afk, {"firefox": web}))
    apps = dict(activity.tally([counted.window], lambda d: (d["app"],)))
    assert apps == {"Editor": 200.0, "Firefox": 60.0}
    # Web-tab time is counted while Firefox is the window, AFK or not; but, as aw-server
    # gives it, the audible tab that kept the host active while AFK has lost its data (aw-core's
    # period_union clears it), so it has no URL.
    urls = dict(activity.tally([counted.web], lambda d: (d["url"],) if "url" in d else ()))
    assert urls == {"https://docs.python.org/": 40.0}
    assert sum(e - s for s, e, _ in counted.web) == 100 * S
    # Without an AFK bucket the host counts all its window time.
    alone = activity.count_host_day(HostDay(window, None, {}))
    assert sum(e - s for s, e, _ in alone.window) == 600 * S and alone.web == []


def test_browsers_pick_the_first_bucket_naming_each_browser() -> None:
    names = ["aw-watcher-web", "aw-watcher-web-chrome_a", "aw-watcher-web-firefox_a", "x-firefox"]
    assert activity.browsers(names) == [
        ("chrome", "aw-watcher-web-chrome_a"),
        ("firefox", "aw-watcher-web-firefox_a"),
    ]


# aw-core itself, in the aw-server virtualenv: the same random cases through aw_transform.
AW_SCRIPT = """
import json, sys
from datetime import datetime, timedelta, timezone
from aw_core.models import Event
from aw_transform import flood, filter_period_intersect, period_union

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
def ev(s):
    return Event(timestamp=T0 + timedelta(microseconds=s[0]),
                 duration=timedelta(microseconds=s[1] - s[0]), data=s[2])
def out(events):
    return [[(e.timestamp - T0) // timedelta(microseconds=1),
             (e.timestamp + e.duration - T0) // timedelta(microseconds=1), e.data]
            for e in events]
results = []
for case in json.load(sys.stdin):
    a = [ev(s) for s in case["a"]]
    b = [ev(s) for s in case["b"]]
    fa, fb = flood(a), flood(b)
    results.append({"flood": out(fa), "intersect": out(filter_period_intersect(fa, fb)),
                    "union": [x[:2] for x in out(period_union(fa, fb))]})
print(json.dumps(results))
"""


def random_spans(rng: random.Random) -> list[Span]:
    spans: list[Span] = []
    t = rng.randrange(0, 5 * S)
    for _ in range(rng.randrange(0, 40)):
        t += rng.choice((0, 0, rng.randrange(0, 200_000), rng.randrange(0, 6 * S), 5 * S))
        t += rng.choice((0, 1, 2, 3))  # odd gaps: the midpoint rounds half to even
        length = rng.choice((0, rng.randrange(1, 3 * S), rng.randrange(0, 30 * S)))
        if rng.random() < 0.1:
            t -= rng.randrange(0, 300_000)  # overlaps, as aw-server's buckets may have
        t -= t % 1000  # aw-core keeps timestamps in milliseconds (durations in microseconds)
        spans.append([t, t + length, rng.choice([A, B, FIREFOX])])
        t += length
    return spans


def test_transforms_agree_with_aw_core(aw_python: Path) -> None:  # noqa: F811 (the fixture)
    rng = random.Random(12)
    cases = [{"a": random_spans(rng), "b": random_spans(rng)} for _ in range(400)]
    run = subprocess.run(
        [str(aw_python), "-c", AW_SCRIPT],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    expected: list[dict[str, Any]] = json.loads(run.stdout)
    merged = 0
    for case, want in zip(cases, expected, strict=True):
        fa, fb = activity.flood(case["a"]), activity.flood(case["b"])
        assert fa == want["flood"], case
        assert activity.filter_period_intersect(fa, fb) == want["intersect"], case
        assert [x[:2] for x in activity.period_union(fa, fb)] == want["union"], case
        merged += len(case["a"]) - len(fa)
    assert merged > 100  # the cases do merge, split and drop
