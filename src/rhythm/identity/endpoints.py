"""HTTP routes of identity: /auth and /users/me."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from rhythm.identity import service
from rhythm.identity.cache import AuthCache
from rhythm.identity.dependencies import (
    AuthRateLimit,
    PasswordRateLimit,
    SessionUser,
    caller,
)
from rhythm.identity.models import ApiKey, DeviceSession, User
from rhythm.identity.principal import Principal, Scope
from rhythm.identity.schemas import (
    AccountDeletion,
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
    UserUpdate,
)
from rhythm.platform.http.dependencies import DbSession
from rhythm.platform.http.fastroute import fast_route
from rhythm.platform.http.params import PageParams
from rhythm.platform.http.problems import problem_doc
from rhythm.platform.http.shared import shared
from rhythm.platform.pagination import Page
from rhythm.platform.ratelimit import RateLimits
from rhythm.platform.settings import Settings

auth_router = APIRouter(prefix="/auth", tags=["auth"], responses=problem_doc(429))
# The routes that take credentials (register, login, refresh) are open to strangers and each
# costs a password hash or a token rotation: all three are rate limited, declared here once.
credentials_router = APIRouter(dependencies=[AuthRateLimit])
users_router = APIRouter(prefix="/users", tags=["users"], responses=problem_doc(401, 429))


# On every response that carries a secret (a token pair, a new API key): no cache may keep it.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
NO_STORE_DOC = {
    name: {
        "description": f"`{value}`: the response carries a secret.",
        "schema": {"type": "string"},
    }
    for name, value in NO_STORE.items()
}


def _wrong_password_doc(field: str) -> str:
    """How a route that asks for the password again answers a wrong one (confirm_password)."""
    return (
        f"A wrong {field} is a 403 `wrong-password` and counts against the account's failed "
        "sign-in window (10 in 15 minutes, then 429)."
    )


def _user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        timezone=user.timezone,
        visibility=user.visibility,
        created_at=user.created_at,
    )


def _device_session_out(row: DeviceSession, current: uuid.UUID | None) -> DeviceSessionOut:
    return DeviceSessionOut(
        id=row.id,
        device_name=row.device_name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        current=row.id == current,
    )


def _api_key_out(row: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=[Scope(s) for s in row.scopes],
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


def _auth_response(user: User, tokens: service.Tokens) -> AuthResponse:
    return AuthResponse(
        user=_user_out(user),
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )


@credentials_router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=AuthResponse,
    responses={201: {"headers": NO_STORE_DOC}, **problem_doc(409, 422)},
    summary="Create an account and sign in",
)
async def register(
    body: RegisterRequest, request: Request, response: Response, db: DbSession
) -> AuthResponse:
    response.headers.update(NO_STORE)
    user, tokens = await service.register(
        db,
        shared(request, service.TokenIssuer),
        email=body.email,
        password=body.password,
        name=body.name,
        timezone=body.timezone,
        visibility=body.visibility or shared(request, Settings).default_visibility,
    )
    return _auth_response(user, tokens)


@credentials_router.post(
    "/login",
    response_model=AuthResponse,
    responses={200: {"headers": NO_STORE_DOC}, **problem_doc(401, 422)},
    summary="Sign in; opens a new device session",
    description="Every attempt on an account counts before the password is checked; after 10 "
    "within 15 minutes (RHYTHM_LOGIN_FAILURE_LIMIT) the account answers 429 until the window "
    "moves on. A successful sign-in clears the count.",
)
async def login(
    body: LoginRequest, request: Request, response: Response, db: DbSession
) -> AuthResponse:
    response.headers.update(NO_STORE)
    user, tokens = await service.login(
        db,
        shared(request, service.TokenIssuer),
        shared(request, RateLimits),
        email=body.email,
        password=body.password,
        device_name=body.device_name,
    )
    return _auth_response(user, tokens)


@credentials_router.post(
    "/refresh",
    response_model=TokenPair,
    responses={200: {"headers": NO_STORE_DOC}, **problem_doc(401, 422)},
    summary="Rotate the token pair",
    description="A refresh token works once. Presenting a used one revokes its device session.",
)
async def refresh(
    body: RefreshRequest, request: Request, response: Response, db: DbSession
) -> TokenPair:
    response.headers.update(NO_STORE)
    tokens = await service.refresh(db, shared(request, service.TokenIssuer), body.refresh_token)
    return TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )


auth_router.include_router(credentials_router)


@auth_router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(401),
    summary="Revoke the current device session",
)
async def logout(principal: SessionUser, request: Request, db: DbSession) -> Response:
    await service.logout(db, shared(request, AuthCache), principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.post(
    "/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(401),
    summary="Revoke every device session of the account",
)
async def logout_all(principal: SessionUser, request: Request, db: DbSession) -> Response:
    await service.logout_all(db, shared(request, AuthCache), principal.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.get(
    "/sessions",
    response_model=Page[DeviceSessionOut],
    responses=problem_doc(401, 422),
    summary="List the active device sessions",
)
async def list_sessions(
    principal: SessionUser, page: PageParams, db: DbSession
) -> Page[DeviceSessionOut]:
    rows, cursor = await service.list_sessions(db, principal, page)
    data = [_device_session_out(s, principal.session_id) for s in rows]
    return Page(data=data, next_cursor=cursor)


@auth_router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(401, 404, 422),
    summary="Revoke one device session",
)
async def revoke_session(
    session_id: uuid.UUID, principal: SessionUser, request: Request, db: DbSession
) -> Response:
    await service.revoke_session(db, shared(request, AuthCache), principal, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses={201: {"headers": NO_STORE_DOC}, **problem_doc(401, 422)},
    summary="Create an API key for a tracker or script",
    description="`scopes` defaults to `usage` and `read`. Only a device session may create, "
    "list or revoke keys.",
)
async def create_api_key(
    body: ApiKeyCreate, principal: SessionUser, response: Response, db: DbSession
) -> ApiKeyCreated:
    response.headers.update(NO_STORE)
    row, key = await service.create_api_key(db, principal.id, body.name, body.scopes, body.format)
    return ApiKeyCreated(
        id=row.id,
        name=row.name,
        key=key,
        scopes=[Scope(s) for s in row.scopes],
        created_at=row.created_at,
    )


@auth_router.get(
    "/api-keys",
    response_model=Page[ApiKeyOut],
    responses=problem_doc(401, 422),
    summary="List API keys, without their secrets",
)
async def list_api_keys(principal: SessionUser, page: PageParams, db: DbSession) -> Page[ApiKeyOut]:
    rows, cursor = await service.list_api_keys(db, principal.id, page)
    return Page(data=[_api_key_out(k) for k in rows], next_cursor=cursor)


@auth_router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(401, 404, 422),
    summary="Revoke an API key",
)
async def revoke_api_key(
    key_id: uuid.UUID, principal: SessionUser, request: Request, db: DbSession
) -> Response:
    await service.revoke_api_key(db, shared(request, AuthCache), principal.id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@fast_route(
    users_router,
    "GET",
    "/me",
    caller=caller(Scope.READ),
    response_model=UserOut,
    responses=problem_doc(401),
    summary="The signed-in account",
)
async def me(request: Request, caller: Principal) -> Response:
    """The hottest authenticated route: the profile comes from the authentication cache (no
    database round trip), in UserOut's shape without validating it again (it was on the way in)."""
    body = UserOut.model_construct(
        id=caller.id,
        email=caller.email,
        name=caller.name,
        timezone=caller.timezone,
        visibility=caller.visibility,
        created_at=caller.created_at,
    )
    return Response(body.model_dump_json(), media_type="application/json")


