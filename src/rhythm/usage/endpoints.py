"""HTTP routes of the usage context: rhythm's own (/api/v1/usage) and ActivityWatch's (/api/0)."""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response, status
from pydantic import Field, TypeAdapter

from rhythm import __version__
from rhythm.identity.dependencies import ApiKeyUser, ReadUser, UsageUser, api_key_user, current_user
from rhythm.identity.principal import Scope
from rhythm.platform.bounds import DATE_WINDOW, INSTANT_WINDOW
from rhythm.platform.errors import RhythmError, Unprocessable
from rhythm.platform.http.dependencies import DbSession
from rhythm.platform.http.params import PageParams, query_value
from rhythm.platform.http.problems import parse_body, problem_doc
from rhythm.platform.pagination import Page
from rhythm.platform.schemas import IsoDate, IsoDatetime, Name
from rhythm.platform.timezones import TimeZoneName
from rhythm.usage import repository, service
from rhythm.usage.merge import Event
from rhythm.usage.models import UsageBucket
from rhythm.usage.schemas import (
    MAX_AW_EVENTS,
    MAX_BULK,
    Accepted,
    AwBucketIn,
    AwEventIn,
    DayReport,
    GroupBy,
    HeartbeatIn,
    IntervalOut,
    RangeReport,
    UsageItem,
)
from rhythm.usage.service import Delivery, Heartbeat

router = APIRouter(prefix="/usage", tags=["usage"], responses=problem_doc(401, 429))
aw_router = APIRouter(prefix="/api/0", tags=["activitywatch"], responses=problem_doc(401, 429))

MAX_PULSETIME = 86_400
_DATE = f"YYYY-MM-DD, {DATE_WINDOW}."
_INSTANT = f"ISO 8601 with an offset, {INSTANT_WINDOW}."
BucketId = Annotated[
    Name, Path(description="The bucket's id: 1 to 256 characters, no control characters.")
]
Pulsetime = Annotated[
    float | None,
    Query(ge=0, le=MAX_PULSETIME, allow_inf_nan=False, description="Seconds, 0 to 86400."),
]
# The fast lane validates its parameters with the very types its FastAPI twin declares.
BUCKET_ID = TypeAdapter(BucketId)
PULSETIME = TypeAdapter(Pulsetime)


def _writer(request: Request) -> service.HeartbeatWriter:
    writer: service.HeartbeatWriter = request.app.state.heartbeat_writer
    return writer


def _heartbeat(body: HeartbeatIn) -> Heartbeat:
    start = body.timestamp
    event = Event(start, start + timedelta(seconds=body.duration), body.data())
    return Heartbeat(body.source, event, body.pulsetime)


async def heartbeat_fast(request: Request) -> Response:
    """POST /usage/heartbeats on the fast lane (api.FastLane): a tracker sends one every few
    seconds. `heartbeat` below declares the operation for OpenAPI."""
    principal = await current_user(request, Scope.USAGE)
    body = parse_body(HeartbeatIn, await request.body())
    await _writer(request).deliver(Delivery(principal.id, [_heartbeat(body)], True))
    return Response(b'{"accepted":1}', status_code=202, media_type="application/json")


