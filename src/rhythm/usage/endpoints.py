"""HTTP routes of the usage context under /api/v1/usage (ActivityWatch's /api/0 is in
activitywatch.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response, status

from rhythm.identity.dependencies import HeartbeatUser, ReadUser, admit_heartbeats, caller
from rhythm.identity.principal import Principal, Scope
from rhythm.platform.bounds import DATE_DOC, INSTANT_DOC
from rhythm.platform.errors import Unprocessable
from rhythm.platform.http.dependencies import DbSession
from rhythm.platform.http.fastroute import fast_route
from rhythm.platform.http.params import PageParams
from rhythm.platform.http.problems import problem_doc
from rhythm.platform.http.shared import shared
from rhythm.platform.pagination import Page
from rhythm.platform.schemas import IsoDate, IsoDatetime, Name
from rhythm.platform.timezones import TimeZoneName
from rhythm.usage import service
from rhythm.usage.merge import Event
from rhythm.usage.schemas import (
    MAX_BULK,
    Accepted,
    DayReport,
    GroupBy,
    HeartbeatIn,
    IntervalOut,
    RangeReport,
    UsageItem,
)
from rhythm.usage.service import Delivery, Heartbeat

router = APIRouter(prefix="/usage", tags=["usage"], responses=problem_doc(401, 429))


def _heartbeat(body: HeartbeatIn) -> Heartbeat:
    start = body.timestamp
    event = Event(start, start + timedelta(seconds=body.duration), body.data())
    return Heartbeat(body.source, event, body.pulsetime)


@fast_route(
    router,
    "POST",
    "/heartbeats",
    caller=caller(Scope.USAGE, heartbeat=True),
    body=HeartbeatIn,
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_doc(422),
    summary="Send one heartbeat (answered once it is durably merged)",
)
async def heartbeat(request: Request, caller: Principal, body: HeartbeatIn) -> Response:
    """A tracker sends one every few seconds."""
    await shared(request, service.HeartbeatWriter).deliver(
        Delivery(caller.id, [_heartbeat(body)], True)
    )
    return Response(b'{"accepted":1}', status_code=202, media_type="application/json")


@router.post(
    "/heartbeats/bulk",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=problem_doc(422),
    summary="Send up to 1,000 heartbeats, all or nothing",
    description="Applied in the order given. A bad item makes the whole request a 422 whose "
    "`errors` name the items by index (`3.timestamp`).",
)
async def heartbeats_bulk(
    body: Annotated[list[HeartbeatIn], Body(min_length=1, max_length=MAX_BULK)],
    principal: HeartbeatUser,
    request: Request,
) -> Accepted:
    await admit_heartbeats(request, principal, len(body) - 1)  # the caller admitted one
    await shared(request, service.HeartbeatWriter).deliver(
        Delivery(principal.id, [_heartbeat(b) for b in body], True)
    )
    return Accepted(accepted=len(body))


def _items(usage: service.DayUsage) -> list[UsageItem]:
    return [UsageItem(key=k, seconds=s) for k, s in usage.items]


@router.get(
    "/report",
    response_model=DayReport | RangeReport,
    responses=problem_doc(422),
    summary="Usage per app, domain or title for a local day (or each day of a range)",
    description="`date` for one day, or `from` and `to` (at most 92 days) for a daily "
    "breakdown. Intervals crossing local midnight are split at it; `total_seconds` is the "
    "union over all sources, and each item the union of its key's intervals.",
)
async def report(
    principal: ReadUser,
    db: DbSession,
    day: Annotated[IsoDate | None, Query(alias="date", description=DATE_DOC)] = None,
    first: Annotated[IsoDate | None, Query(alias="from", description=DATE_DOC)] = None,
    last: Annotated[IsoDate | None, Query(alias="to", description=DATE_DOC)] = None,
    timezone: Annotated[TimeZoneName | None, Query()] = None,
    group_by: GroupBy = "app",
) -> DayReport | RangeReport:
    zone = timezone or principal.timezone
    if day is not None and (first is not None or last is not None):
        raise Unprocessable("Give `date`, or `from` and `to`, not both.", field="query.date")
    if day is not None:
        (usage,) = await service.usage_by_day(db, principal.id, day, day, zone, group_by)
        return DayReport(
            date=day, timezone=zone, total_seconds=usage.total_seconds, items=_items(usage)
        )
    if first is None or last is None:
        raise Unprocessable("Give `date`, or both `from` and `to`.", field="query.date")
    days = await service.usage_by_day(db, principal.id, first, last, zone, group_by)
    return RangeReport.model_validate(
        {
            "from": first,
            "to": last,
            "timezone": zone,
            "days": [
                DayReport(date=u.day, timezone=zone, total_seconds=u.total_seconds, items=_items(u))
                for u in days
            ],
        }
    )


@router.get(
    "/intervals",
    response_model=Page[IntervalOut],
    responses=problem_doc(422),
    summary="Your usage intervals, latest first",
)
async def intervals(
    principal: ReadUser,
    db: DbSession,
    page: PageParams,
    first: Annotated[IsoDatetime | None, Query(alias="from", description=INSTANT_DOC)] = None,
    last: Annotated[IsoDatetime | None, Query(alias="to", description=INSTANT_DOC)] = None,
    source: Annotated[
        Name | None, Query(description="1 to 256 characters, no control characters.")
    ] = None,
) -> Page[IntervalOut]:
    if first is not None and last is not None and first > last:
        raise Unprocessable("`from` must not be after `to`.", field="query.from")
    kind = "usage-intervals"
    after = page.position(kind)
    position = (datetime.fromisoformat(after[0]), int(after[1])) if after else None
    found = await service.intervals(db, principal.id, source, first, last, position, page.limit + 1)
    rows, cursor = page.page(kind, found, lambda r: [r[1].start.isoformat(), r[1].id])
    return Page(
        data=[
            IntervalOut(
                id=e.id or 0,
                source=name,
                start=e.start,
                end=e.end,
                duration_seconds=e.duration.total_seconds(),
                data=e.data,
            )
            for name, e in rows
        ],
        next_cursor=cursor,
    )
