"""Mounts each context's router under /api/v1."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from rhythm.catalog.endpoints import admin_router, search, search_router
from rhythm.catalog.endpoints import router as catalog_router
from rhythm.editors.endpoints import compat_router as wakatime_router
from rhythm.editors.endpoints import router as editors_router
from rhythm.editors.schemas import BULK_BODY_LIMIT as WAKATIME_BULK_BODY_LIMIT
from rhythm.focus.endpoints import router as focus_router
from rhythm.focus.endpoints import user_streak
from rhythm.focus.endpoints import users_router as focus_users_router
from rhythm.identity.endpoints import auth_router, me, users_router
from rhythm.platform.http.fastroute import FastRoute
from rhythm.platform.http.problems import render_error
from rhythm.portability.endpoints import router as portability_router
from rhythm.portability.schemas import IMPORT_BODY_LIMIT as ACCOUNT_IMPORT_BODY_LIMIT
from rhythm.sleep.endpoints import following
from rhythm.sleep.endpoints import router as sleep_router
from rhythm.social.endpoints import router as social_router
from rhythm.usage.activitywatch import aw_heartbeat, aw_router
from rhythm.usage.endpoints import afk, heartbeat
from rhythm.usage.endpoints import router as usage_router
from rhythm.usage.schemas import BULK_BODY_LIMIT, IMPORT_BODY_LIMIT
from rhythm.web.endpoints import api_router as web_api_router
from rhythm.web.endpoints import pages_router, session_router

API_PREFIX = "/api/v1"

# identity's /users/me routes come before social's /users/{user_id}.
ROUTERS: list[APIRouter] = [
    auth_router,
    users_router,
    portability_router,
    social_router,
    sleep_router,
    focus_router,
    focus_users_router,
    usage_router,
    editors_router,
    catalog_router,
    admin_router,
]


# The hottest routes, served by the fast lane ahead of FastAPI (FastLane). Each is declared
# once (platform.http.fastroute.fast_route) on its router below, which also holds FastAPI's
# operation for it (the OpenAPI document, HEAD); they are listed here where they are mounted.
FAST_ROUTES: list[FastRoute] = [
    me.under(API_PREFIX),
    following.under(API_PREFIX),
    user_streak.under(API_PREFIX),
    heartbeat.under(API_PREFIX),
    afk.under(API_PREFIX),
    aw_heartbeat,
    search,
]


# Routes whose valid bodies can be larger than edge.DEFAULT_BODY_LIMIT (1 MiB), by method and
# template; every other request body is refused past 1 MiB (edge.HttpEdge).
LARGE_BODY_ROUTES = {
    ("POST", API_PREFIX + "/usage/heartbeats/bulk"): BULK_BODY_LIMIT,
    ("POST", "/api/0/buckets/{bucket_id}/events"): BULK_BODY_LIMIT,
    ("POST", "/api/0/import"): IMPORT_BODY_LIMIT,
    # An account's export brought back: a million usage intervals take ~200 MB.
    ("POST", API_PREFIX + "/users/me/import"): ACCOUNT_IMPORT_BODY_LIMIT,
    (
        "POST",
        "/api/compat/wakatime/v1/users/{user_id}/heartbeats.bulk",
    ): WAKATIME_BULK_BODY_LIMIT,
}


class FastLane:
    """The fast routes (FAST_ROUTES), served before FastAPI's middleware stack and routing.

    Those layers (error middleware, exception middleware, exit stack, route matching)
    measured a fifth of the feed's CPU per request. The fast lane keeps what they give these
    routes: it is behind the same observability middleware (request id, access log, metrics)
    and HTTP edge (body limit, security headers) as FastAPI (app.RhythmApp), and errors become
    the same problem+json responses (platform.http.problems.render_error).
    """

    def __init__(self, routes: Sequence[FastRoute]) -> None:
        self.routes = [
            (route.method, Route(route.path, route.serve, methods=[route.method]))
            for route in routes
        ]
        self.exact = {
            (method, route.path): route for method, route in self.routes if "{" not in route.path
        }
        self.templated = [(m, route) for m, route in self.routes if "{" in route.path]

    def match(self, scope: Scope) -> Route | None:
        """The fast route of a request, with its path parameters put in the scope."""
        if scope["type"] != "http":
            return None
        method = scope["method"]
        route = self.exact.get((method, scope["path"]))
        if route is not None:
            return route
        for route_method, route in self.templated:
            if route_method != method:
                continue
            # /users/me/streak is not a user id: the exact routes the templated ones shadow
            # are never taken here, and a path a route only partly matches goes to FastAPI.
            matched, child = route.matches(scope)
            if matched is Match.FULL:
                scope.update(child)
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await scope["route"].endpoint(request)
        except Exception as exc:
            response = await render_error(request, exc)
        await response(scope, receive, send)


def include_api(app: FastAPI) -> None:
    # Included straight into the app, not through one more /api/v1 router: FastAPI matches a
    # route through every level of nesting, and one level less is measurably cheaper per request.
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    # ActivityWatch's own paths, for unmodified aw-client and watchers; the provider
    # integration's public search.
    app.include_router(aw_router)
    # WakaTime's API, for wakatime-cli and the editor plugins.
    app.include_router(wakatime_router)
    app.include_router(search_router)
    # Each fast route is where its declaration's FastAPI route is: the lanes cannot disagree
    # on what they serve.
    served = {
        (method, context.path, context.original_route.name)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.original_route.methods or ()
    }
    for route in FAST_ROUTES:
        assert (route.method, route.path, route.name) in served, f"{route.path} is not there"


def include_web(app: FastAPI) -> None:
    """The dashboard's pages, static files and API docs page, the browser's session routes and
    the API routes that serve a page from several contexts."""
    app.include_router(session_router)
    app.include_router(web_api_router, prefix=API_PREFIX)
    app.include_router(pages_router)
