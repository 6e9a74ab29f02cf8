"""HTTP routes of the catalog: the provider integration's public search (/search), the richer
/api/v1/events, and the admin routes that start and list syncs."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from redis.exceptions import RedisError
from starlette.responses import JSONResponse

from rhythm.catalog import service
from rhythm.catalog.schemas import (
    EventPage,
    SearchAnswer,
    SearchError,
    SearchQuery,
    SyncList,
    SyncSlots,
    SyncStarted,
)
from rhythm.catalog.search_cache import Answer, SearchCache
from rhythm.catalog.service import InvalidSearch
from rhythm.identity.dependencies import AdminUser, ReadUser, client_ip
from rhythm.platform.database import ReadSession
from rhythm.platform.errors import Unprocessable
from rhythm.platform.http.dependencies import DbSession
from rhythm.platform.http.fastroute import fast_route
from rhythm.platform.http.params import PageParams
from rhythm.platform.http.problems import problem_doc
from rhythm.platform.http.shared import shared
from rhythm.platform.ratelimit import BatchedLimit
from rhythm.platform.resources import Resources
from rhythm.platform.settings import Settings

search_router = APIRouter(tags=["catalog"])
router = APIRouter(prefix="/events", tags=["catalog"], responses=problem_doc(401, 429))
admin_router = APIRouter(prefix="/admin/catalog", tags=["admin"], responses=problem_doc(401, 403))

CACHE_CONTROL = "public, max-age=0, must-revalidate"
TRUNCATED = "X-Result-Truncated"


def _search_error(
    message: str,
    code: str = "invalid_parameter",
    status: int = 400,
    headers: dict[str, str] | None = None,
) -> Response:
    return JSONResponse(
        {"error": {"code": code, "message": message}, "data": None},
        status_code=status,
        headers=headers,
    )


@fast_route(
    search_router,
    "GET",
    "/search",
    query=SearchQuery,
    summary="Events by date range (the provider integration's public contract)",
    description="No authentication. `starts_at` and `ends_at` are optional ISO date-times (or "
    "dates) on the provider's wall clock, on dates from 1970-01-01 to 2199-12-31; a slot "
    "matches when it starts at or after `starts_at` and ends at or before `ends_at` (slots "
    "are whole seconds, so bounds count to the second). "
    "An answer holds at most RHYTHM_SEARCH_MAX_EVENTS events (default 2,000), the earliest "
    "first; when more matched it carries `X-Result-Truncated: true` (ask a narrower range). "
    "Errors are `{error: {code, message}, data: null}`: 400 `invalid_parameter`, and 429 "
    "`rate_limited` past RHYTHM_RATE_LIMIT_SEARCH requests per client IP (with Retry-After).",
    response_model=SearchAnswer,
    responses={
        200: {
            "headers": {
                TRUNCATED: {
                    "description": "`true` when more events matched than the answer holds.",
                    "schema": {"type": "string", "enum": ["true"]},
                }
            }
        },
        304: {"description": "Not modified since the ETag sent in If-None-Match."},
        400: {
            "model": SearchError,
            "description": "A malformed parameter, or starts_at after ends_at.",
        },
        429: {
            "model": SearchError,
            "description": "Too many requests from this IP (`rate_limited`); see Retry-After.",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        },
    },
)
async def search(request: Request, query: SearchQuery) -> Response:
    """The provider integration's public contract, answered from rhythm's data: this process's
    memory, else Redis, else PostgreSQL (search_cache). Limited per client IP
    (ratelimit.BatchedLimit); at most `search_max_events` events per answer."""
    limit = shared(request, BatchedLimit)
    retry_after = await limit.hit(client_ip(request))
    if retry_after is not None:
        return _search_error(
            f"Rate limit of {limit.item} exceeded. Retry in {retry_after} s.",
            code="rate_limited",
            status=429,
            headers=limit.headers(retry_after),
        )
    try:
        starts = service.parse_bound("starts_at", query.starts_at)
        ends = service.parse_bound("ends_at", query.ends_at)
    except InvalidSearch as exc:
        return _search_error(str(exc))
    if starts is not None and ends is not None and starts > ends:
        return _search_error("starts_at is after ends_at")
    starts, ends = service.normalise_bounds(starts, ends)
    cache = shared(request, SearchCache)
    version = cache.version if cache.version is not None else await cache.load_version()
    key = service.search_key(version, starts, ends)
    etag = service.etag_for(key)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    answer = cache.get(version, key)
    if answer is None:
        with contextlib.suppress(RedisError):
            answer = await cache.read_shared(key)
        if answer is None:
            most = shared(request, Settings).search_max_events

            async def search(db: ReadSession) -> Answer:
                return await service.search(await db(), starts, ends, most)

            answer = await shared(request, Resources).read(search, writer=service.CATALOG_WRITER)
            with contextlib.suppress(RedisError):
                await cache.store_shared(key, answer)
        cache.put(version, key, answer)
    if answer.truncated:
        headers[TRUNCATED] = "true"
    return Response(answer.body, media_type="application/json", headers=headers)


@router.get(
    "",
    response_model=EventPage,
    responses=problem_doc(422),
    summary="The catalog, base events with slots and zones",
    description="`starts_at` and `ends_at` as on /search: ISO date-times or dates on the "
    "provider's wall clock, on dates from 1970-01-01 to 2199-12-31.",
)
async def events(
    principal: ReadUser,
    db: DbSession,
    page: PageParams,
    starts_at: Annotated[str | None, Query()] = None,
    ends_at: Annotated[str | None, Query()] = None,
) -> EventPage:
    parsed = {}
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        try:
            parsed[name] = service.parse_bound(name, value)
        except InvalidSearch as exc:
            raise Unprocessable(str(exc), field=f"query.{name}") from None
    starts, ends = parsed["starts_at"], parsed["ends_at"]
    if starts is not None and ends is not None and starts > ends:
        raise Unprocessable("starts_at is after ends_at", field="query.starts_at")
    kind = "catalog-events"
    # An empty cursor has always meant the first page here.
    after = page.position(kind) if page.cursor else None
    found = await service.base_events(
        db, starts, ends, int(after[0]) if after else None, page.limit + 1
    )
    rows, cursor = page.page(kind, found, lambda e: [e["base_event_id"]])
    return EventPage.model_validate({"data": rows, "next_cursor": cursor})


@admin_router.post(
    "/sync",
    status_code=202,
    response_model=SyncStarted,
    summary="Start a catalog sync now (admins)",
    description="Queues the sync job (the same task as the schedule, with its retries); the "
    "run appears in `GET /api/v1/admin/catalog/syncs`.",
)
async def start_sync(principal: AdminUser, db: DbSession) -> SyncStarted:
    return SyncStarted(job_id=await service.request_sync(db))


@admin_router.get("/syncs", response_model=SyncList, summary="Sync runs, latest first (admins)")
async def list_syncs(
    principal: AdminUser,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> SyncList:
    return SyncList.model_validate({"data": await service.syncs(db, before, limit)})


@admin_router.get(
    "/syncs/{sync_id}/slots",
    response_model=SyncSlots,
    responses=problem_doc(404),
    summary="Every slot as it stood after a past sync, zones included (admins)",
)
async def slots_at(
    principal: AdminUser, db: DbSession, sync_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> SyncSlots:
    states = await service.slots_at(db, sync_id)
    return SyncSlots.model_validate({"sync_id": sync_id, "slots": states})
