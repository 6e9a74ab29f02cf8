"""How routes declare their caller: the scope each needs (`UsageUser`, `ReadUser`, `WriteUser`,
`SessionUser`, `ApiKeyUser`; the fast lane passes the same scope to `current_user`), whether
it must be an administrator (`AdminUser`), and the per-IP limits on failed credentials and
password checks."""

from __future__ import annotations

import base64
from functools import partial
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.openapi.models import HTTPBase, HTTPBearer, SecurityBase
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase as SecurityDependency

from rhythm.identity.authenticator import Authenticator
from rhythm.identity.principal import SESSION, Principal, Scope
from rhythm.identity.tokens import is_api_key
from rhythm.platform.errors import RhythmError, Unauthorized
from rhythm.platform.http.fastroute import Caller
from rhythm.platform.http.shared import shared
from rhythm.platform.ratelimit import RateLimits


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _signed_in(request: Request, authorization: str) -> Principal:
    return await shared(request, Authenticator).authenticate(authorization, client_ip(request))


async def optional_user(request: Request) -> Principal | None:
    """The caller if credentials are sent (any scope: these routes are public reads);
    rate-limited per user, or per IP when anonymous."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        limits = shared(request, RateLimits)
        await limits.enforce("anonymous", limits.anonymous, client_ip(request))
        return None
    return await _signed_in(request, authorization)


async def current_user(request: Request, need: str) -> Principal:
    """The signed-in caller, holding `need` (a Scope, or SESSION); rate-limited per user.
    401 without valid credentials, 403 `insufficient-scope` without `need`."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        raise Unauthorized()
    principal = await _signed_in(request, authorization)
    principal.require(need)
    return principal


async def api_key_user(request: Request, need: str = Scope.USAGE) -> Principal:
    """The owner of the API key sent as `Authorization: Bearer <key>`, or as the username of
    HTTP Basic credentials (what ActivityWatch clients send from ~/.netrc or from credentials
    written in the server address; wakatime-cli sends the key alone, base64-encoded), holding
    `need` (by default the `usage` scope); rate-limited per user."""
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
    await authenticator.limits.enforce("user", authenticator.limits.user, str(principal.id))
    principal.require(need)
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


async def _scoped_api_key_user(
    request: Request,
    security_scopes: SecurityScopes,
    _bearer: Annotated[None, Depends(BEARER)],
    _basic: Annotated[None, Depends(BASIC)],
) -> Principal:
    (need,) = security_scopes.scopes
    return await api_key_user(request, need)


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


def caller(need: str) -> Caller:
    """The caller of a declared fast route (platform.http.fastroute) holding `need`: checked by
    `current_user` on the fast lane and by the same dependency as `ReadUser` and its kin on
    FastAPI's."""
    return Caller(
        partial(current_user, need=need),
        Annotated[Principal, Security(_scoped_user, scopes=[need])],
    )


API_KEY_CALLER = Caller(api_key_user, ApiKeyUser)
