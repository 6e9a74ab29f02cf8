"""A local day's timeline per device: each host's window intervals and AFK status periods, as
stored (not flooded or filtered: reports.py counts time; this shows what was recorded), clipped
to the day, at most MAX_TIMELINE_INTERVALS of each kind (the longest)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.usage import repository
from rhythm.usage.reports import day_bounds
from rhythm.usage.schemas import (
    MAX_TIMELINE_INTERVALS,
    TIMELINE_TITLE_MAX,
    DayTimeline,
    TimelineAfk,
    TimelineHost,
    TimelineWindow,
)
from rhythm.usage.service import AFK_BUCKET_TYPE, V1_BUCKET_TYPE


async def day_timeline(
    session: AsyncSession, user_id: uuid.UUID, day: date, zone: str
) -> DayTimeline:
    """The hosts with window or AFK events on the local `day` of `zone`, by name. A host is a
    bucket's hostname, which a device's window and AFK buckets share (as aw-webui pairs them)."""
    ((_, start, end),) = day_bounds(day, day, zone)
    spans, windows_total, afk_total = await repository.timeline(
        session,
        user_id,
        [V1_BUCKET_TYPE],
        AFK_BUCKET_TYPE,
        start,
        end,
        MAX_TIMELINE_INTERVALS,
        TIMELINE_TITLE_MAX,
    )
    hosts: dict[str, TimelineHost] = {}
    for span in spans:
        host = hosts.get(span.host)
        if host is None:
            host = hosts[span.host] = TimelineHost(host=span.host, windows=[], afk=[])
        if span.afk:
            status = "afk" if span.label == "afk" else "not-afk"
            host.afk.append(TimelineAfk(start=span.start, end=span.end, status=status))
        else:
            host.windows.append(
                TimelineWindow(start=span.start, end=span.end, app=span.label, title=span.title)
            )
    return DayTimeline(
        date=day,
        timezone=zone,
        start=start,
        end=end,
        hosts=list(hosts.values()),
        max_intervals=MAX_TIMELINE_INTERVALS,
        windows_total=windows_total,
        afk_total=afk_total,
        truncated=max(windows_total, afk_total) > MAX_TIMELINE_INTERVALS,
    )
