"""Who is calling: bearer access tokens and API keys, checked against a rebuildable Redis cache.

Each authenticated request costs one Redis round trip (MGET of the session's validity and the
user's profile). PostgreSQL stays the truth:

- a session's cached validity is filled with SET NX and revoked with a plain SET *before* the
  revoking transaction commits, so no racing fill can resurrect a revoked session;
- a profile is cached as `version|json` and only ever replaced by a newer version (Lua), so
  racing writers converge on the newest row;
- when Redis is empty or unreachable, the same answers come from PostgreSQL.

What a caller may do is declared once per route, as the scope it needs (`UsageUser`, `ReadUser`,
`WriteUser`, `SessionUser`, `ApiKeyUser`; the fast lane passes the same scope to
`current_user`). An API key holds the scopes it was created with; a device session (an access
token from signing in) holds them all and `session` besides, which no key can hold.

Failed credentials are counted per client IP (RHYTHM_AUTH_FAILURE_LIMIT), and an API key the
cache cannot answer is counted before PostgreSQL is asked, so a stranger's random keys cost a
bounded number of lookups and leave nothing behind in Redis.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import structlog
from fastapi import Depends, Request, Security
from fastapi.openapi.models import HTTPBase, HTTPBearer, SecurityBase
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase as SecurityDependency
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rhythm.identity import repository
from rhythm.identity.tokens import API_KEY_PREFIX, AccessTokenCodec, InvalidToken, hash_secret
from rhythm.platform.errors import RhythmError, Unauthorized
from rhythm.platform.ratelimit import PendingHit, RateLimits

log = structlog.get_logger("rhythm.auth")

VALID, REVOKED = b"1", b"0"
SESSION_TTL = 300
REVOKED_TTL = 24 * 3600
PROFILE_TTL = 3600
TOMBSTONE_VERSION = 2**53
TOUCH_INTERVAL = 60.0
TOUCH_FLUSH_SECONDS = 5.0

_SET_IF_NEWER = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+)|'))
  if v and v >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
"""


class Scope(StrEnum):
    """What an API key may be allowed. Kept small: a key is for a tracker or a script."""

    USAGE = "usage"  # send usage: /usage/heartbeats, and the ActivityWatch API under /api/0
    READ = "read"  # read your own data and what any signed-in person may read (GET routes)
    WRITE = "write"  # change your own data: sleep, focus sessions, follows


# Held only by a device session: account, password, profile, API-key and session management.
SESSION = "session"
# What a key gets when none are asked for: enough for a watcher or an editor plugin.
DEFAULT_KEY_SCOPES: tuple[Scope, ...] = (Scope.USAGE, Scope.READ)
DEVICE_SESSION_SCOPES = frozenset({*Scope, SESSION})


class InsufficientScope(RhythmError):
    status = 403
    slug = "insufficient-scope"
    title = "Insufficient scope"


@dataclass(frozen=True, slots=True)
class Principal:
    id: uuid.UUID
    email: str
    name: str
    timezone: str
    created_at: datetime
    is_admin: bool
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    scopes: frozenset[str] = DEVICE_SESSION_SCOPES

    def require(self, need: str) -> None:
        """403 unless the caller holds `need` (a Scope, or SESSION)."""
        if need in self.scopes:
            return
        if need == SESSION:
            raise InsufficientScope(
                "This needs a device session (the access token from signing in); "
                "no API key can do it."
            )
        raise InsufficientScope(
            f"This API key lacks the `{need}` scope this route needs "
            f"(it holds: {', '.join(sorted(self.scopes)) or 'none'})."
        )


def _session_key(session_id: uuid.UUID) -> str:
    return f"auth:s:{session_id}"


PROFILE_KEY_PREFIX = "auth:u:"


def _profile_key(user_id: uuid.UUID) -> str:
    return f"{PROFILE_KEY_PREFIX}{user_id}"


def _api_key_key(key_hash: bytes) -> str:
    return f"auth:k:{key_hash.hex()}"


def _api_key_value(key_id: uuid.UUID, user_id: uuid.UUID, scopes: Sequence[str]) -> bytes:
    return f"{key_id}:{user_id}:{','.join(scopes)}".encode()


