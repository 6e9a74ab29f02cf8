"""Active time as ActivityWatch counts it: aw-webui's canonical query, in microseconds. Pure.

aw-webui (`src/queries.ts`, `canonicalEvents` and `browserEvents`) asks aw-server, per host
and per day, for:

    events = flood(window events)
    not_afk = filter_keyvals(flood(afk events), "status", ["not-afk"])
    browser_events = for each browser with a bucket:
        filter_period_intersect(flood(web events), window events of that browser's app names)
    not_afk = period_union(not_afk, filter_keyvals(browser_events, "audible", [true]))
    events = filter_period_intersect(events, not_afk)

Window time is `events`; web-tab time (the domain view) is `browser_events`, which no AFK
filter touches. Each function here is the aw-core transform of the same name
(`aw_transform`, aw-core 0.5.18) on spans of integer microseconds, so that no float rounding
separates rhythm's figures from aw-server's (and, as aw-core's events do, a start that a
transform sets is cut to the millisecond): `flood` (pulsetime 5 s, gaps split at their
midpoint), `filter_period_intersect`, `period_union`. aw-server clips a bucket's events to the
queried period before the query sees them (`clip`).

A span is a list `[start, end, data]`; flooding edits copies. Equal data are usually the same
object (the repository decodes each distinct JSON text once), so `same` tries `is` first.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

Span = list[Any]  # [start_us, end_us, data]; a list, so that flood can edit it in place
_start = itemgetter(0)
Keys = Callable[[dict[str, Any]], Sequence[str]]  # the report keys an event's data counts for

FLOOD_PULSETIME_US = 5_000_000
NEGATIVE_GAP_TRIM_US = 100_000  # aw-core's negative_gap_trim_thres (0.1 s)

# aw-webui's browser_appnames and browser_appname_regex (src/queries.ts): a browser's web-tab
# bucket is the first bucket whose id contains the browser's name, and its window is any
# window event whose app is one of the names or matches the pattern.
BROWSER_APP_NAMES: dict[str, tuple[str, ...]] = {
    "chrome": ("com.google.Chrome", "com.google.ChromeDev", "org.chromium.Chromium"),
    "firefox": ("org.mozilla.firefox", "io.gitlab.librewolf-community", "net.waterfox.waterfox"),
    "opera": ("com.opera.Opera",),
    "brave": ("com.brave.Browser",),
    "edge": ("com.microsoft.Edge", "com.microsoft.EdgeDev"),
    "arc": (),
    "vivaldi": ("com.vivaldi.Vivaldi",),
    "orion": ("Orion",),
    "yandex": ("ru.yandex.Browser",),
    "zen": ("app.zen_browser.zen",),
    "floorp": ("one.ablaze.floorp",),
    "helium": ("net.imput.helium",),
}
BROWSER_APP_PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern)
    for name, pattern in {
        "chrome": r"(?i)^(google[-_ ]?chrome|chrome|chromium)",
        "firefox": r"(?i)(firefox|librewolf|waterfox|nightly)",
        "opera": r"(?i)(opera)",
        "brave": r"(?i)(brave)",
        "edge": r"(?i)^(microsoft[-_ ]?edge|msedge)",
        "arc": r"(?i)^arc(\.exe)?$",
        "vivaldi": r"(?i)(vivaldi)",
        "orion": r"(?i)(orion)",
        "yandex": r"(?i)(yandex)",
        "zen": r"(?i)(zen)",
        "floorp": r"(?i)(floorp)",
        "helium": r"(?i)(helium)",
    }.items()
}


def _ms(t: int) -> int:
    """aw-core's Event keeps timestamps in milliseconds (it cuts every timestamp it is given,
    not durations): a span whose start a transform moves keeps its duration from the uncut
    start, so its end moves with the cut too."""
    return t - t % 1000


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a is b or a == b


def clip(spans: Iterable[Span], lo: int, hi: int) -> list[Span]:
    """The spans reaching into [lo, hi] (ends included, as aw-server selects them), cut to it,
    in the same order. Spans inside it are listed as they are (transforms copy before they
    edit): most are, and a report's spans are many."""
    return [
        span if lo <= span[0] and span[1] <= hi else [max(span[0], lo), min(span[1], hi), span[2]]
        for span in spans
        if span[0] <= hi and span[1] >= lo and span[0] <= span[1]
    ]


def _halve(gap: int) -> int:
    """gap / 2 rounded as `timedelta / 2` rounds microseconds: half to even."""
    q, r = divmod(gap, 2)
    if r and q % 2 == 1:
        q += 1
    return q


def _start_and_length(span: Span) -> tuple[int, int]:
    return span[0], span[1] - span[0]


