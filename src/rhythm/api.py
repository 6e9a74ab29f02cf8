"""Mounts each context's router under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.routing import Route

from rhythm.identity.endpoints import auth_router, me_fast, users_router
from rhythm.sleep.endpoints import following_fast
from rhythm.sleep.endpoints import router as sleep_router
from rhythm.social.endpoints import router as social_router

API_PREFIX = "/api/v1"

# identity's /users/me routes come before social's /users/{user_id}.
ROUTERS: list[APIRouter] = [auth_router, users_router, social_router, sleep_router]


# The hottest reads, served as plain Starlette routes ahead of FastAPI's routing (see
# identity.endpoints.me_fast and sleep.endpoints.following_fast). Their FastAPI twins in the
# routers below declare the same operations for the OpenAPI document.
FAST_ROUTES = [("/users/me", me_fast), ("/sleep/following", following_fast)]


def include_api(app: FastAPI) -> None:
    for position, (path, endpoint) in enumerate(FAST_ROUTES):
        app.router.routes.insert(
            position, Route(API_PREFIX + path, endpoint, methods=["GET"], include_in_schema=False)
        )
    # Included straight into the app, not through one more /api/v1 router: FastAPI matches a
    # route through every level of nesting, and one level less is measurably cheaper per request.
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
