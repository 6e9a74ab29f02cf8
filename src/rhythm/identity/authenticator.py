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
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any, NoReturn

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rhythm.identity import repository
from rhythm.identity.cache import (
    REVOKED,
    VALID,
    AuthCache,
    api_key_value,
    parse_api_key_value,
)
from rhythm.identity.principal import PUBLIC, Principal
from rhythm.identity.profiles import parse_profile, profile_payload
from rhythm.identity.tokens import (
    AccessTokenCodec,
    InvalidToken,
    canonical_api_key,
    hash_secret,
    is_api_key,
)
from rhythm.platform.errors import Unauthorized
from rhythm.platform.ratelimit import PendingHit, PendingPace, RateLimits

log = structlog.get_logger("rhythm.auth")

TOUCH_INTERVAL = 60.0
TOUCH_FLUSH_SECONDS = 5.0


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
        self._unwritten_keys: dict[uuid.UUID, datetime] = {}

    async def authenticate(self, authorization: str, ip: str, heartbeat: bool = False) -> Principal:
        """The caller, with one hit counted against their per-user rate limit (or, for a
        `heartbeat`, their heartbeat pace: it may wait for its turn). A failure counts against
        `ip`'s failure limit: 401, or 429 once over it."""
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            await self.refuse(ip, "Use `Authorization: Bearer <token>`.")
        if is_api_key(credential):
            principal = await self.authenticate_api_key(credential, ip)
            await self.count(principal, heartbeat)
            return principal
        try:
            claims = self.codec.decode(credential)
        except InvalidToken:
            await self.refuse(ip, "The access token is invalid or expired.")
        uid = str(claims.user_id)
        hit: PendingHit | PendingPace = (
            self.limits.heartbeats.pending(uid) if heartbeat else self.limits.user_hit(uid)
        )
        session_state, profile, count = await self.cache.read(
            claims.session_id, claims.user_id, hit
        )
        if session_state is None:
            valid = await self._load_session(claims.session_id, claims.user_id)
            await self.cache.fill_session(claims.user_id, claims.session_id, valid)
        else:
            valid = session_state == VALID
        if not valid:
            await self.refuse(ip, "The session has been signed out.")
        data = await self._profile(claims.user_id, profile)
        if isinstance(hit, PendingPace):
            await self.limits.heartbeats.settle(hit, count)
        else:
            await self.limits.settle(hit, count)
        self._touch(claims.session_id)
        return Principal(
            id=claims.user_id,
            email=data["email"],
            name=data["name"],
            timezone=data["timezone"],
            created_at=datetime.fromisoformat(data["created_at"]),
            is_admin=data["is_admin"],
            # Profiles cached before visibility existed are of public accounts (the default).
            visibility=data.get("visibility", PUBLIC),
            session_id=claims.session_id,
        )

    async def count(self, principal: Principal, heartbeat: bool = False) -> None:
        """Count a request of `principal` against their per-user limit, or, for a heartbeat
        route, admit one heartbeat at their pace (it may wait for its turn)."""
        if heartbeat:
            await self.limits.heartbeats.admit(str(principal.id))
        else:
            await self.limits.enforce_user(str(principal.id))

    async def authenticate_api_key(self, key: str, ip: str) -> Principal:
        key_hash = hash_secret(canonical_api_key(key))
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
            cached = api_key_value(*row)
            await self.cache.fill_api_key(key_hash, cached)
        key_id, uid, scopes = parse_api_key_value(cached)
        data = await self._profile(uid, await self.cache.profiles.read(uid))
        self._touch(key_id, api_key=True)
        return Principal(
            id=uid,
            email=data["email"],
            name=data["name"],
            timezone=data["timezone"],
            created_at=datetime.fromisoformat(data["created_at"]),
            is_admin=data["is_admin"],
            visibility=data.get("visibility", PUBLIC),
            api_key_id=key_id,
            scopes=scopes,
        )

    async def refuse(self, ip: str, detail: str, **kw: Any) -> NoReturn:
        """401 for a failed credential, counted against `ip`: 429 once it is over the limit."""
        await self.limits.count_auth_failure(ip)
        raise Unauthorized(detail, **kw)

    async def _profile(self, user_id: uuid.UUID, raw: bytes | None) -> dict[str, Any]:
        data = parse_profile(raw) if raw is not None else None
        if raw is None:
            async with self.session_factory() as session:
                user = await repository.get_user(session, user_id)
            if user is None:
                await self.cache.profiles.forget(user_id)
                raise Unauthorized("The account no longer exists.")
            payload = profile_payload(user)
            await self.cache.profiles.store(user_id, user.version, payload)
            data = json.loads(payload)
        if data is None:
            raise Unauthorized("The account no longer exists.")
        return data

    async def _load_session(self, session_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        async with self.session_factory() as session:
            return await repository.session_is_active(session, session_id, user_id)

    def _touch(self, row_id: uuid.UUID, api_key: bool = False) -> None:
        """Note the use of a device session (or an API key); `flush_touches` writes it, at most
        once a minute each."""
        now = time.monotonic()
        if now - self._touched.get(row_id, 0.0) < TOUCH_INTERVAL:
            return
        self._touched[row_id] = now
        if len(self._touched) > 100_000:
            self._touched.clear()
        (self._unwritten_keys if api_key else self._unwritten)[row_id] = datetime.now(UTC)

    async def flush_touches(self) -> None:
        """Write the noted last-use times in one statement (a batch, not one per request)."""
        if not self._unwritten and not self._unwritten_keys:
            return
        batch, self._unwritten = self._unwritten, {}
        keys, self._unwritten_keys = self._unwritten_keys, {}
        # One transaction per table: one that locked rows of both could deadlock with a
        # statement locking the two tables in the other order (a TRUNCATE of both, say).
        try:
            if batch:
                async with self.session_factory() as session, session.begin():
                    await repository.touch_sessions(session, batch)
            if keys:
                async with self.session_factory() as session, session.begin():
                    await repository.touch_api_keys(session, keys)
        except Exception as exc:  # last_used_at is informational: log, never fail a request
            log.warning("touch_flush_failed", error=str(exc), sessions=len(batch), keys=len(keys))

    async def run_touch_writer(self, interval: float = TOUCH_FLUSH_SECONDS) -> None:
        """Flush noted session uses every `interval` seconds until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(interval)
                await self.flush_touches()
        finally:
            await self.flush_touches()
