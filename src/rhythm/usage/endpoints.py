"""HTTP routes of the usage context under /api/v1/usage (ActivityWatch's /api/0 is in
activitywatch.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response, status

from rhythm.identity.dependencies import (
    HeartbeatUser,
    ReadUser,
    WriteUser,
    admit_heartbeats,
    caller,
)
from rhythm.identity.principal import Principal, Scope
from rhythm.platform.bounds import DATE_DOC, INSTANT_DOC
from rhythm.platform.database import ReadSession
from rhythm.platform.errors import Unprocessable
from rhythm.platform.http.dependencies import DbSession
from rhythm.platform.http.fastroute import fast_route
from rhythm.platform.http.params import PageParams
from rhythm.platform.http.problems import problem_doc
from rhythm.platform.http.shared import shared
from rhythm.platform.pagination import Page
from rhythm.platform.resources import Resources
from rhythm.platform.schemas import IsoDate, IsoDatetime, Name
from rhythm.platform.timezones import TimeZoneName
from rhythm.usage import category_rules, reports, service, timeline
from rhythm.usage.merge import Event
from rhythm.usage.repository import CategoryRow
from rhythm.usage.schemas import (
    CATEGORIES_DOC,
    MAX_BULK,
    MAX_TIMELINE_INTERVALS,
    TIMELINE_TITLE_MAX,
    Accepted,
    AfkIn,
    CategoryIdPath,
    CategoryIn,
    CategoryOut,
    CategoryRule,
    CountMode,
    DayReport,
    DayTimeline,
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
    return Heartbeat(body.source, event, body.pulsetime, host=body.host or body.source)


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


@fast_route(
    router,
    "POST",
    "/afk",
    caller=caller(Scope.USAGE),
    body=AfkIn,
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_doc(422),
    summary="Send one AFK status heartbeat (answered once it is durably merged)",
)
async def afk(request: Request, caller: Principal, body: AfkIn) -> Response:
    """What aw-watcher-afk sends: `not-afk` while the device is used, `afk` after it has been
    idle. Merged like any heartbeat into the host's `afkstatus` bucket (`aw-watcher-afk_{host}`,
    made on first use); reports count a host's window time only while it is not AFK."""
    start = body.timestamp
    event = Event(start, start + timedelta(seconds=body.duration), {"status": body.status})
    beat = Heartbeat(
        service.afk_bucket_name(body.host),
        event,
        body.pulsetime,
        type=service.AFK_BUCKET_TYPE,
        host=body.host,
    )
    await shared(request, service.HeartbeatWriter).deliver(Delivery(caller.id, [beat], True))
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


async def _usage_by_day(
    request: Request,
    principal: Principal,
    first: date,
    last: date,
    zone: str,
    group_by: GroupBy,
    count: CountMode,
) -> list[reports.DayUsage]:
    """The report's days, read where lag is tolerated (a replica that has the caller's writes)."""

    async def read(db: ReadSession) -> list[reports.DayUsage]:
        return await reports.usage_by_day(
            await db(), principal.id, first, last, zone, group_by, count
        )

    return await shared(request, Resources).read(read, writer=principal.id)


def _items(usage: reports.DayUsage) -> list[UsageItem]:
    return [UsageItem(key=k, seconds=s) for k, s in usage.items]


