"""ActivityWatch's API (/api/0): the routes aw-client and the watchers use. Each bucket is one
source of the API key's user."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.convertors import Convertor, register_url_convertor

from rhythm import __version__
from rhythm.identity.dependencies import API_KEY_HEARTBEAT_CALLER, ApiKeyUser
from rhythm.identity.principal import Principal
from rhythm.platform.bounds import INSTANT_DOC
from rhythm.platform.errors import RhythmError, Unprocessable
from rhythm.platform.http.dependencies import DbSession
from rhythm.platform.http.fastroute import fast_route
from rhythm.platform.http.problems import problem_doc
from rhythm.platform.http.shared import shared
from rhythm.platform.resources import Resources
from rhythm.platform.schemas import IsoDatetime, Name
from rhythm.usage import history, service
from rhythm.usage.aw_document import form_boundary, uploaded_file
from rhythm.usage.merge import Event
from rhythm.usage.schemas import (
    IMPORT_BODY_LIMIT,
    MAX_AW_EVENTS,
    MAX_IMPORT_BUCKETS,
    MAX_IMPORT_DURATION,
    MAX_IMPORT_EVENTS,
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
    return _json({b.name: history.bucket_json(b) for b in buckets})


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
    return _json(history.bucket_json(await service.require_bucket(db, principal.id, bucket_id)))


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


EventLimit = Annotated[
    int | None,
    Query(
        ge=-1,
        le=MAX_AW_EVENTS,
        description=f"0 to {MAX_AW_EVENTS:,}; absent or -1: no limit, as on aw-server.",
    ),
]


class TooManyEvents(Unprocessable):
    slug = "too-many-events"
    title = "Too many events"


@aw_router.get(
    "/buckets/{bucket_id}/events",
    responses=problem_doc(404, 422),
    summary="A bucket's events, newest first",
    description="The events overlapping [`start`, `end`], clipped to it, as aw-server gives them. "
    f"`limit` absent or -1 (aw-client's default) means no limit, as on aw-server, but a list "
    f"holds at most {MAX_AW_EVENTS:,} events: when more match, the answer is a 422 "
    "(`too-many-events`) that names their count; narrow `start`/`end`, pass a `limit`, or use "
    "`/export`.",
)
async def aw_events(
    bucket_id: BucketId,
    principal: ApiKeyUser,
    db: DbSession,
    start: Annotated[IsoDatetime | None, Query(description=INSTANT_DOC)] = None,
    end: Annotated[IsoDatetime | None, Query(description=INSTANT_DOC)] = None,
    limit: EventLimit = None,
) -> Response:
    bucket = await service.require_bucket(db, principal.id, bucket_id)
    count = MAX_AW_EVENTS + 1 if limit is None or limit < 0 else limit
    found = await service.bucket_events(db, bucket, start, end, count)
    if len(found) > MAX_AW_EVENTS:
        total = await service.count_events(db, bucket, start, end)
        raise TooManyEvents(
            f"{total:,} events match, and a list holds at most {MAX_AW_EVENTS:,}: narrow "
            "start and end, pass a limit, or export the bucket.",
            field="query.limit",
        )
    # Like aw-server, events reaching outside [start, end] are clipped to it.
    return _json([service.event_json(_clip(e, start, end)) for e in found])


@aw_router.get(
    "/buckets/{bucket_id}/events/count",
    responses=problem_doc(404, 422),
    summary="How many of a bucket's events overlap [start, end]",
    description="A number, as aw-server answers: the events `GET .../events` would give "
    "without a limit.",
)
async def aw_event_count(
    bucket_id: BucketId,
    principal: ApiKeyUser,
    db: DbSession,
    start: Annotated[IsoDatetime | None, Query(description=INSTANT_DOC)] = None,
    end: Annotated[IsoDatetime | None, Query(description=INSTANT_DOC)] = None,
) -> Response:
    bucket = await service.require_bucket(db, principal.id, bucket_id)
    return _json(await service.count_events(db, bucket, start, end))


def _clip(event: Event, start: datetime | None, end: datetime | None) -> Event:
    begin = max(event.start, start) if start is not None else event.start
    finish = min(event.end, end) if end is not None else event.end
    return Event(begin, max(begin, finish), event.data, event.id)


class _EventId(Convertor[str]):
    """An event id segment, anything but `count`: `…/events/count` is its own resource, so a
    DELETE there is a 405, not a 422 for an event id `count`. The value is still validated
    as an integer by the route."""

    regex = "(?!count$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("aw_event_id", _EventId())


@aw_router.delete(
    "/buckets/{bucket_id}/events/{event_id:aw_event_id}",
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


def _export(request: Request, user_id: uuid.UUID, bucket: str | None) -> StreamingResponse:
    """The export document, written as it is read (one snapshot, a page of events at a time)."""

    async def pieces(session: AsyncSession) -> AsyncIterator[bytes]:
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        async for chunk in history.export_document(session, user_id, bucket):
            yield chunk

    def chunks() -> AsyncIterator[bytes]:
        # On a replica that has the user's last write, when one fits (platform.replicas).
        return shared(request, Resources).read_stream(pieces, writer=user_id)

    name = "aw-buckets-export.json" if bucket is None else f"aw-bucket-export_{bucket}.json"
    return StreamingResponse(
        chunks(),
        media_type="application/json",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


EXPORT_DOC = (
    '`{"buckets": {id: {id, name, type, client, hostname, created, data, events}}}`, '
    "as aw-server exports it: events newest first, without ids; streamed."
)


@aw_router.get(
    "/export",
    summary="Every bucket and all its events (aw-server's export document)",
    description=EXPORT_DOC,
    response_class=StreamingResponse,
    responses={200: {"content": {"application/json": {}}}},
)
async def aw_export(request: Request, principal: ApiKeyUser) -> StreamingResponse:
    return _export(request, principal.id, None)


@aw_router.get(
    "/buckets/{bucket_id}/export",
    summary="One bucket and all its events (aw-server's export document)",
    description=EXPORT_DOC,
    response_class=StreamingResponse,
    responses={200: {"content": {"application/json": {}}}, **problem_doc(404)},
)
async def aw_export_bucket(
    request: Request, bucket_id: BucketId, principal: ApiKeyUser, db: DbSession
) -> StreamingResponse:
    await service.require_bucket(db, principal.id, bucket_id)
    return _export(request, principal.id, bucket_id)


_IMPORT_SCHEMA = {
    "type": "object",
    "required": ["buckets"],
    "properties": {"buckets": {"type": "object"}},
}


@aw_router.post(
    "/import",
    responses=problem_doc(409, 413, 422),
    summary="Import buckets and their events (aw-server's export document)",
    description=(
        "The document `GET /export` gives, as JSON (what aw-client's `import_bucket` sends) or as "
        "the first file of a multipart/form-data body (what aw-webui's import sends). Missing "
        "buckets are created; an event already in its bucket (same timestamp, duration and "
        "data) is not inserted again, so importing a document twice changes nothing. At most "
        f"{MAX_IMPORT_BUCKETS:,} buckets and {MAX_IMPORT_EVENTS:,} events (413), in a body of "
        f"at most {IMPORT_BODY_LIMIT // 2**20:,} MiB (413); durations up to "
        f"{MAX_IMPORT_DURATION:,} s. All or nothing: an event overlapping another of its "
        "bucket is a 409. Answers `null`, as aw-server does."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _IMPORT_SCHEMA},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"buckets.json": {"type": "string", "format": "binary"}},
                    }
                },
            },
        }
    },
)
async def aw_import(request: Request, principal: ApiKeyUser, db: DbSession) -> Response:
    boundary = form_boundary(request.headers.get("content-type", ""))
    body = request.stream()
    chunks = body if boundary is None else uploaded_file(body, boundary)
    await history.import_document(db, principal.id, chunks)
    return _json(None)  # as aw-server answers
