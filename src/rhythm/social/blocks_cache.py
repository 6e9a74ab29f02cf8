"""Who each user blocks, in Redis, for reads that answer without PostgreSQL (a user's streak,
read for every profile shown): social's one reader and writer of these keys, for Python and, as
a Lua fragment other contexts' scripts include (through social's service), for Lua.

Everything here is rebuilt from PostgreSQL (the blocks table) whenever it is missing.

Keys, for user U (the hash tag is U's id, so each script touches one slot of a Redis Cluster):
- `social:blocking:{U}`  SET of the ids U blocks, with the sentinel member `~`, so that a user
  who blocks nobody has a set too (a missing set is unknown, not empty).
- `social:bv:{U}`        U's blocks version. Every block and unblock of U's bumps it and drops
  the set, before its transaction commits and again after; a set read from PostgreSQL is
  stored only if the version has not moved since before the read, so none read from a snapshot
  older than a change survives it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from rhythm.platform.redis import RedisClient as Redis

TTL = 86_400
SENTINEL = "~"

# Included in other contexts' scripts: what one user's cached set says of a block between that
# user (whose set is at `key`, passed in the script's KEYS) and `other`: 1 (blocks them), 0 (does
# not), or -1 (unknown: the set is not cached). Each side is read in its own user's slot;
# `block_state` combines the two answers.
BLOCKS_LUA = """
local function blocks(key, other)
  if redis.call('EXISTS', key) == 0 then return -1 end
  return redis.call('SISMEMBER', key, other)
end
"""
BLOCKED, NOT_BLOCKED, UNKNOWN = 1, 0, -1


def block_state(*sides: int) -> int:
    """Whether a block stands between two users, from both sides' `blocks` answers: BLOCKED if
    either blocks the other, else UNKNOWN if either side is not cached, else NOT_BLOCKED."""
    if BLOCKED in sides:
        return BLOCKED
    return UNKNOWN if UNKNOWN in sides else NOT_BLOCKED


def blocking_key(user_id: uuid.UUID | str) -> str:
    return f"social:blocking:{{{user_id}}}"


def version_key(user_id: uuid.UUID | str) -> str:
    return f"social:bv:{{{user_id}}}"


# Store a set read from PostgreSQL, unless the version moved since the reader looked.
_STORE = f"""
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[1], '{SENTINEL}')
for i = 3, #ARGV, 500 do
  redis.call('SADD', KEYS[1], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

_INVALIDATE = """
redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[1])
return 1
"""


class BlocksCache:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._invalidate = redis.register_script(_INVALIDATE)

    async def versions(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        """Each user's blocks version, to read before PostgreSQL (see `store`)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.get(version_key(user_id))
            values = await pipe.execute()
        return {
            u: (v.decode() if isinstance(v, bytes) else str(v or "0"))
            for u, v in zip(user_ids, values, strict=True)
        }

    async def store(
        self, versions: Mapping[uuid.UUID, str], blocking: Mapping[uuid.UUID, Sequence[uuid.UUID]]
    ) -> None:
        """Store whom each user blocks, as read from PostgreSQL after `versions` was: one call
        per user, in the user's slot, all in one pipeline (EVAL: a cluster's pipelines refuse
        EVALSHA)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id, blocked in blocking.items():
                keys = [blocking_key(user_id), version_key(user_id)]
                pipe.eval(_STORE, 2, *keys, versions[user_id], TTL, *(str(b) for b in blocked))
            await pipe.execute()

    async def invalidate(self, user_id: uuid.UUID) -> None:
        await self._invalidate(keys=[blocking_key(user_id), version_key(user_id)])
