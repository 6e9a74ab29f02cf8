"""How routes declare their caller: the scope each needs (`UsageUser`, `ReadUser`, `WriteUser`,
`SessionUser`, `ApiKeyUser`; the fast lane passes the same scope to `current_user`), whether
it must be an administrator (`AdminUser`), and the per-IP limits on failed credentials and
password checks.

A caller's request counts against the per-user limit (RHYTHM_RATE_LIMIT_DEFAULT), except on
the heartbeat routes, which declare `HeartbeatUser`, `ApiKeyHeartbeatUser`,
`caller(Scope.USAGE, heartbeat=True)` or `API_KEY_HEARTBEAT_CALLER`: there a request is one
heartbeat at the user's heartbeat pace (platform.ratelimit.HeartbeatPace), waiting its turn
rather than refused. A route taking many heartbeats per request admits the others with
`admit_heartbeats`."""

from __future__ import annotations

import base64
from functools import partial
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.openapi.models import HTTPBase, HTTPBearer, SecurityBase
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase as SecurityDependency

from rhythm.identity.authenticator import Authenticator
from rhythm.identity.cookies import cookie_authorization
from rhythm.identity.principal import SESSION, Principal, Scope
from rhythm.identity.tokens import is_api_key
from rhythm.platform.errors import RhythmError, Unauthorized
from rhythm.platform.http.dependencies import note_caller
from rhythm.platform.http.fastroute import Caller
from rhythm.platform.http.shared import shared
from rhythm.platform.ratelimit import RateLimits


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _authorization(request: Request) -> str | None:
    """The Authorization header, or else the dashboard's session cookie (identity.cookies),
    CSRF-checked."""
    return request.headers.get("authorization") or cookie_authorization(request)


async def _signed_in(request: Request, authorization: str) -> Principal:
    principal = await shared(request, Authenticator).authenticate(authorization, client_ip(request))
    note_caller(request, principal.id)
    return principal


async def optional_user(request: Request) -> Principal | None:
    """The caller if credentials are sent (any scope: these routes are public reads);
    rate-limited per user, or per IP when anonymous."""
    authorization = _authorization(request)
    if authorization is None:
        limits = shared(request, RateLimits)
        await limits.enforce("anonymous", limits.anonymous, client_ip(request))
        return None
    return await _signed_in(request, authorization)


async def current_user(request: Request, need: str, heartbeat: bool = False) -> Principal:
    """The signed-in caller, holding `need` (a Scope, or SESSION); rate-limited per user, or
    paced as one `heartbeat`. 401 without valid credentials, 403 `insufficient-scope` without
    `need`."""
    authorization = _authorization(request)
    if authorization is None:
        raise Unauthorized()
    principal = await shared(request, Authenticator).authenticate(
        authorization, client_ip(request), heartbeat
    )
    principal.require(need)
    note_caller(request, principal.id)
    return principal


async def api_key_user(
    request: Request, need: str = Scope.USAGE, heartbeat: bool = False
) -> Principal:
    """The owner of the API key sent as `Authorization: Bearer <key>`, or as the username of
    HTTP Basic credentials (what ActivityWatch clients send from ~/.netrc or from credentials
    written in the server address; wakatime-cli sends the key alone, base64-encoded), holding
    `need` (by default the `usage` scope); rate-limited per user, or paced as one
    `heartbeat`."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        raise Unauthorized(
            "Send an API key: `Authorization: Bearer <key>`, or HTTP Basic with the key as "
            "the username.",
            headers={"WWW-Authenticate": 'Basic realm="rhythm"'},
        )
    authenticator = shared(request, Authenticator)
    ip = client_ip(request)
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credential.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            await authenticator.refuse(ip, "Malformed Basic credentials.")
        key = decoded.partition(":")[0]
    elif scheme.lower() == "bearer":
        key = credential.strip()
    else:
        await authenticator.refuse(ip, "Use Bearer or Basic authentication with an API key.")
    if not is_api_key(key):
        await authenticator.refuse(ip, "These routes take an API key.")
    principal = await authenticator.authenticate_api_key(key, ip)
    await authenticator.count(principal, heartbeat)
    principal.require(need)
    note_caller(request, principal.id)
    return principal


class _DocumentedScheme(SecurityDependency):
    """A security scheme for the OpenAPI document. It checks nothing itself: `current_user`
    and `api_key_user` do, for FastAPI's routes and the fast lane alike."""

    def __init__(self, model: SecurityBase, scheme_name: str) -> None:
        self.model = model
        self.scheme_name = scheme_name

    async def __call__(self) -> None:
        return None


BEARER = _DocumentedScheme(
    HTTPBearer(
        bearerFormat="an access token, or an API key (rhk_...)",
        description="An access token from `/api/v1/auth/login` (a device session) or an API "
        "key from `POST /api/v1/auth/api-keys`. Each operation lists what it needs: `usage` "
        "(send heartbeats and use the ActivityWatch API), `read` (read your own data), "
        "`write` (change sleep, focus and follows), or `session`. A device session holds "
        "all of them; an API key holds the scopes it was created with (by default `usage` "
        "and `read`) and never `session`, which account, password, profile, API-key and "
        "session management need. Missing scope: 403 `insufficient-scope`.",
    ),
    "bearer",
)