def _parse_api_key_value(value: bytes) -> tuple[uuid.UUID, uuid.UUID, frozenset[str]]:
    key_id, user_id, *rest = value.decode().split(":")
    # Values cached before keys had scopes (for at most SESSION_TTL) get the default.
    scopes = rest[0].split(",") if rest and rest[0] else DEFAULT_KEY_SCOPES
    return uuid.UUID(key_id), uuid.UUID(user_id), frozenset(scopes)


def profile_payload(user: Any) -> str:
    return json.dumps(
        {
            "email": user.email,
            "name": user.name,
            "timezone": user.timezone,
            "created_at": user.created_at.isoformat(),
            "is_admin": user.is_admin,
        },
        separators=(",", ":"),
    )


class AuthCache:
    """The Redis side of authentication. Every method tolerates Redis being down."""

    def __init__(self, redis: Redis, limits: RateLimits) -> None:
        self.redis = redis
        self._set_if_newer = redis.register_script(_SET_IF_NEWER)
        # One command per authenticated request: read the session and profile, and count the
        # rate-limit hit with `limits`' own script, wrapped as a function of its KEYS and ARGV.
        self._read_and_count = redis.register_script(
            "local v = redis.call('MGET', KEYS[1], KEYS[2])\n"
            "local function limits_hit(KEYS, ARGV)\n" + limits.fixed_window_lua() + "\nend\n"
            "v[3] = limits_hit({KEYS[3]}, {ARGV[1], ARGV[2]})\n"
            "return v\n"
        )

    async def read(
        self, session_id: uuid.UUID, user_id: uuid.UUID, hit: PendingHit
    ) -> tuple[Any, Any, object]:
        """The session's validity, the cached profile and the rate-limit count: one command."""
        try:
            values = await self._read_and_count(
                keys=[_session_key(session_id), _profile_key(user_id), hit.key],
                args=[hit.item.get_expiry(), 1],
            )
            return values[0], values[1], values[2]
        except Exception as exc:
            log.warning("auth_cache_unavailable", error=str(exc))
            return None, None, None

    async def read_profile(self, user_id: uuid.UUID) -> Any:
        try:
            return await self.redis.get(_profile_key(user_id))
        except Exception as exc:
            log.warning("auth_cache_unavailable", error=str(exc))
            return None

    async def fill_session(self, session_id: uuid.UUID, valid: bool) -> None:
        try:
            if valid:
                await self.redis.set(_session_key(session_id), VALID, ex=SESSION_TTL, nx=True)
            else:
                await self.redis.set(_session_key(session_id), REVOKED, ex=REVOKED_TTL)
        except Exception as exc:
            log.warning("auth_cache_unavailable", error=str(exc))

    async def revoke_sessions(self, session_ids: list[uuid.UUID]) -> None:
        """Mark sessions revoked. Call before the revoking transaction commits."""
        if not session_ids:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for sid in session_ids:
                    pipe.set(_session_key(sid), REVOKED, ex=REVOKED_TTL)
                await pipe.execute()
        except Exception as exc:
            log.warning("auth_cache_unavailable", error=str(exc))

    async def store_profile(self, user_id: uuid.UUID, version: int, payload: str) -> None:
        try:
            await self._set_if_newer(
                keys=[_profile_key(user_id)], args=[version, payload, PROFILE_TTL]
            )
        except Exception as exc:
            log.warning("auth_cache_unavailable", error=str(exc))

    async def store_profiles(self, profiles: Sequence[tuple[uuid.UUID, int, str]]) -> None:
        """store_profile for many users, in one round trip."""
        if not profiles:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for user_id, version, payload in profiles:
                    await self._set_if_newer(
                        keys=[_profile_key(user_id)],
                        args=[version, payload, PROFILE_TTL],
                        client=pipe,
                    )
                await pipe.execute()
        except Exception as exc:
            log.warning("auth_cache_unavailable", error=str(exc))

    async def forget_user(self, user_id: uuid.UUID) -> None:
        """A tombstone outranks every version: a deleted user's cached profile never returns."""
        await self.store_profile(user_id, TOMBSTONE_VERSION, "null")

    async def read_api_key(self, key_hash: bytes) -> Any:
        try:
            return await self.redis.get(_api_key_key(key_hash))
        except Exception as exc:
            log.warning("auth_cache_unavailable", error=str(exc))
            return None

    async def fill_api_key(self, key_hash: bytes, value: bytes) -> None:
        """Cache a live key's owner (briefly, if not already cached), or mark it revoked (for a
        day, before the revoking transaction commits). Unknown keys are never cached."""
        try:
            if value == REVOKED:
                await self.redis.set(_api_key_key(key_hash), REVOKED, ex=REVOKED_TTL)
            else:
                await self.redis.set(_api_key_key(key_hash), value, ex=SESSION_TTL, nx=True)
        except Exception as exc:
            log.warning("auth_cache_unavailable", error=str(exc))


