"""Heartbeat merging, as ActivityWatch does it. Pure: no I/O.

`heartbeat_merge` is aw-core's `aw_transform.heartbeats.heartbeat_merge`; `BucketStream`
applies a bucket's heartbeats in order the way aw-server's `heartbeat` API does (merge into the
bucket's last event, else start a new one), with two rules of rhythm's where aw-server would let
a bucket's events overlap:

- a heartbeat that starts before the end of the last event (possible only with durations) and
  does not merge into it starts its event where the last one ends: time already recorded is
  never taken back (so a retry cannot undo what came after it);
- a heartbeat older than the last event's start (late: a retry, or a device's clock) never
  touches the last event. `fill_gap` puts it in the time around it: merged into the event it
  falls in or follows within the pulsetime when their data are equal (never past the next
  event's start), dropped when it falls inside an event with other data, else a new event
  clipped at the next event's start.

An exact retry of a heartbeat already merged never changes any event's span or the time
counted. The one trace it can leave is aw-server's too: a zero-length event, when the retried
heartbeat shares its instant with a later data change (a burst A, B, A at one timestamp).
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import idna


@dataclass
class Event:
    start: datetime
    end: datetime
    data: dict[str, Any]
    id: int | None = None  # None until stored

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def heartbeat_merge(last: Event, heartbeat: Event, pulsetime: float) -> Event | None:
    """The last event extended by the heartbeat, or None when they do not merge: equal data,
    and the heartbeat at or after the last event's start and at most `pulsetime` seconds after
    its end. The merged end is the later of the two ends."""
    if last.data != heartbeat.data:
        return None
    if not last.start <= heartbeat.start <= last.end + timedelta(seconds=pulsetime):
        return None
    return Event(last.start, max(last.end, heartbeat.end), last.data, last.id)


@dataclass
class BucketStream:
    """A bucket's heartbeats applied in order to its last event; collects the writes."""

    last: Event | None
    updated: dict[int, Event] = field(default_factory=dict)  # stored events whose end changed
    inserted: list[Event] = field(default_factory=list)  # new events, in order
    late: list[tuple[Event, float]] = field(default_factory=list)

    def push(self, heartbeat: Event, pulsetime: float) -> Event | None:
        """Apply one heartbeat; the event it ended in (None when it is late)."""
        last = self.last
        if last is not None and heartbeat.start < last.start:
            self.late.append((heartbeat, pulsetime))
            return None
        if last is not None:
            merged = heartbeat_merge(last, heartbeat, pulsetime)
            if merged is not None:
                self._set_end(last, merged.end)
                return last
            if last.end > heartbeat.start:
                start = last.end
                event = Event(start, max(start, heartbeat.end), heartbeat.data)
                self.inserted.append(event)
                self.last = event
                return event
        event = Event(heartbeat.start, heartbeat.end, heartbeat.data)
        self.inserted.append(event)
        self.last = event
        return event

    def _set_end(self, event: Event, end: datetime) -> None:
        if event.end == end:
            return
        event.end = end
        if event.id is not None:
            self.updated[event.id] = event


@dataclass(frozen=True)
class GapFill:
    extend: Event | None = None  # a stored event whose end grows (its new end set)
    insert: Event | None = None  # a new event


def fill_gap(
    previous: Event | None, next_start: datetime | None, heartbeat: Event, pulsetime: float
) -> GapFill:
    """Where a late heartbeat goes, given the event starting at or before it and the start of
    the one after it."""
    limit = heartbeat.end if next_start is None else min(heartbeat.end, next_start)
    if previous is not None and previous.start <= heartbeat.start <= previous.end:
        if previous.data != heartbeat.data or limit <= previous.end:
            return GapFill()
        return GapFill(extend=Event(previous.start, limit, previous.data, previous.id))
    if (
        previous is not None
        and previous.data == heartbeat.data
        and heartbeat.start <= previous.end + timedelta(seconds=pulsetime)
    ):
        if limit <= previous.end:
            return GapFill()
        return GapFill(extend=Event(previous.start, limit, previous.data, previous.id))
    return GapFill(insert=Event(heartbeat.start, max(heartbeat.start, limit), heartbeat.data))


def domain_of(url: str | None) -> str | None:
    """The URL's host: lowercased, a leading `www.` stripped, IDNA-normalised (Unicode labels
    as punycode). None when the URL has no host."""
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return _domain(host) if host else None


# A user's URLs come from a few hosts, and IDNA's normalisation is ~20 µs a call: a third of
# an imported web event's validation before this cache.
@functools.lru_cache(maxsize=4096)
def _domain(host: str) -> str | None:
    host = host.rstrip(".").lower()
    with contextlib.suppress(idna.IDNAError):
        host = idna.encode(host, uts46=True).decode("ascii")
    if host.startswith("www."):
        host = host[4:]
    return host or None


def derived(data: dict[str, Any]) -> tuple[str | None, str | None, str | None, str | None]:
    """(app, title, url, domain) of an event's data, for the reports."""
    app = data.get("app")
    title = data.get("title")
    url = data.get("url")
    return (
        app.strip() if isinstance(app, str) else None,
        title if isinstance(title, str) else None,
        url if isinstance(url, str) else None,
        domain_of(url) if isinstance(url, str) else None,
    )
