"""HTTP routes of identity: /auth and /users/me."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from rhythm.db import DbSession
from rhythm.errors import problem_doc
from rhythm.identity import service
from rhythm.identity.auth import (
    AuthCache,
    AuthRateLimit,
    CurrentUser,
    OptionalUser,
    SessionUser,
    current_user,
)
from rhythm.identity.models import User
from rhythm.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AuthResponse,
    DeviceSessionOut,
    LoginRequest,
    PasswordChange,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    UserOut,
    UserSummary,
    UserUpdate,
)
from rhythm.pagination import Page, PageParams
from rhythm.ratelimit import RateLimits

auth_router = APIRouter(prefix="/auth", tags=["auth"], responses=problem_doc(429))
users_router = APIRouter(prefix="/users", tags=["users"], responses=problem_doc(401, 429))


def _issuer(request: Request) -> service.TokenIssuer:
    issuer: service.TokenIssuer = request.app.state.token_issuer
    return issuer


def _cache(request: Request) -> AuthCache:
    cache: AuthCache = request.app.state.auth_cache
    return cache


def _user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        timezone=user.timezone,
        created_at=user.created_at,
    )


def _auth_response(user: User, tokens: service.Tokens) -> AuthResponse:
    return AuthResponse(
        user=_user_out(user),
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )


@auth_router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=AuthResponse,
    dependencies=[AuthRateLimit],
    responses=problem_doc(409, 422),
    summary="Create an account and sign in",
)
async def register(body: RegisterRequest, request: Request, db: DbSession) -> AuthResponse:
    user, tokens = await service.register(
        db,
        _issuer(request),
        email=body.email,
        password=body.password,
        name=body.name,
        timezone=body.timezone,
    )
    return _auth_response(user, tokens)


@auth_router.post(
    "/login",
    response_model=AuthResponse,
    dependencies=[AuthRateLimit],
    responses=problem_doc(401, 422),
    summary="Sign in; opens a new device session",
    description="After 10 failed attempts on one account within 15 minutes, answers 429.",
)
async def login(body: LoginRequest, request: Request, db: DbSession) -> AuthResponse:
    limits: RateLimits = request.app.state.rate_limits
    user, tokens = await service.login(
        db,
        _issuer(request),
        limits,
        email=body.email,
        password=body.password,
        device_name=body.device_name,
    )
    return _auth_response(user, tokens)


@auth_router.post(
    "/refresh",
    response_model=TokenPair,
    dependencies=[AuthRateLimit],
    responses=problem_doc(401, 422),
    summary="Rotate the token pair",
    description="A refresh token works once. Presenting a used one revokes its device session.",
)
async def refresh(body: RefreshRequest, request: Request, db: DbSession) -> TokenPair:
    tokens = await service.refresh(db, _issuer(request), body.refresh_token)
    return TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )


@auth_router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(401),
    summary="Revoke the current device session",
)
async def logout(principal: SessionUser, request: Request, db: DbSession) -> Response:
    await service.logout(db, _cache(request), principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.post(
    "/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(401),
    summary="Revoke every device session of the account",
)
async def logout_all(principal: CurrentUser, request: Request, db: DbSession) -> Response:
    await service.logout_all(db, _cache(request), principal.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.get(
    "/sessions",
    response_model=Page[DeviceSessionOut],
    responses=problem_doc(401, 422),
    summary="List the active device sessions",
)
async def list_sessions(
    principal: CurrentUser, page: PageParams, db: DbSession
) -> Page[DeviceSessionOut]:
    rows, cursor = await service.list_sessions(db, principal, page)
    return Page(
        data=[
            DeviceSessionOut(
                id=s.id,
                device_name=s.device_name,
                created_at=s.created_at,
                last_used_at=s.last_used_at,
                current=s.id == principal.session_id,
            )
            for s in rows
        ],
        next_cursor=cursor,
    )


@auth_router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(401, 404, 422),
    summary="Revoke one device session",
)
async def revoke_session(
    session_id: uuid.UUID, principal: CurrentUser, request: Request, db: DbSession
) -> Response:
    await service.revoke_session(db, _cache(request), principal, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=problem_doc(401, 422),
    summary="Create an API key for a tracker or script",
)
async def create_api_key(
    body: ApiKeyCreate, principal: CurrentUser, db: DbSession
) -> ApiKeyCreated:
    row, key = await service.create_api_key(db, principal.id, body.name)
    return ApiKeyCreated(id=row.id, name=row.name, key=key, created_at=row.created_at)


@auth_router.get(
    "/api-keys",
    response_model=Page[ApiKeyOut],
    responses=problem_doc(401, 422),
    summary="List API keys, without their secrets",
)
async def list_api_keys(principal: CurrentUser, page: PageParams, db: DbSession) -> Page[ApiKeyOut]:
    rows, cursor = await service.list_api_keys(db, principal.id, page)
    return Page(
        data=[
            ApiKeyOut(
                id=k.id,
                name=k.name,
                prefix=k.prefix,
                created_at=k.created_at,
                last_used_at=k.last_used_at,
            )
            for k in rows
        ],
        next_cursor=cursor,
    )


@auth_router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(401, 404, 422),
    summary="Revoke an API key",
)
async def revoke_api_key(
    key_id: uuid.UUID, principal: CurrentUser, request: Request, db: DbSession
) -> Response:
    await service.revoke_api_key(db, _cache(request), principal.id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def me_fast(request: Request) -> Response:
    """GET /users/me, the hottest authenticated route, served as a plain Starlette route.

    It skips FastAPI's request handling (dependency solving, query parsing, response-model
    validation: ~30% of this route's CPU, measured with py-spy), reads the profile from the
    authentication cache (no database round trip) and serialises straight to bytes. Errors
    are still RhythmErrors, rendered by the same problem+json handlers. `me` below is the same
    operation as FastAPI declares it, for the OpenAPI document; see api.include_api.
    """
    principal = await current_user(request)
    body = {
        "id": str(principal.id),
        "email": principal.email,
        "name": principal.name,
        "timezone": principal.timezone,
        "created_at": principal.created_at.isoformat().replace("+00:00", "Z"),
    }
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


@users_router.get(
    "/me", response_model=UserOut, responses=problem_doc(401), summary="The signed-in account"
)
async def me(request: Request) -> Response:
    return await me_fast(request)


@users_router.patch(
    "/me", response_model=UserOut, responses=problem_doc(422), summary="Change name or timezone"
)
async def update_me(
    body: UserUpdate, principal: CurrentUser, request: Request, db: DbSession
) -> UserOut:
    user = await service.update_me(db, _cache(request), principal.id, body.model_dump())
    return _user_out(user)


@users_router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(422),
    summary="Change the password; signs out every other session",
)
async def change_password(
    body: PasswordChange, principal: CurrentUser, request: Request, db: DbSession
) -> Response:
    await service.change_password(
        db, _cache(request), principal, body.current_password, body.new_password
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users_router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase the account and all of its data",
)
async def delete_me(principal: CurrentUser, request: Request, db: DbSession) -> Response:
    await service.delete_account(db, _cache(request), principal.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users_router.get(
    "",
    response_model=Page[UserSummary],
    responses=problem_doc(422),
    summary="Search users by name prefix",
)
async def search_users(
    principal: OptionalUser,
    page: PageParams,
    db: DbSession,
    q: Annotated[
        str, Query(min_length=1, max_length=100, pattern=r"^[^\x00]+$", description="Name prefix")
    ],
) -> Page[UserSummary]:
    rows, cursor = await service.search_users(db, q, page)
    return Page(data=[UserSummary(id=u.id, name=u.name) for u in rows], next_cursor=cursor)