@users_router.patch(
    "/me",
    response_model=UserOut,
    responses=problem_doc(422),
    summary="Change name or timezone",
    description="Fields left out keep their values. Becoming `public` approves every pending "
    "follow request; becoming `private` keeps your followers.",
)
async def update_me(
    body: UserUpdate, principal: SessionUser, request: Request, db: DbSession
) -> UserOut:
    user = await service.update_me(db, shared(request, AuthCache), principal.id, body.model_dump())
    return _user_out(user)


@users_router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[PasswordRateLimit],
    responses=problem_doc(403, 422),
    summary="Change the password; signs out every other session",
    description=_wrong_password_doc("`current_password`")
    + " Limited like the auth routes, per IP and per account.",
)
async def change_password(
    body: PasswordChange, principal: SessionUser, request: Request, db: DbSession
) -> Response:
    await service.change_password(
        db,
        shared(request, AuthCache),
        shared(request, RateLimits),
        principal,
        body.current_password,
        body.new_password,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users_router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[PasswordRateLimit],
    responses=problem_doc(403, 422),
    summary="Erase the account and all of its data",
    description="Needs a device session and the account's password in the body. "
    + _wrong_password_doc("password"),
)
async def delete_me(
    body: AccountDeletion, principal: SessionUser, request: Request, db: DbSession
) -> Response:
    await service.confirm_password(
        db, shared(request, RateLimits), principal, body.password, "password"
    )
    await service.delete_account(db, shared(request, AuthCache), principal.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
