"""The Redis side of authentication, rebuildable from PostgreSQL: sessions' validity, API keys
and the cached profile (`version|json`, only ever replaced by a newer version, so racing
writers converge on the newest row). A revocation is written *before* its transaction commits,
so no racing fill can resurrect a revoked session."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from redis.asyncio import Redis

from rhythm.identity.principal import DEFAULT_KEY_SCOPES
from rhythm.platform.ratelimit import PendingHit, RateLimits

VALID, REVOKED = b"1", b"0"  # a session's cached validity
log = structlog.get_logger("rhythm.auth")
SESSION_TTL = 300


REVOKED_TTL = 24 * 3600


PROFILE_TTL = 3600


TOMBSTONE_VERSION = 2**53


_SET_IF_NEWER = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+)|'))
  if v and v >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
"""


def _session_key(session_id: uuid.UUID) -> str:
    return f"auth:s:{session_id}"


PROFILE_KEY_PREFIX = "auth:u:"


def _profile_key(user_id: uuid.UUID) -> str:
    return f"{PROFILE_KEY_PREFIX}{user_id}"


def _api_key_key(key_hash: bytes) -> str:
    return f"auth:k:{key_hash.hex()}"


def api_key_value(key_id: uuid.UUID, user_id: uuid.UUID, scopes: Sequence[str]) -> bytes:
    return f"{key_id}:{user_id}:{','.join(scopes)}".encode()


def parse_api_key_value(value: bytes) -> tuple[uuid.UUID, uuid.UUID, frozenset[str]]:
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


def parse_profile(raw: bytes) -> dict[str, Any] | None:
    _, _, body = raw.partition(b"|")
    data: dict[str, Any] | None = json.loads(body)
    return data
