"""Users' cached profiles: identity's one reader and writer of them, for Python and for Lua.

A profile is cached under `auth:u:{<user id>}` (the user's hash tag) as `{version}|{json}`,
and only ever replaced by a newer version, so racing writers converge on the newest row. A
deleted user's profile is a tombstone (`null` at a version above every row's) until it
expires. Other contexts never read the key themselves: they take `PROFILE_LUA` (through
identity's service) into their scripts, and hand the raw values to identity's service
(`cached_cards`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import structlog

from rhythm.platform.redis import RedisClient, tag

log = structlog.get_logger("rhythm.auth")

KEY_PREFIX = "auth:u:"
PROFILE_TTL = 3600
TOMBSTONE_VERSION = 2**53

# Included at the top of other contexts' scripts: a user's profile key, and the fields of its
# cached value (nil for a tombstone).
PROFILE_LUA = f"""
local function profile_key(user_id) return '{KEY_PREFIX}{{' .. user_id .. '}}' end
local function profile_fields(raw)
  local fields = cjson.decode(string.sub(raw, string.find(raw, '|', 1, true) + 1))
  if type(fields) == 'table' then return fields end
  return nil
end
"""

_SET_IF_NEWER = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+)|'))
  if v and v >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
"""


def profile_key(user_id: uuid.UUID) -> str:
    return f"{KEY_PREFIX}{tag(user_id)}"


def parse_profile(raw: bytes) -> dict[str, Any] | None:
    """The fields of a cached profile; None for a deleted user's tombstone."""
    _, _, body = raw.partition(b"|")
    data: dict[str, Any] | None = json.loads(body)
    return data


def profile_payload(user: Any) -> str:
    return json.dumps(
        {
            "email": user.email,
            "name": user.name,
            "timezone": user.timezone,
            "created_at": user.created_at.isoformat(),
            "is_admin": user.is_admin,
            "visibility": user.visibility,
        },
        separators=(",", ":"),
    )


class ProfileCache:
    """Writes and reads of cached profiles. Every method tolerates Redis being down."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._set_if_newer = redis.register_script(_SET_IF_NEWER)

    async def read(self, user_id: uuid.UUID) -> Any:
        try:
            return await self.redis.get(profile_key(user_id))
        except Exception as exc:
            log.warning("auth_cache_unavailable", error=str(exc))
            return None

    async def store(self, user_id: uuid.UUID, version: int, payload: str) -> None:
        try:
            await self._set_if_newer(
                keys=[profile_key(user_id)], args=[version, payload, PROFILE_TTL]
            )
        except Exception as exc:
            log.warning("auth_cache_unavailable", error=str(exc))

    async def store_many(self, profiles: Sequence[tuple[uuid.UUID, int, str]]) -> None:
        """`store` for many users, in one round trip."""
        if not profiles:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for user_id, version, payload in profiles:
                    # EVAL, not the Script: a cluster's pipeline refuses EVALSHA.
                    pipe.eval(_SET_IF_NEWER, 1, profile_key(user_id), version, payload, PROFILE_TTL)
                await pipe.execute()
        except Exception as exc:
            log.warning("auth_cache_unavailable", error=str(exc))

    async def forget(self, user_id: uuid.UUID) -> None:
        """A tombstone outranks every version: a deleted user's cached profile never returns."""
        await self.store(user_id, TOMBSTONE_VERSION, "null")