@router.post(
    "/heartbeats",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=problem_doc(422),
    summary="Send one heartbeat (answered once it is durably merged)",
)
async def heartbeat(body: HeartbeatIn, principal: UsageUser, request: Request) -> Response:
    return await heartbeat_fast(request)


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
    principal: UsageUser,
    request: Request,
) -> Accepted:
    await _writer(request).deliver(Delivery(principal.id, [_heartbeat(b) for b in body], True))
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
    day: Annotated[IsoDate | None, Query(alias="date", description=_DATE)] = None,
    first: Annotated[IsoDate | None, Query(alias="from", description=_DATE)] = None,
    last: Annotated[IsoDate | None, Query(alias="to", description=_DATE)] = None,
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
    first: Annotated[IsoDatetime | None, Query(alias="from", description=_INSTANT)] = None,
    last: Annotated[IsoDatetime | None, Query(alias="to", description=_INSTANT)] = None,
    source: Annotated[
        Name | None, Query(description="1 to 256 characters, no control characters.")
    ] = None,
) -> Page[IntervalOut]:
    if first is not None and last is not None and first > last:
        raise Unprocessable("`from` must not be after `to`.", field="query.from")
    buckets = await repository.buckets_of(db, principal.id)
    if source is not None:
        buckets = [b for b in buckets if b.name == source]
    names = {b.id: b.name for b in buckets}
    kind = "usage-intervals"
    after = page.position(kind)
    position = (datetime.fromisoformat(after[0]), int(after[1])) if after else None
    found = (
        await repository.events(db, list(names), first, last, position, page.limit + 1)
        if names
        else []
    )
    rows, cursor = page.page(kind, found, lambda r: [r[1].start.isoformat(), r[1].id])
    return Page(
        data=[
            IntervalOut(
                id=e.id or 0,
                source=names[pk],
                start=e.start,
                end=e.end,
                duration_seconds=e.duration.total_seconds(),
                data=e.data,
            )
            for pk, e in rows
        ],
        next_cursor=cursor,
    )


# ActivityWatch's API: the routes aw-client and the watchers use. Each bucket is one source
# of the API key's user.


class MissingPulsetime(RhythmError):
    status = 400
    slug = "missing-pulsetime"
    title = "Missing pulsetime"


def _json(value: Any, status_code: int = 200) -> Response:
    return Response(
        json.dumps(value, separators=(",", ":")),
        status_code=status_code,
        media_type="application/json",
    )


def _bucket_json(bucket: UsageBucket) -> dict[str, Any]:
    return {
        "id": bucket.name,
        "name": bucket.name,
        "type": bucket.type,
        "client": bucket.client,
        "hostname": bucket.hostname,
        "created": bucket.created_at.astimezone(UTC).isoformat(),
        "data": {},
    }


@aw_router.get("/info", summary="Server information, as aw-server gives it")
async def aw_info(principal: ApiKeyUser) -> Response:
    return _json(
        {
            "hostname": socket.gethostname(),
            "version": f"v0.13.2 (rhythm {__version__})",
            "testing": False,
            "device_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"rhythm:{principal.id}")),
        }
    )


@aw_router.get("/buckets/", summary="Your buckets, by id")
async def aw_buckets(principal: ApiKeyUser, db: DbSession) -> Response:
    buckets = await repository.buckets_of(db, principal.id)
    return _json({b.name: _bucket_json(b) for b in buckets})


@aw_router.post(
    "/buckets/{bucket_id}",
    responses={304: {"description": "The bucket exists already."}, **problem_doc(422)},
    summary="Create a bucket (200), or 304 if it exists",
)
async def aw_create_bucket(
    bucket_id: BucketId, body: AwBucketIn, principal: ApiKeyUser, db: DbSession
) -> Response:
    created = await repository.create_bucket(
        db, principal.id, bucket_id, body.type, body.client, body.hostname
    )
    return _json({}) if created else Response(status_code=304)


@aw_router.get("/buckets/{bucket_id}", responses=problem_doc(404), summary="One bucket")
async def aw_bucket(bucket_id: BucketId, principal: ApiKeyUser, db: DbSession) -> Response:
    return _json(_bucket_json(await service.require_bucket(db, principal.id, bucket_id)))


@aw_router.delete(
    "/buckets/{bucket_id}", responses=problem_doc(404), summary="Delete a bucket and its events"
)
async def aw_delete_bucket(bucket_id: BucketId, principal: ApiKeyUser, db: DbSession) -> Response:
    if not await repository.delete_bucket(db, principal.id, bucket_id):
        raise service.BucketNotFound(f"No bucket {bucket_id!r}.")
    return _json({})


