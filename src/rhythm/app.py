"""create_app(): the ASGI application and the lifespan that owns its connections."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import limits
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import Receive, Scope, Send

from rhythm import __version__
from rhythm.api import FAST_ROUTES, LARGE_BODY_ROUTES, FastLane, include_api, include_web
from rhythm.catalog.search_cache import SearchCache
from rhythm.focus.recording import SessionWriter
from rhythm.focus.standings_cache import Standings
from rhythm.identity.authenticator import Authenticator
from rhythm.identity.cache import AuthCache
from rhythm.identity.service import TokenIssuer
from rhythm.identity.tokens import AccessTokenCodec
from rhythm.jobs import connect_contexts
from rhythm.platform.errors import PROBLEM_MEDIA_TYPE, FieldError, Problem
from rhythm.platform.http.access import RequestContextMiddleware
from rhythm.platform.http.edge import BodyLimits, HttpEdge
from rhythm.platform.http.health import JobCounts
from rhythm.platform.http.health import router as health_router
from rhythm.platform.http.problems import install_error_handlers
from rhythm.platform.http.shared import Services
from rhythm.platform.observability import configure_logging
from rhythm.platform.pagination import CursorCodec
from rhythm.platform.ratelimit import BatchedLimit, RateLimits
from rhythm.platform.resources import Resources, open_resources
from rhythm.platform.settings import Settings, get_settings
from rhythm.sleep.feed_cache import FeedCache
from rhythm.usage.service import HeartbeatWriter
from rhythm.web.assets import Assets
from rhythm.web.pages import Shell

DESCRIPTION = """
rhythm is a personal time-tracking backend with a social layer.

