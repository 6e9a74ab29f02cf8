"""bench/capacity.py's activity model, which docs/scaling.md's figures rest on: aw-client's
queued pre-merge as the bench models it sends one request per ~11 s of unchanged polls, and
stores exactly what the raw polls would have stored (rhythm's own merge applies both)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from bench.capacity import AFK_PULSETIME, WINDOW_PULSETIME, Beat, aw_client_queue, model_day

from rhythm.usage.merge import BucketStream, Event

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def stored(beats: list[Beat], pulsetime: float) -> list[tuple[float, float, str]]:
    """The events rhythm's merge (usage.merge.BucketStream, the write path's) makes of them."""
    stream = BucketStream(None)
    for beat in beats:
        start = T0 + timedelta(seconds=beat.start)
        stream.push(Event(start, start + timedelta(seconds=beat.duration), beat.data), pulsetime)
    return [
        ((e.start - T0).total_seconds(), (e.end - T0).total_seconds(), repr(e.data))
        for e in stream.inserted
    ]


def test_unchanged_polls_are_sent_every_eleven_seconds() -> None:
    polls = [Beat(float(s), 0.0, {"app": "Code"}) for s in range(110)]
    sent = aw_client_queue(polls, WINDOW_PULSETIME)
    assert [(b.start, b.duration) for b in sent[:3]] == [(0, 11), (11, 11), (22, 11)]
    assert len(sent) == 10


def test_a_change_sends_the_cached_heartbeat_at_once() -> None:
    polls = [Beat(float(s), 0.0, {"app": "Code" if s < 4 else "Mail"}) for s in range(8)]
    sent = aw_client_queue(polls, WINDOW_PULSETIME)
    assert [(b.start, b.duration, b.data["app"]) for b in sent] == [
        (0, 3, "Code"),
        (4, 3, "Mail"),
    ]


def test_premerged_requests_store_what_the_polls_would() -> None:
    day = model_day(random.Random(1), date(2026, 11, 2))
    for pulsetime, polls_of in ((WINDOW_PULSETIME, "window"), (AFK_PULSETIME, "afk")):
        requests = getattr(day, polls_of)
        assert stored(requests, pulsetime) == stored(_polls(requests), pulsetime)
    assert 5_000 < len(day.window) + len(day.afk) < 6_000  # the figure scaling.md uses


def _polls(requests: list[Beat]) -> list[Beat]:
    """The raw polls behind pre-merged requests: one per second of each request's span."""
    seconds = {int(b.start + s): b.data for b in requests for s in range(int(b.duration) + 1)}
    return [Beat(float(s), 0.0, data) for s, data in sorted(seconds.items())]