BASIC = _DocumentedScheme(
    HTTPBase(
        scheme="basic",
        description="An API key as the username, any password: what ActivityWatch clients "
        "send from ~/.netrc. The key needs the `usage` scope.",
    ),
    "basic",
)


async def _scoped_user(
    request: Request, security_scopes: SecurityScopes, _: Annotated[None, Depends(BEARER)]
) -> Principal:
    (need,) = security_scopes.scopes
    return await current_user(request, need)


async def _scoped_heartbeat_user(
    request: Request, security_scopes: SecurityScopes, _: Annotated[None, Depends(BEARER)]
) -> Principal:
    (need,) = security_scopes.scopes
    return await current_user(request, need, heartbeat=True)


async def _scoped_api_key_user(
    request: Request,
    security_scopes: SecurityScopes,
    _bearer: Annotated[None, Depends(BEARER)],
    _basic: Annotated[None, Depends(BASIC)],
) -> Principal:
    (need,) = security_scopes.scopes
    return await api_key_user(request, need)


async def _scoped_api_key_heartbeat_user(
    request: Request,
    security_scopes: SecurityScopes,
    _bearer: Annotated[None, Depends(BEARER)],
    _basic: Annotated[None, Depends(BASIC)],
) -> Principal:
    principal = await api_key_user(request, heartbeat=True)
    for need in security_scopes.scopes:
        principal.require(need)
    return principal


async def admit_heartbeats(request: Request, principal: Principal, count: int) -> None:
    """Admit `count` more heartbeats of `principal` at their pace (a bulk route, whose caller
    declaration admitted the first): returns once their turn has come; 429 only if it is
    further away than RHYTHM_RATE_LIMIT_HEARTBEATS_MAX_WAIT."""
    await shared(request, RateLimits).heartbeats.admit(str(principal.id), count)


async def auth_rate_limit(request: Request) -> None:
    """The stricter per-IP limit of the unauthenticated auth routes."""
    limits = shared(request, RateLimits)
    await limits.enforce("auth", limits.auth, client_ip(request))


OptionalUser = Annotated[Principal | None, Depends(optional_user)]


# Each route declares what its caller needs with one of these; tests/identity/test_scopes.py
# walks every route to hold them to it.
UsageUser = Annotated[Principal, Security(_scoped_user, scopes=[Scope.USAGE])]


ReadUser = Annotated[Principal, Security(_scoped_user, scopes=[Scope.READ])]


WriteUser = Annotated[Principal, Security(_scoped_user, scopes=[Scope.WRITE])]


SessionUser = Annotated[Principal, Security(_scoped_user, scopes=[SESSION])]


ApiKeyUser = Annotated[Principal, Security(_scoped_api_key_user, scopes=[Scope.USAGE])]


# The heartbeat routes' callers: one heartbeat at the user's pace instead of one request.
HeartbeatUser = Annotated[Principal, Security(_scoped_heartbeat_user, scopes=[Scope.USAGE])]


ApiKeyHeartbeatUser = Annotated[
    Principal, Security(_scoped_api_key_heartbeat_user, scopes=[Scope.USAGE])
]


# An API key (Bearer or Basic) holding the `read` scope: WakaTime clients' status bars.
ApiKeyReader = Annotated[Principal, Security(_scoped_api_key_user, scopes=[Scope.READ])]


class AdminOnly(RhythmError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


async def admin_user(principal: SessionUser) -> Principal:
    """The signed-in caller on a device session, who must be an administrator (403)."""
    if not principal.is_admin:
        raise AdminOnly("Only administrators may do this.")
    return principal


AdminUser = Annotated[Principal, Depends(admin_user)]


AuthRateLimit = Depends(auth_rate_limit)


async def password_rate_limit(request: Request, principal: SessionUser) -> None:
    """The auth routes' limit, per IP and per account, for routes that check a password."""
    limits = shared(request, RateLimits)
    await limits.enforce("auth", limits.auth, client_ip(request))
    await limits.enforce("auth-user", limits.auth, str(principal.id))


PasswordRateLimit = Depends(password_rate_limit)


def caller(need: str, *, heartbeat: bool = False) -> Caller:
    """The caller of a declared fast route (platform.http.fastroute) holding `need`: checked by
    `current_user` on the fast lane and by the same dependency as `ReadUser` and its kin on
    FastAPI's. A `heartbeat` route's request is one heartbeat at the user's pace."""
    scoped = _scoped_heartbeat_user if heartbeat else _scoped_user
    return Caller(
        partial(current_user, need=need, heartbeat=heartbeat),
        Annotated[Principal, Security(scoped, scopes=[need])],
    )


API_KEY_CALLER = Caller(api_key_user, ApiKeyUser)


API_KEY_HEARTBEAT_CALLER = Caller(partial(api_key_user, heartbeat=True), ApiKeyHeartbeatUser)