async def aw_heartbeat_fast(request: Request) -> Response:
    """POST /api/0/buckets/{bucket_id}/heartbeat on the fast lane (api.FastLane): every watcher
    sends one every few seconds. `aw_heartbeat` below declares it for OpenAPI."""
    principal = await api_key_user(request)
    bucket_id = query_value(BUCKET_ID, ("path", "bucket_id"), request.path_params["bucket_id"])
    pulsetime = query_value(
        PULSETIME, ("query", "pulsetime"), request.query_params.get("pulsetime")
    )
    if pulsetime is None:
        raise MissingPulsetime("The pulsetime query parameter is required.")
    body = parse_body(AwEventIn, await request.body())
    start = body.timestamp
    event = Event(start, start + timedelta(seconds=body.duration), body.data)
    result = await _writer(request).deliver(
        Delivery(principal.id, [Heartbeat(bucket_id, event, pulsetime)], False)
    )
    return _json(service.event_json(result or event))


@aw_router.post(
    "/buckets/{bucket_id}/heartbeat",
    responses=problem_doc(400, 404, 422),
    summary="Merge a heartbeat (aw-server's semantics); the resulting event",
)
async def aw_heartbeat(
    bucket_id: BucketId,
    body: AwEventIn,
    principal: ApiKeyUser,
    request: Request,
    pulsetime: Pulsetime = None,
) -> Response:
    return await aw_heartbeat_fast(request)


@aw_router.post(
    "/buckets/{bucket_id}/events",
    responses=problem_doc(404, 409, 422),
    summary="Insert events as they are",
    description=f"One event, or a list of at most {MAX_AW_EVENTS:,}.",
)
async def aw_insert_events(
    bucket_id: BucketId,
    body: Annotated[
        AwEventIn | Annotated[list[AwEventIn], Field(max_length=MAX_AW_EVENTS)], Body()
    ],
    principal: ApiKeyUser,
    db: DbSession,
) -> Response:
    bucket = await service.require_bucket(db, principal.id, bucket_id)
    items = body if isinstance(body, list) else [body]
    events = [
        Event(e.timestamp, e.timestamp + timedelta(seconds=e.duration), e.data) for e in items
    ]
    await service.insert_events(db, bucket, events)
    return _json(None)  # as aw-server answers


@aw_router.get(
    "/buckets/{bucket_id}/events",
    responses=problem_doc(404, 422),
    summary="A bucket's events, newest first",
    description=f"At most {MAX_AW_EVENTS:,} events: `limit` absent or -1 (aw-client's default, "
    f"which means no limit on aw-server) gives the newest {MAX_AW_EVENTS:,}.",
)
async def aw_events(
    bucket_id: BucketId,
    principal: ApiKeyUser,
    db: DbSession,
    start: Annotated[IsoDatetime | None, Query(description=_INSTANT)] = None,
    end: Annotated[IsoDatetime | None, Query(description=_INSTANT)] = None,
    limit: Annotated[
        int | None,
        Query(ge=-1, le=MAX_AW_EVENTS, description=f"0 to {MAX_AW_EVENTS:,}; -1: the maximum."),
    ] = None,
) -> Response:
    bucket = await service.require_bucket(db, principal.id, bucket_id)
    count = MAX_AW_EVENTS if limit is None or limit < 0 else limit
    found = await repository.events(db, [bucket.id], start, end, None, count)
    # Like aw-server, events reaching outside [start, end] are clipped to it.
    return _json([service.event_json(_clip(e, start, end)) for _, e in found])


def _clip(event: Event, start: datetime | None, end: datetime | None) -> Event:
    begin = max(event.start, start) if start is not None else event.start
    finish = min(event.end, end) if end is not None else event.end
    return Event(begin, max(begin, finish), event.data, event.id)


@aw_router.delete(
    "/buckets/{bucket_id}/events/{event_id}",
    responses=problem_doc(404),
    summary="Delete one event",
)
async def aw_delete_event(
    bucket_id: BucketId,
    event_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    principal: ApiKeyUser,
    db: DbSession,
) -> Response:
    bucket = await service.require_bucket(db, principal.id, bucket_id)
    if not await repository.delete_event(db, bucket.id, event_id):
        raise service.EventNotFound(f"No event {event_id} in {bucket_id!r}.")
    return _json({"success": 1})