Authenticate with `Authorization: Bearer <access token>` (from `/api/v1/auth/login`) or
`Authorization: Bearer <API key>`; each operation names the scope it needs (see the `bearer`
security scheme). Every error is `application/problem+json` (RFC 9457).
Lists are cursor-paginated: `?limit=&cursor=` in, `{data, next_cursor}` out.
"""


class RhythmApp(FastAPI):
    """FastAPI, with the fast lane (api.FastLane) taken before its middleware stack.

    Both lanes are behind the same two layers: the observability middleware (request id, access
    log, metrics) and the HTTP edge (body limits, security headers).
    """

    fast_lane = FastLane(FAST_ROUTES)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.edge = RequestContextMiddleware(HttpEdge(self._lanes, BodyLimits(LARGE_BODY_ROUTES)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.edge(scope, receive, send)

    async def _lanes(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.fast_lane.match(scope)
        if route is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        scope["route"] = route
        await self.fast_lane(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    connect_contexts()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = open_resources(settings)
        key = settings.signing_key()
        codec = AccessTokenCodec(
            key, settings.jwt_issuer, settings.jwt_audience, settings.access_token_ttl_seconds
        )
        rate_limits = RateLimits(settings, resources.redis_url)
        await rate_limits.connect()
        cache = AuthCache(resources.redis, rate_limits)
        services = Services()
        services.add(Settings, settings)
        services.add(Resources, resources)
        services.add(RateLimits, rate_limits)
        services.add(AuthCache, cache)
        authenticator = services.add(
            Authenticator,
            Authenticator(codec, cache, resources.session_factory, rate_limits),
        )
        services.add(
            TokenIssuer,
            TokenIssuer(codec, cache, timedelta(seconds=settings.refresh_token_ttl_seconds)),
        )
        services.add(CursorCodec, CursorCodec(key))
        services.add(FeedCache, FeedCache(resources.redis, settings.sleep_fanout_threshold))
        standings = services.add(Standings, Standings(resources.redis))
        heartbeat_writer = services.add(HeartbeatWriter, HeartbeatWriter(resources.session_factory))
        search_cache = services.add(
            SearchCache,
            SearchCache(
                resources.redis,
                resources.session_factory,
                memory_bytes=settings.search_cache_memory_bytes,
                redis_bytes=settings.search_cache_redis_bytes,
            ),
        )
        services.add(
            BatchedLimit,
            BatchedLimit(resources.redis, limits.parse(settings.rate_limit_search), "search"),
        )
        focus_writer = services.add(
            SessionWriter,
            SessionWriter(resources.session_factory, standings, settings.focus_qualify_minutes),
        )
        services.add(JobCounts, JobCounts(resources.engine))
        assets = services.add(Assets, Assets())
        services.add(Shell, Shell(assets))
        app.state.services = services
        if resources.replicas is not None:
            resources.replicas.start()  # their positions known before the first read
        version_feed = asyncio.create_task(search_cache.follow())
        touch_writer = asyncio.create_task(authenticator.run_touch_writer())
        try:
            yield
        finally:
            # Granian runs this once every request is answered; writes whose clients left
            # may still be under way, and must reach PostgreSQL before the pool closes.
            await focus_writer.flush()
            await heartbeat_writer.flush()
            await search_cache.stop_following(version_feed)
            touch_writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await touch_writer
            await resources.close()

    app = RhythmApp(
        title="rhythm",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # /docs is web.endpoints.docs: Swagger UI with its assets served by rhythm.
        docs_url=None,
        redoc_url=None,
        # rhythm exports its own Prometheus metrics; FastAPI's OpenTelemetry hooks would only
        # cost a provider lookup on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    app.include_router(health_router)
    include_api(app)
    include_web(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


# Routes whose contract has its own error body (the provider integration's public search).
OWN_ERROR_FORMAT = {"/search"}
# Routes that answer without PostgreSQL; every other one may answer 503 database-unavailable.
NO_DATABASE = {"/health", "/metrics", "/ready"}
UNAVAILABLE = {
    "description": "PostgreSQL is down or restarting (`database-unavailable`, with"
    " Retry-After). Send the request again later: a write that was stored after all is not"
    " stored twice (a heartbeat merges again, a focus session replays, a night answers 409)."
}


V1 = "/api/v1"
RECORD = V1 + "/sleep/records/{record_id}"
BUCKET = "/api/0/buckets/{bucket_id}"
_record = {"GetRecord": ("GET", RECORD), "DeleteRecord": ("DELETE", RECORD)}
_user = {
    "GetProfile": ("GET", V1 + "/users/{user_id}"),
    "GetStreak": ("GET", V1 + "/users/{user_id}/streak"),
    "GetFollowing": ("GET", V1 + "/users/{user_id}/following"),
    "GetFollowers": ("GET", V1 + "/users/{user_id}/followers"),
}
_bucket = {
    "GetBucket": ("GET", BUCKET),
    "DeleteBucket": ("DELETE", BUCKET),
    "Heartbeat": ("POST", BUCKET + "/heartbeat"),
    "InsertEvents": ("POST", BUCKET + "/events"),
    "GetEvents": ("GET", BUCKET + "/events"),
}
# OpenAPI links: where the id one operation answers with is used next. Clients read them, and
# the stateful fuzzer (tests/test_schemathesis.py) follows them to chain calls.
# (method, path, status) -> (the parameter, where its value comes from, the linked operations).
LINKS: dict[tuple[str, str, str], tuple[str, str, dict[str, tuple[str, str]]]] = {
    ("POST", V1 + "/sleep/records", "201"): ("record_id", "$response.body#/record/id", _record),
    ("POST", V1 + "/sleep/clock-in", "201"): ("record_id", "$response.body#/record/id", _record),
    ("POST", V1 + "/sleep/clock-out", "200"): ("record_id", "$response.body#/record/id", _record),
    ("POST", V1 + "/focus/sessions", "201"): (
        "session_id",
        "$response.body#/session/session_id",
        {"DeleteSession": ("DELETE", V1 + "/focus/sessions/{session_id}")},
    ),
    ("POST", V1 + "/auth/api-keys", "201"): (
        "key_id",
        "$response.body#/id",
        {"RevokeApiKey": ("DELETE", V1 + "/auth/api-keys/{key_id}")},
    ),
    ("POST", V1 + "/auth/register", "201"): ("user_id", "$response.body#/user/id", _user),
    ("PUT", V1 + "/users/me/following/{user_id}", "201"): (
        "user_id",
        "$request.path.user_id",
        {"Unfollow": ("DELETE", V1 + "/users/me/following/{user_id}"), **_user},
    ),
    ("POST", BUCKET, "200"): ("bucket_id", "$request.path.bucket_id", _bucket),
}


def _links(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    for (method, path, status), (parameter, value, targets) in LINKS.items():
        response = paths[path][method.lower()]["responses"].setdefault(
            status, {"description": "Successful Response"}
        )
        response["links"] = {
            name: {
                "operationId": paths[target][verb.lower()]["operationId"],
                "parameters": {parameter: value},
            }
            for name, (verb, target) in targets.items()
        }


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with error responses declared as application/problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    problem = {"$ref": "#/components/schemas/Problem"}
    limits = BodyLimits(LARGE_BODY_ROUTES)
    for path, path_item in schema.get("paths", {}).items():
        if path in OWN_ERROR_FORMAT:
            continue
        for method, operation in path_item.items():
            # identity.dependencies: bad credentials, or a missing scope.
            if operation.get("security"):
                for status, phrase in (("401", "Unauthorized"), ("403", "Forbidden")):
                    operation["responses"].setdefault(status, {"description": phrase})
            if path not in NO_DATABASE:
                operation.setdefault("responses", {}).setdefault("503", UNAVAILABLE)
            if "requestBody" in operation:
                limit = limits.for_route(method.upper(), path)
                operation["responses"]["413"] = {
                    "description": f"Content Too Large: the body is over {limit:,} bytes"
                }
            for status, response in operation.get("responses", {}).items():
                if status[:1] in {"4", "5"}:
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": problem}}
    _links(schema)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.setdefault("FieldError", FieldError.model_json_schema())
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    components["Problem"].pop("$defs", None)
    app.openapi_schema = schema
    return schema
