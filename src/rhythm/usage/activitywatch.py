"""ActivityWatch's API (/api/0): the routes aw-client and the watchers use. Each bucket is one
source of the API key's user."""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, Field

from rhythm import __version__
from rhythm.identity.dependencies import API_KEY_HEARTBEAT_CALLER, ApiKeyUser
from rhythm.identity.principal import Principal
from rhythm.platform.bounds import INSTANT_DOC
from rhythm.platform.errors import RhythmError
from rhythm.platform.http.dependencies import DbSession
from rhythm.platform.http.fastroute import fast_route
from rhythm.platform.http.problems import problem_doc
from rhythm.platform.http.shared import shared
from rhythm.platform.schemas import IsoDatetime, Name
from rhythm.usage import service
from rhythm.usage.merge import Event
from rhythm.usage.models import UsageBucket
from rhythm.usage.schemas import (
    MAX_AW_EVENTS,
    AwBucketIn,
    AwEventIn,
)
from rhythm.usage.service import Delivery, Heartbeat

aw_router = APIRouter(prefix="/api/0", tags=["activitywatch"], responses=problem_doc(401, 429))

MAX_PULSETIME = 86_400
BucketId = Annotated[
    Name, Path(description="The bucket's id: 1 to 256 characters, no control characters.")
]
Pulsetime = Annotated[
    float | None,
    Query(ge=0, le=MAX_PULSETIME, allow_inf_nan=False, description="Seconds, 0 to 86400."),
]


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
    buckets = await service.buckets_of(db, principal.id)
    return _json({b.name: _bucket_json(b) for b in buckets})


@aw_router.post(
    "/buckets/{bucket_id}",
    responses={304: {"description": "The bucket exists already."}, **problem_doc(422)},
    summary="Create a bucket (200), or 304 if it exists",
)
async def aw_create_bucket(
    bucket_id: BucketId, body: AwBucketIn, principal: ApiKeyUser, db: DbSession
) -> Response:
    created = await service.create_bucket(
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
    await service.delete_bucket(db, principal.id, bucket_id)
    return _json({})


class HeartbeatQuery(BaseModel):
    pulsetime: Pulsetime = None


@fast_route(
    aw_router,
    "POST",
    "/buckets/{bucket_id}/heartbeat",
    caller=API_KEY_HEARTBEAT_CALLER,
    path_params={"bucket_id": BucketId},
    query=HeartbeatQuery,
    body=AwEventIn,
    responses=problem_doc(400, 404, 422),
    summary="Merge a heartbeat (aw-server's semantics); the resulting event",
)
async def aw_heartbeat(
    request: Request, caller: Principal, bucket_id: str, query: HeartbeatQuery, body: AwEventIn
) -> Response:
    """Every watcher sends one every few seconds."""
    if query.pulsetime is None:
        raise MissingPulsetime("The pulsetime query parameter is required.")
    start = body.timestamp
    event = Event(start, start + timedelta(seconds=body.duration), body.data)
    result = await shared(request, service.HeartbeatWriter).deliver(
        Delivery(caller.id, [Heartbeat(bucket_id, event, query.pulsetime)], False)
    )
    return _json(service.event_json(result or event))


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
    start: Annotated[IsoDatetime | None, Query(description=INSTANT_DOC)] = None,
    end: Annotated[IsoDatetime | None, Query(description=INSTANT_DOC)] = None,
    limit: Annotated[
        int | None,
        Query(ge=-1, le=MAX_AW_EVENTS, description=f"0 to {MAX_AW_EVENTS:,}; -1: the maximum."),
    ] = None,
) -> Response:
    bucket = await service.require_bucket(db, principal.id, bucket_id)
    count = MAX_AW_EVENTS if limit is None or limit < 0 else limit
    found = await service.bucket_events(db, bucket, start, end, count)
    # Like aw-server, events reaching outside [start, end] are clipped to it.
    return _json([service.event_json(_clip(e, start, end)) for e in found])


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
    await service.delete_event(db, bucket, event_id)
    return _json({"success": 1})
