"""Mounts each context's router under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from rhythm.identity.endpoints import auth_router, users_router
from rhythm.social.endpoints import router as social_router

api_router = APIRouter(prefix="/api/v1")
# identity's /users/me routes come before social's /users/{user_id}.
api_router.include_router(auth_router)
api_router.include_router(users_router)
api_router.include_router(social_router)