@router.get(
    "/report",
    response_model=DayReport | RangeReport,
    responses=problem_doc(422),
    summary="Usage per app, domain, title or category for a local day (or each day of a range)",
    description="`date` for one day, or `from` and `to` (at most 92 days) for a daily "
    "breakdown. Intervals crossing local midnight are split at it.\n\n"
    "`count=active` (the default) counts as ActivityWatch's web UI does: per host, window "
    "time is flooded (gaps up to 5 s filled) and kept only while the host was not AFK (its "
    "`afkstatus` events, or an audible browser tab); a host with no AFK status counts all its "
    "window time. `total_seconds` is that active window time, over all hosts. "
    "`group_by=domain` counts browser-tab time while the browser was the active window, "
    "AFK or not.\n\n"
    "`group_by=category` categorizes the counted window events with your category rules: one "
    "item per category path with time, its key the path joined by ` > ` "
    "(`Work > Programming`), each counting its path and everything below it; time no rule "
    "matches is `Uncategorized`.\n\n"
    "`count=all` counts every recorded second: `total_seconds` is the union over all "
    "sources, and each item the union of its key's intervals (for categories, of the window "
    "events in that category).",
)
async def report(
    principal: ReadUser,
    request: Request,
    day: Annotated[IsoDate | None, Query(alias="date", description=DATE_DOC)] = None,
    first: Annotated[IsoDate | None, Query(alias="from", description=DATE_DOC)] = None,
    last: Annotated[IsoDate | None, Query(alias="to", description=DATE_DOC)] = None,
    timezone: Annotated[TimeZoneName | None, Query()] = None,
    group_by: GroupBy = "app",
    count: CountMode = "active",
) -> DayReport | RangeReport:
    zone = timezone or principal.timezone
    if day is not None and (first is not None or last is not None):
        raise Unprocessable("Give `date`, or `from` and `to`, not both.", field="query.date")
    if day is not None:
        (usage,) = await _usage_by_day(request, principal, day, day, zone, group_by, count)
        return DayReport(
            date=day, timezone=zone, total_seconds=usage.total_seconds, items=_items(usage)
        )
    if first is None or last is None:
        raise Unprocessable("Give `date`, or both `from` and `to`.", field="query.date")
    days = await _usage_by_day(request, principal, first, last, zone, group_by, count)
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
    "/timeline",
    response_model=DayTimeline,
    responses=problem_doc(422),
    summary="A local day's window intervals and AFK periods, per device",
    description="For the local `date` in `timezone` (default: your profile's), each host's "
    "window intervals (app, title) and AFK status periods (`afk` or `not-afk`), as recorded "
    "(the v1 API's sources and `POST /usage/afk`, or ActivityWatch's `currentwindow` and "
    "`afkstatus` buckets), cut to the day; hosts by name, each list oldest first. A host is "
    "the hostname a device's buckets share.\n\n"
    f"At most {MAX_TIMELINE_INTERVALS:,} window intervals and {MAX_TIMELINE_INTERVALS:,} AFK "
    "periods: on a day with more, the longest are listed and `truncated` is true "
    "(`windows_total` and `afk_total` say how many there are). Titles are cut to "
    f"{TIMELINE_TITLE_MAX} characters. Time counted in reports is `GET /usage/report`'s.",
)
async def day_timeline(
    principal: ReadUser,
    request: Request,
    day: Annotated[IsoDate, Query(alias="date", description=DATE_DOC)],
    timezone: Annotated[TimeZoneName | None, Query()] = None,
) -> Response:
    zone = timezone or principal.timezone

    async def read(db: ReadSession) -> DayTimeline:
        return await timeline.day_timeline(await db(), principal.id, day, zone)

    found = await shared(request, Resources).read(read, writer=principal.id)
    # Serialized as built: FastAPI would validate thousands of intervals again.
    return Response(found.model_dump_json(), media_type="application/json")


@router.get(
    "/intervals",
    response_model=Page[IntervalOut],
    responses=problem_doc(422),
    summary="Your usage intervals, latest first",
)
async def intervals(
    principal: ReadUser,
    request: Request,
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

    async def read(db: ReadSession) -> list[tuple[str, Event]]:
        return await service.intervals(
            await db(), principal.id, source, first, last, position, page.limit + 1
        )

    found = await shared(request, Resources).read(read, writer=principal.id)
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


def _category(row: CategoryRow) -> CategoryOut:
    return CategoryOut(
        id=row.id,
        name=row.name,
        rule=CategoryRule(type=row.rule_type, regex=row.regex, ignore_case=row.ignore_case),
    )


@router.get(
    "/categories",
    response_model=list[CategoryOut],
    summary="Your category rules",
    description="In the order they were made. A new account has aw-webui's default set. "
    + CATEGORIES_DOC,
)
async def categories(principal: ReadUser, db: DbSession) -> list[CategoryOut]:
    return [_category(r) for r in await category_rules.list_categories(db, principal.id)]


@router.post(
    "/categories",
    status_code=status.HTTP_201_CREATED,
    response_model=CategoryOut,
    responses=problem_doc(409, 422),
    summary="Add a category rule",
    description=CATEGORIES_DOC + " 409 past the cap; 422 for a pattern RE2 refuses.",
)
async def create_category(body: CategoryIn, principal: WriteUser, db: DbSession) -> CategoryOut:
    row = await category_rules.create_category(
        db, principal.id, body.name, body.rule.regex, body.rule.ignore_case
    )
    return _category(row)


@router.put(
    "/categories/{category_id}",
    response_model=CategoryOut,
    responses=problem_doc(404, 422),
    summary="Replace a category rule (it keeps its place in the order)",
)
async def update_category(
    category_id: CategoryIdPath, body: CategoryIn, principal: WriteUser, db: DbSession
) -> CategoryOut:
    row = await category_rules.update_category(
        db, principal.id, category_id, body.name, body.rule.regex, body.rule.ignore_case
    )
    return _category(row)


@router.delete(
    "/categories/{category_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(404, 422),
    summary="Delete a category rule",
)
async def delete_category(
    category_id: CategoryIdPath, principal: WriteUser, db: DbSession
) -> Response:
    await category_rules.delete_category(db, principal.id, category_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