def flood(spans: Iterable[Span], pulsetime: int = FLOOD_PULSETIME_US) -> list[Span]:
    """aw-core 0.5.18's `flood`: gaps of at most `pulsetime` between neighbours are filled
    (equal data merge across them, differing data meet at the gap's midpoint), then overlaps
    are removed (equal data merge, otherwise the later span wins). Zero-length spans help
    fill gaps and are then dropped. Returns new spans, ordered, never overlapping."""
    events = [[s, e, d] for s, e, d in spans]
    events.sort(key=_start_and_length)
    warned_unsafe = False
    for i in range(len(events) - 1):
        e1 = events[i]
        e2 = events[i + 1]
        gap = e2[0] - e1[1]
        if not gap:
            continue
        d1, d2 = e1[2], e2[2]
        equal = d1 is d2 or d1 == d2
        if gap < 0 and equal:
            start = min(e1[0], e2[0])
            end = max(e1[1], e2[1])
            e1[0] = _ms(start)
            e1[1] = e1[0] + end - start
            e2[0] = e2[1] = _ms(end)
        elif gap < -NEGATIVE_GAP_TRIM_US and not warned_unsafe:
            warned_unsafe = True  # aw-core only logs this (once per call), and changes nothing
        elif -NEGATIVE_GAP_TRIM_US < gap <= pulsetime:
            e2_end = e2[1]
            if equal:
                if e1[1] - e1[0] >= e2[1] - e2[0]:
                    e1[1] = e2_end
                    e2[0] = e2[1] = _ms(e2_end)
                else:
                    e2[0] = e1[0]
                    e1[1] = e1[0]
            else:
                midpoint = e1[1] + _halve(gap)
                e1[1] = midpoint
                e2[0] = _ms(midpoint)
                e2[1] = e2[0] + e2_end - midpoint
    normalized: list[Span] = []
    for event in events:
        if event[1] <= event[0]:
            continue
        while normalized and normalized[-1][1] > event[0]:
            previous = normalized[-1]
            if same(previous[2], event[2]):
                previous[1] = max(previous[1], event[1])
                break
            previous[1] = event[0]
            if previous[1] <= previous[0]:
                normalized.pop()
                continue
            normalized.append(event)
            break
        else:
            normalized.append(event)
    return normalized


def filter_period_intersect(events: Iterable[Span], filters: Iterable[Span]) -> list[Span]:
    """aw-core's `filter_period_intersect`: the parts of `events` that fall in a filter span,
    with their data. Both lists are walked once in start order, as aw-core walks them, and each
    pair is cut as timeslot's `Timeslot.intersection` cuts it (inlined: this is the hot loop)."""
    ev = sorted(events, key=_start)
    fl = sorted(filters, key=_start)
    out: list[Span] = []
    append = out.append
    i = j = 0
    n, m = len(ev), len(fl)
    while i < n and j < m:
        a0, a1, data = ev[i]
        f = fl[j]
        b0, b1 = f[0], f[1]
        if a0 <= b0:
            if b1 <= a1:
                c0, c1 = b0, b1
            elif b0 < a1:
                c0, c1 = b0, a1
            elif b0 == a0:  # a zero-length event at the filter's start
                c0, c1 = a0, a1
            elif a1 <= b0:
                i += 1
                continue
            else:  # unreachable for well-formed spans; aw-core skips both
                i += 1
                j += 1
                continue
        elif b1 <= a0:
            j += 1
            continue
        elif b1 <= a1:
            c0, c1 = a0, b1
        else:
            c0, c1 = a0, a1
        cut = c0 - c0 % 1000  # the piece's start, in aw-core's milliseconds (_ms)
        append([cut, cut + c1 - c0, data])
        if a1 <= b1:
            i += 1
        else:
            j += 1
    return out


def period_union(first: Iterable[Span], second: Iterable[Span]) -> list[Span]:
    """aw-core's `period_union`: the union of both lists' periods (touching ones join), with
    no data. As aw-core does, it clears the data of the given spans it keeps as they are (those
    it joins with a later one are copied first): in the canonical query, an audible tab that
    joins no not-AFK period (listening while away) loses its URL, so aw-webui's domain view
    does not count it. Mirrored, so that the figures are the ones aw-server gives."""
    events = sorted([*first, *second], key=lambda x: x[0])
    merged: list[Span] = []
    if events:
        merged.append(events.pop(0))
    for span in events:
        last = merged[-1]
        s, e = span[0], span[1]
        if last[1] < s or e < last[0]:
            merged.append(span)
        else:
            start, end = min(last[0], s), max(last[1], e)
            merged[-1] = [_ms(start), _ms(start) + end - start, last[2]]
    for span in merged:
        span[2] = {}
    return merged


def not_afk(afk: Iterable[Span]) -> list[Span]:
    """The flooded AFK status spans that say `not-afk` (filter_keyvals on `status`)."""
    return [s for s in flood(afk) if s[2].get("status") == "not-afk"]


