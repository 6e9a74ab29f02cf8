"""Usage reports: each local day's time per app, title, domain or category.

By default a report counts active time as aw-webui's canonical query does (activity.py, per
host: window time while not AFK; browser-tab time while the browser is the active window).
`count="all"` counts every recorded second (repository.report: unions of intervals in SQL).
Days are the user's local days: events are split at local midnight.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.platform.bounds import EPOCH
from rhythm.platform.errors import Unprocessable
from rhythm.platform.timeutil import local_day_start
from rhythm.usage import activity, categories, category_rules, repository
from rhythm.usage.merge import derived
from rhythm.usage.service import AFK_BUCKET_TYPE, V1_BUCKET_TYPE, WEB_BUCKET_TYPE

MAX_REPORT_DAYS = 92
REPORT_TYPES = (V1_BUCKET_TYPE, WEB_BUCKET_TYPE)  # what count="all" counts
ACTIVITY_TYPES = (V1_BUCKET_TYPE, AFK_BUCKET_TYPE, WEB_BUCKET_TYPE)
UNKNOWN_HOST = "unknown"  # aw-watcher-web's hostname before it knew one


@dataclass(frozen=True)
class DayUsage:
    day: date
    total_seconds: float
    items: list[tuple[str, float]]  # (key, seconds), most first


def day_bounds(first: date, last: date, zone: str) -> list[tuple[date, datetime, datetime]]:
    days: list[tuple[date, datetime, datetime]] = []
    day = first
    while day <= last:
        following = day + timedelta(days=1)
        days.append((day, local_day_start(day, zone), local_day_start(following, zone)))
        day = following
    return days


# The report keys of an event's data (activity.Keys) per `group_by`. A key counted on window
# time (as aw-webui's categorize runs on window `events`) needs nothing else; one depending on
# the user (categories) is built in report_keys.
def _app_keys(data: dict[str, Any]) -> tuple[str, ...]:
    app = derived(data)[0]
    return () if app is None else (app,)


def _title_keys(data: dict[str, Any]) -> tuple[str, ...]:
    title = derived(data)[1]
    return () if title is None else (title,)


def _domain_keys(data: dict[str, Any]) -> tuple[str, ...]:
    domain = derived(data)[3]
    return () if domain is None else (domain,)


REPORT_KEYS: dict[str, activity.Keys] = {
    "app": _app_keys,
    "title": _title_keys,
    "domain": _domain_keys,
}
WEB_KEYS = frozenset({"domain"})  # counted on web-tab time, not on active window time


async def report_keys(session: AsyncSession, user_id: uuid.UUID, group_by: str) -> activity.Keys:
    """The keys each counted event's data is reported under. The keys of a `group_by` that
    depends on the user (categories: their rules, matched against the data) are built here."""
    if group_by != "category":
        return REPORT_KEYS[group_by]
    classifier = categories.Classifier(await category_rules.rules_of(session, user_id))

    def category_keys(data: dict[str, Any]) -> tuple[str, ...]:
        # The deepest matching path, and each path above it: `Work` counts `Work > Programming`.
        path = classifier.category(data)
        return tuple(categories.SEPARATOR.join(path[:depth]) for depth in range(1, len(path) + 1))

    return category_keys


def _check_days(first: date, last: date) -> None:
    if first > last:
        raise Unprocessable("`from` must not be after `to`.", field="query.from")
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        raise Unprocessable(f"At most {MAX_REPORT_DAYS} days per call.", field="query.to")


async def usage_by_day(
    session: AsyncSession,
    user_id: uuid.UUID,
    first: date,
    last: date,
    zone: str,
    group_by: str,
    count: str = "active",
) -> list[DayUsage]:
    """Each local date's usage per key. `count="active"`: as aw-webui counts it (active_days);
    `count="all"`: every recorded second, the union over all sources, and per key the union of
    that key's intervals. Intervals crossing local midnight are split at it."""
    _check_days(first, last)
    if count == "active":
        keys = await report_keys(session, user_id, group_by)
        bounds, hosts, rows = await _activity(session, user_id, first, last, zone)
        with _gc_paused():
            return [
                DayUsage(day.day, day.total_seconds, activity.tally(day.parts, keys))
                for day in _count_days(bounds, hosts, rows, group_by)
            ]
    if group_by == "category":
        found = await category_rules.usage_by_category(
            session, user_id, day_bounds(first, last, zone)
        )
        return [DayUsage(day, total, items) for day, total, items in found]
    rows = await repository.report(
        session, user_id, day_bounds(first, last, zone), group_by, REPORT_TYPES
    )
    totals: dict[date, float] = {}
    items: dict[date, list[tuple[str, float]]] = {}
    for day, key, seconds in rows:
        if key is None:
            totals[day] = seconds
        else:
            items.setdefault(day, []).append((key, seconds))
    out: list[DayUsage] = []
    day = first
    while day <= last:
        ranked = sorted(items.get(day, []), key=lambda kv: (-kv[1], kv[0]))
        out.append(DayUsage(day, totals.get(day, 0.0), ranked))
        day += timedelta(days=1)
    return out


@dataclass(frozen=True)
class DaySummary:
    total_seconds: float
    top: dict[str, list[tuple[str, float]]]  # per group_by: its first keys, most first


