"""The Redis side of authentication, rebuildable from PostgreSQL: sessions' validity, API keys
and the cached profile (profiles.py). A revocation is written *before* its transaction commits,
so no racing fill can resurrect a revoked session."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import structlog

from rhythm.identity.principal import DEFAULT_KEY_SCOPES
from rhythm.identity.profiles import ProfileCache, profile_key
from rhythm.platform.ratelimit import PACE_LUA, PendingHit, PendingPace, RateLimits
from rhythm.platform.redis import RedisClient, tag

VALID, REVOKED = b"1", b"0"  # a session's cached validity
log = structlog.get_logger("rhythm.auth")
SESSION_TTL = 300


REVOKED_TTL = 24 * 3600


# Each key's hash tag is whom it belongs to (platform/redis.py): a session's validity is its
# user's, read in one script with their profile (`auth:u:{user}`) and their rate-limit hit.
def _session_key(user_id: uuid.UUID, session_id: uuid.UUID) -> str:
    return f"auth:s:{tag(user_id)}:{session_id}"


def _api_key_key(key_hash: bytes) -> str:
    return f"auth:k:{tag(key_hash.hex())}"


def api_key_value(key_id: uuid.UUID, user_id: uuid.UUID, scopes: Sequence[str]) -> bytes:
    return f"{key_id}:{user_id}:{','.join(scopes)}".encode()


def parse_api_key_value(value: bytes) -> tuple[uuid.UUID, uuid.UUID, frozenset[str]]:
    key_id, user_id, *rest = value.decode().split(":")
    # Values cached before keys had scopes (for at most SESSION_TTL) get the default.
    scopes = rest[0].split(",") if rest and rest[0] else DEFAULT_KEY_SCOPES
    return uuid.UUID(key_id), uuid.UUID(user_id), frozenset(scopes)


class AuthCache:
    """The Redis side of authentication. Every method tolerates Redis being down."""

    def __init__(self, redis: RedisClient, limits: RateLimits) -> None:
        self.redis = redis
        self.profiles = ProfileCache(redis)
        # One command per authenticated request: read the session and profile, and count the
        # rate-limit hit with `limits`' own script, wrapped as a function of its KEYS and ARGV.
        self._read_and_count = redis.register_script(
            "local v = redis.call('MGET', KEYS[1], KEYS[2])\n"
            "local function limits_hit(KEYS, ARGV)\n" + limits.fixed_window_lua() + "\nend\n"
            "v[3] = limits_hit({KEYS[3]}, {ARGV[1], ARGV[2]})\n"
            "return v\n"
        )
        # The same for a heartbeat route, whose hit is the user's heartbeat pace instead.
        self._read_and_pace = redis.register_script(
            "local v = redis.call('MGET', KEYS[1], KEYS[2])\n"
            "local function pace(KEYS, ARGV)\n" + PACE_LUA + "\nend\n"
            "v[3] = pace({KEYS[3]}, ARGV)\n"
            "return v\n"
        )

    async def read(
        self, session_id: uuid.UUID, user_id: uuid.UUID, hit: PendingHit | PendingPace
    ) -> tuple[Any, Any, object]:
        """The session's validity, the cached profile and the rate-limit count (or the
        heartbeat pace's answer): one command."""
        keys = [_session_key(user_id, session_id), profile_key(user_id), hit.key]
        try:
            if isinstance(hit, PendingPace):
                values = await self._read_and_pace(keys=keys, args=list(hit.args))
            else:
                values = await self._read_and_count(keys=keys, args=[hit.item.get_expiry(), 1])
            return values[0], values[1], values[2]
        except Exception as exc:
            log.warning("auth_cache_unavailable", error=str(exc))
            return None, None, None

    async def fill_session(self, user_id: uuid.UUID, session_id: uuid.UUID, valid: bool) -> None:
        key = _session_key(user_id, session_id)
        try:
            if valid:
                await self.redis.set(key, VALID, ex=SESSION_TTL, nx=True)
            else:
                await self.redis.set(key, REVOKED, ex=REVOKED_TTL)
        except Exception as exc:
            log.warning("auth_cache_unavailable", error=str(exc))

    async def revoke_sessions(self, user_id: uuid.UUID, session_ids: list[uuid.UUID]) -> None:
        """Mark the user's sessions revoked. Call before the revoking transaction commits."""
        if not session_ids:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for sid in session_ids:
                    pipe.set(_session_key(user_id, sid), REVOKED, ex=REVOKED_TTL)
                await pipe.execute()
        except Exception as exc:
            log.warning("auth_cache_unavailable", error=str(exc))

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