def _is_audible(data: dict[str, Any]) -> bool:
    return "audible" in data and data["audible"] in [True]  # aw-core: `in [True]` (so 1 counts)


def browsers(bucket_names: Sequence[str]) -> list[tuple[str, str]]:
    """aw-webui's browsersWithBuckets: (browser, bucket) for each browser with a bucket, the
    first (in the given order) whose name contains the browser's name."""
    found: list[tuple[str, str]] = []
    for browser in BROWSER_APP_NAMES:
        bucket = next((b for b in bucket_names if browser in b), None)
        if bucket is not None:
            found.append((browser, bucket))
    return found


@dataclass
class _AppMatcher:
    """Whether a window event's app is a given browser's, memoised per data object (a day's
    events share few distinct data)."""

    browser: str
    seen: dict[int, bool] = field(default_factory=dict)

    def __call__(self, data: dict[str, Any]) -> bool:
        key = id(data)
        hit = self.seen.get(key)
        if hit is None:
            app = data.get("app")
            hit = isinstance(app, str) and (
                app in BROWSER_APP_NAMES[self.browser]
                or BROWSER_APP_PATTERNS[self.browser].search(app) is not None
            )
            self.seen[key] = hit
        return hit


@dataclass
class HostDay:
    """One host's events of one day, already clipped to it: its window buckets' (together),
    its AFK buckets' (None when it has none), and each browser's web-tab events."""

    window: list[Span]
    afk: list[Span] | None
    web: dict[str, list[Span]]  # browser name -> its bucket's events


@dataclass
class Counted:
    """What one host's day counts: active window time, all its (flooded) window time, and
    web-tab time while its browser was the active window."""

    window: list[Span]
    flooded: list[Span]
    web: list[Span]


def count_host_day(host: HostDay) -> Counted:
    """aw-webui's canonical query for one host and one period (module docstring). Duplicates
    of aw-webui's browser window list (an app matching both a browser's names and its
    pattern) are listed once: the report counts unions of time, not sums."""
    window = flood(host.window)
    web: list[Span] = []
    for browser, events in host.web.items():
        matches = _AppMatcher(browser)
        browser_window = [s for s in window if matches(s[2])]
        if browser_window:
            web.extend(filter_period_intersect(flood(events), browser_window))
    if host.afk is None:
        return Counted(window, window, web)
    active = not_afk(host.afk)
    audible = [s for s in web if _is_audible(s[2])]
    if audible:
        active = period_union(active, audible)
    return Counted(filter_period_intersect(window, active), window, web)


def union_seconds(spans: Iterable[Span]) -> float:
    """Seconds covered by the spans, overlaps counted once."""
    ordered = sorted(spans, key=_start)
    total = 0
    end = None
    start = 0
    for s, e, _ in ordered:
        if end is None or s > end:
            if end is not None:
                total += end - start
            start, end = s, e
        elif e > end:
            end = e
    if end is not None:
        total += end - start
    return total / 1_000_000


def tally(parts: Iterable[Sequence[Span]], keys: Keys) -> list[tuple[str, float]]:
    """Seconds per key: `parts` are lists of spans that never overlap within themselves (one
    host's counted events), so a key found in one part only is a plain sum, and one found in
    several is the union of its spans. Most seconds first, then by key."""
    memo: dict[int, Sequence[str]] = {}
    by_key: dict[str, list[Span]] = {}
    owners: dict[str, int] = {}
    shared: set[str] = set()
    for index, spans in enumerate(parts):
        for span in spans:
            data = span[2]
            found = memo.get(id(data))
            if found is None:
                found = memo[id(data)] = keys(data)
            for key in found:
                by_key.setdefault(key, []).append(span)
                if owners.setdefault(key, index) != index:
                    shared.add(key)
    items = [
        (
            key,
            union_seconds(spans) if key in shared else sum(s[1] - s[0] for s in spans) / 1_000_000,
        )
        for key, spans in by_key.items()
    ]
    items.sort(key=lambda kv: (-kv[1], kv[0]))
    return items


def split_days(spans: Iterable[Span], bounds: Sequence[tuple[int, int]]) -> list[list[Span]]:
    """Each day's share of the spans, for contiguous days [start, end]: a span goes to every
    day it reaches into (ends included, as aw-server selects a period's events), cut to it
    (as it is when it lies inside one day)."""
    if len(bounds) == 1:
        return [clip(spans, *bounds[0])]
    starts = [b[0] for b in bounds]
    ends = [b[1] for b in bounds]
    out: list[list[Span]] = [[] for _ in bounds]
    for span in spans:
        s, e = span[0], span[1]
        first, last = bisect_left(ends, s), bisect_right(starts, e)
        if last - first == 1 and starts[first] <= s and e <= ends[first]:
            out[first].append(span)
            continue
        for k in range(first, last):
            lo, hi = bounds[k]
            out[k].append([max(s, lo), min(e, hi), span[2]])
    return out