async def day_summary(
    session: AsyncSession,
    user_id: uuid.UUID,
    day: date,
    zone: str,
    group_bys: Sequence[str],
    top: int,
) -> DaySummary:
    """One local day's active time and the `top` keys of each of `group_bys`, exactly as
    usage_by_day counts them with count="active", with the day's events read and counted once
    for all of them (none of WEB_KEYS, which count other time)."""
    assert not WEB_KEYS & set(group_bys), "web-tab keys count other spans"
    keys = {group_by: await report_keys(session, user_id, group_by) for group_by in group_bys}
    bounds, hosts, rows = await _activity(session, user_id, day, day, zone)
    with _gc_paused():
        (counted,) = _count_days(bounds, hosts, rows, "app")
        return DaySummary(
            counted.total_seconds,
            {name: activity.tally(counted.parts, k)[:top] for name, k in keys.items()},
        )


@dataclass(frozen=True)
class ActiveDay:
    """One local day's counted events: `parts` holds one list of spans per host (window time,
    or web-tab time for WEB_KEYS), each list free of overlaps; `total_seconds` is the active
    window time of all hosts together."""

    day: date
    total_seconds: float
    parts: list[list[activity.Span]]


@dataclass
class _Host:
    window: list[uuid.UUID] = field(default_factory=list)
    afk: list[uuid.UUID] = field(default_factory=list)
    web: list[tuple[str, uuid.UUID]] = field(default_factory=list)  # (browser, bucket)


def _hosts(buckets: Sequence[repository.ActivityBucket]) -> dict[str, _Host]:
    """Buckets by host, as aw-webui pairs them: a host's window and AFK buckets share its
    hostname; its browsers' web-tab buckets too, or else those of the host `unknown`."""
    hosts: dict[str, _Host] = {}
    for b in buckets:
        if b.type == V1_BUCKET_TYPE:
            hosts.setdefault(b.hostname, _Host()).window.append(b.pk)
    for b in buckets:
        if b.type == AFK_BUCKET_TYPE and b.hostname in hosts:
            hosts[b.hostname].afk.append(b.pk)
    web: dict[str, list[repository.ActivityBucket]] = {}
    for b in buckets:
        if b.type == WEB_BUCKET_TYPE:
            web.setdefault(b.hostname, []).append(b)
    for name, host in hosts.items():
        own = web.get(name) or web.get(UNKNOWN_HOST, [])
        pks = {b.name: b.pk for b in own}
        host.web = [(browser, pks[bucket]) for browser, bucket in activity.browsers(list(pks))]
    return hosts


async def active_days(
    session: AsyncSession,
    user_id: uuid.UUID,
    first: date,
    last: date,
    zone: str,
    group_by: str,
) -> list[ActiveDay]:
    """Each local day's counted events, as aw-webui's canonical query counts them per host
    (activity.count_host_day): window time when the host was not AFK (all of it for a host
    without an AFK bucket) and, for WEB_KEYS, web-tab time while the browser was the active
    window, with no AFK filter (aw-webui's domain view). A host without web-tab buckets counts
    its window events' own URLs (the v1 API's heartbeats carry them)."""
    _check_days(first, last)
    bounds, hosts, rows = await _activity(session, user_id, first, last, zone)
    with _gc_paused():
        return _count_days(bounds, hosts, rows, group_by)


Bounds = list[tuple[date, datetime, datetime]]


async def _activity(
    session: AsyncSession, user_id: uuid.UUID, first: date, last: date, zone: str
) -> tuple[Bounds, dict[str, _Host], list[Any]]:
    """The days, the user's hosts and the rows of their buckets' events in those days."""
    bounds = day_bounds(first, last, zone)
    hosts = _hosts(await repository.activity_buckets(session, user_id, ACTIVITY_TYPES))
    wanted = {pk for h in hosts.values() for pk in (*h.window, *h.afk, *(p for _, p in h.web))}
    if not wanted:
        return bounds, hosts, []
    rows = await repository.activity_rows(
        session, user_id, list(wanted), bounds[0][1], bounds[-1][2]
    )
    return bounds, hosts, rows


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No garbage collection while a report is counted. A day of 20,000 heartbeats makes tens
    of thousands of small lists, all freed by reference counting; collections triggered
    meanwhile would scan them and promote them to the oldest generation, whose full
    collections (the whole process's objects) then cost a report tens of milliseconds. There
    is no await inside, so nothing else runs meanwhile."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _count_days(
    bounds: Bounds, hosts: dict[str, _Host], rows: list[Any], group_by: str
) -> list[ActiveDay]:
    micros = [(_micros(ds), _micros(de)) for _, ds, de in bounds]
    found = repository.activity_spans(rows)
    by_day = {pk: activity.split_days(spans, micros) for pk, spans in found.items()}
    nothing: list[list[activity.Span]] = [[] for _ in bounds]
    web_keys = group_by in WEB_KEYS
    out: list[ActiveDay] = []
    for k, (day, _, _) in enumerate(bounds):
        windows: list[list[activity.Span]] = []
        parts: list[list[activity.Span]] = []
        for host in hosts.values():
            counted = activity.count_host_day(
                activity.HostDay(
                    window=[s for pk in host.window for s in by_day.get(pk, nothing)[k]],
                    afk=[s for pk in host.afk for s in by_day.get(pk, nothing)[k]]
                    if host.afk
                    else None,
                    web={b: by_day.get(pk, nothing)[k] for b, pk in host.web},
                )
            )
            windows.append(counted.window)
            if not web_keys:
                parts.append(counted.window)
            elif host.web:
                parts.append(counted.web)
            else:
                parts.append(counted.flooded)
        total = (
            sum(s[1] - s[0] for s in windows[0]) / 1_000_000
            if len(windows) == 1
            else activity.union_seconds(s for spans in windows for s in spans)
        )
        out.append(ActiveDay(day, total, parts))
    return out


def _micros(instant: datetime) -> int:
    return (instant - EPOCH) // timedelta(microseconds=1)