def _parse_profile(raw: bytes) -> dict[str, Any] | None:
    _, _, body = raw.partition(b"|")
    data: dict[str, Any] | None = json.loads(body)
    return data


class Authenticator:
    """Resolves the Authorization header of a request to a Principal."""

    def __init__(
        self,
        codec: AccessTokenCodec,
        cache: AuthCache,
        session_factory: async_sessionmaker[AsyncSession],
        limits: RateLimits,
    ) -> None:
        self.codec = codec
        self.cache = cache
        self.session_factory = session_factory
        self.limits = limits
        self._touched: dict[uuid.UUID, float] = {}
        self._unwritten: dict[uuid.UUID, datetime] = {}

    async def authenticate(self, authorization: str, ip: str) -> Principal:
        """The caller, with one hit counted against their per-user rate limit. A failure counts
        against `ip`'s failure limit: 401, or 429 once over it."""
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            await self.refuse(ip, "Use `Authorization: Bearer <token>`.")
        if credential.startswith(API_KEY_PREFIX):
            principal = await self.authenticate_api_key(credential, ip)
            await self.limits.enforce("user", self.limits.user, str(principal.id))
            return principal
        try:
            claims = self.codec.decode(credential)
        except InvalidToken:
            await self.refuse(ip, "The access token is invalid or expired.")
        hit = self.limits.user_hit(str(claims.user_id))
        session_state, profile, count = await self.cache.read(
            claims.session_id, claims.user_id, hit
        )
        if session_state is None:
            valid = await self._load_session(claims.session_id, claims.user_id)
            await self.cache.fill_session(claims.session_id, valid)
        else:
            valid = session_state == VALID
        if not valid:
            await self.refuse(ip, "The session has been signed out.")
        data = await self._profile(claims.user_id, profile)
        await self.limits.settle(hit, count)
        await self._touch(claims.session_id)
        return Principal(
            id=claims.user_id,
            email=data["email"],
            name=data["name"],
            timezone=data["timezone"],
            created_at=datetime.fromisoformat(data["created_at"]),
            is_admin=data["is_admin"],
            session_id=claims.session_id,
        )

    async def authenticate_api_key(self, key: str, ip: str) -> Principal:
        key_hash = hash_secret(key)
        cached = await self.cache.read_api_key(key_hash)
        if cached == REVOKED:
            await self.refuse(ip, "The API key is invalid or revoked.")
        if cached is None:
            # Counted before PostgreSQL is asked, in one atomic hit, as if it failed: however
            # many keys an IP sends at once, at most the failure limit's worth are looked up.
            await self.limits.count_auth_failure(ip)
            async with self.session_factory() as session:
                row = await repository.api_key_owner(session, key_hash)
            if row is None:
                raise Unauthorized("The API key is invalid or revoked.")
            cached = _api_key_value(*row)
            await self.cache.fill_api_key(key_hash, cached)
        key_id, uid, scopes = _parse_api_key_value(cached)
        data = await self._profile(uid, await self.cache.read_profile(uid))
        return Principal(
            id=uid,
            email=data["email"],
            name=data["name"],
            timezone=data["timezone"],
            created_at=datetime.fromisoformat(data["created_at"]),
            is_admin=data["is_admin"],
            api_key_id=key_id,
            scopes=scopes,
        )

    async def refuse(self, ip: str, detail: str, **kw: Any) -> NoReturn:
        """401 for a failed credential, counted against `ip`: 429 once it is over the limit."""
        await self.limits.count_auth_failure(ip)
        raise Unauthorized(detail, **kw)

    async def _profile(self, user_id: uuid.UUID, raw: bytes | None) -> dict[str, Any]:
        data = _parse_profile(raw) if raw is not None else None
        if raw is None:
            async with self.session_factory() as session:
                user = await repository.get_user(session, user_id)
            if user is None:
                await self.cache.forget_user(user_id)
                raise Unauthorized("The account no longer exists.")
            payload = profile_payload(user)
            await self.cache.store_profile(user_id, user.version, payload)
            data = json.loads(payload)
        if data is None:
            raise Unauthorized("The account no longer exists.")
        return data

    async def _load_session(self, session_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        async with self.session_factory() as session:
            return await repository.session_is_active(session, session_id, user_id)

    async def _touch(self, session_id: uuid.UUID) -> None:
        """Note the session's use; `flush_touches` writes it, at most once a minute each."""
        now = time.monotonic()
        if now - self._touched.get(session_id, 0.0) < TOUCH_INTERVAL:
            return
        self._touched[session_id] = now
        if len(self._touched) > 100_000:
            self._touched.clear()
        self._unwritten[session_id] = datetime.now(UTC)

    async def flush_touches(self) -> None:
        """Write the noted last-use times in one statement (a batch, not one per request)."""
        if not self._unwritten:
            return
        batch, self._unwritten = self._unwritten, {}
        try:
            async with self.session_factory() as session, session.begin():
                await repository.touch_sessions(session, batch)
        except Exception as exc:  # last_used_at is informational: log, never fail a request
            log.warning("touch_flush_failed", error=str(exc), sessions=len(batch))

    async def run_touch_writer(self, interval: float = TOUCH_FLUSH_SECONDS) -> None:
        """Flush noted session uses every `interval` seconds until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(interval)
                await self.flush_touches()
        finally:
            await self.flush_touches()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _signed_in(request: Request, authorization: str) -> Principal:
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.authenticate(authorization, client_ip(request))


async def optional_user(request: Request) -> Principal | None:
    """The caller if credentials are sent (any scope: these routes are public reads);
    rate-limited per user, or per IP when anonymous."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        limits: RateLimits = request.app.state.rate_limits
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


async def api_key_user(request: Request) -> Principal:
    """The owner of the API key sent as `Authorization: Bearer <key>`, or as the username of
    HTTP Basic credentials (what ActivityWatch clients send from ~/.netrc or from credentials
    written in the server address), holding the `usage` scope; rate-limited per user."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        raise Unauthorized(
            "Send an API key: `Authorization: Bearer <key>`, or HTTP Basic with the key as "
            "the username.",
            headers={"WWW-Authenticate": 'Basic realm="rhythm"'},
        )
    authenticator: Authenticator = request.app.state.authenticator
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
    if not key.startswith(API_KEY_PREFIX):
        await authenticator.refuse(ip, "These routes take an API key.")
    principal = await authenticator.authenticate_api_key(key, ip)
    await authenticator.limits.enforce("user", authenticator.limits.user, str(principal.id))
    principal.require(Scope.USAGE)
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
    principal = await api_key_user(request)
    for need in security_scopes.scopes:
        principal.require(need)
    return principal


async def auth_rate_limit(request: Request) -> None:
    """The stricter per-IP limit of the unauthenticated auth routes."""
    limits: RateLimits = request.app.state.rate_limits
    await limits.enforce("auth", limits.auth, client_ip(request))


OptionalUser = Annotated[Principal | None, Depends(optional_user)]
# Each route declares what its caller needs with one of these; tests/identity/test_scopes.py
# walks every route to hold them to it.
UsageUser = Annotated[Principal, Security(_scoped_user, scopes=[Scope.USAGE])]
ReadUser = Annotated[Principal, Security(_scoped_user, scopes=[Scope.READ])]
WriteUser = Annotated[Principal, Security(_scoped_user, scopes=[Scope.WRITE])]
SessionUser = Annotated[Principal, Security(_scoped_user, scopes=[SESSION])]
ApiKeyUser = Annotated[Principal, Security(_scoped_api_key_user, scopes=[Scope.USAGE])]
AuthRateLimit = Depends(auth_rate_limit)


async def password_rate_limit(request: Request, principal: SessionUser) -> None:
    """The auth routes' limit, per IP and per account, for routes that check a password."""
    limits: RateLimits = request.app.state.rate_limits
    await limits.enforce("auth", limits.auth, client_ip(request))
    await limits.enforce("auth-user", limits.auth, str(principal.id))


PasswordRateLimit = Depends(password_rate_limit)
