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
from rhythm.api import FastLane, include_api
from rhythm.catalog.search_cache import SearchCache
from rhythm.config import Settings, get_settings
from rhythm.errors import PROBLEM_MEDIA_TYPE, FieldError, Problem, install_error_handlers
from rhythm.focus.service import SessionWriter
from rhythm.focus.standings import Standings
from rhythm.health import router as health_router
from rhythm.identity.auth import AuthCache, Authenticator
from rhythm.identity.service import TokenIssuer
from rhythm.identity.tokens import AccessTokenCodec
from rhythm.observability import RequestContextMiddleware, configure_logging
from rhythm.pagination import CursorCodec
from rhythm.ratelimit import BatchedLimit, RateLimits
from rhythm.resources import open_resources
from rhythm.sleep.feeds import FeedCache
from rhythm.usage.service import HeartbeatWriter

DESCRIPTION = """
rhythm is a personal time-tracking backend with a social layer.

Authenticate with `Authorization: Bearer <access token>` (from `/api/v1/auth/login`) or
`Authorization: Bearer <API key>`. Every error is `application/problem+json` (RFC 9457).
Lists are cursor-paginated: `?limit=&cursor=` in, `{data, next_cursor}` out.
"""


class RhythmApp(FastAPI):
    """FastAPI, with the fast lane (api.FastLane) taken before its middleware stack."""

    fast_lane = FastLane()
    fast_lane_app = RequestContextMiddleware(fast_lane)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.fast_lane.match(scope)
        if route is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        scope["route"] = route
        await self.fast_lane_app(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = open_resources(settings)
        key = settings.signing_key()
        codec = AccessTokenCodec(
            key, settings.jwt_issuer, settings.jwt_audience, settings.access_token_ttl_seconds
        )
        state = app.state
        state.settings = settings
        state.resources = resources
        state.engine = resources.engine
        state.session_factory = resources.session_factory
        state.redis = resources.redis
        state.rate_limits = RateLimits(settings, resources.redis_url)
        cache = AuthCache(resources.redis, state.rate_limits)
        state.auth_cache = cache
        state.authenticator = Authenticator(
            codec, cache, resources.session_factory, state.rate_limits
        )
        state.token_issuer = TokenIssuer(
            codec, cache, timedelta(seconds=settings.refresh_token_ttl_seconds)
        )
        state.cursor_codec = CursorCodec(key)
        state.feed_cache = FeedCache(resources.redis, settings.sleep_fanout_threshold)
        state.focus_standings = Standings(resources.redis)
        state.heartbeat_writer = HeartbeatWriter(resources.session_factory)
        state.search_cache = SearchCache(
            resources.redis,
            resources.session_factory,
            memory_bytes=settings.search_cache_memory_bytes,
            redis_bytes=settings.search_cache_redis_bytes,
        )
        state.search_limit = BatchedLimit(
            resources.redis, limits.parse(settings.rate_limit_search), "search"
        )
        version_feed = asyncio.create_task(state.search_cache.follow())
        state.focus_writer = SessionWriter(
            resources.session_factory, state.focus_standings, settings.focus_qualify_minutes
        )
        touch_writer = asyncio.create_task(state.authenticator.run_touch_writer())
        try:
            yield
        finally:
            for task in (touch_writer, version_feed):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await resources.close()

    app = RhythmApp(
        title="rhythm",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        # rhythm exports its own Prometheus metrics; FastAPI's OpenTelemetry hooks would only
        # cost a provider lookup on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    app.include_router(health_router)
    include_api(app)
    app.add_middleware(RequestContextMiddleware)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


# Routes whose contract has its own error body (the provider integration's public search).
OWN_ERROR_FORMAT = {"/search"}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with error responses declared as application/problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    problem = {"$ref": "#/components/schemas/Problem"}
    for path, path_item in schema.get("paths", {}).items():
        if path in OWN_ERROR_FORMAT:
            continue
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                if status[:1] in {"4", "5"}:
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": problem}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.setdefault("FieldError", FieldError.model_json_schema())
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    components["Problem"].pop("$defs", None)
    app.openapi_schema = schema
    return schema
