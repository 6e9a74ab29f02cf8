"""Who each user blocks, in Redis, for reads that answer without PostgreSQL (a user's streak,
read for every profile shown): social's one reader and writer of these keys, for Python and, as
a Lua fragment other contexts' scripts include (through social's service), for Lua.

Everything here is rebuilt from PostgreSQL (the blocks table) whenever it is missing.

Keys, for user U:
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

from redis.asyncio import Redis

TTL = 86_400
SENTINEL = "~"

# Included in other contexts' scripts: whether a block stands between users a and b, either
# way: 1 (blocked), 0 (not), or -1 (unknown: a set is not cached; ask social's service).
BLOCKS_LUA = """
local function block_state(a, b)
  local ka, kb = 'social:blocking:' .. a, 'social:blocking:' .. b
  if redis.call('EXISTS', ka) == 0 or redis.call('EXISTS', kb) == 0 then return -1 end
  if redis.call('SISMEMBER', ka, b) == 1 or redis.call('SISMEMBER', kb, a) == 1 then return 1 end
  return 0
end
"""
BLOCKED, NOT_BLOCKED, UNKNOWN = 1, 0, -1


def blocking_key(user_id: uuid.UUID | str) -> str:
    return f"social:blocking:{user_id}"


def version_key(user_id: uuid.UUID | str) -> str:
    return f"social:bv:{user_id}"


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
        self._store = redis.register_script(_STORE)
        self._invalidate = redis.register_script(_INVALIDATE)

    async def versions(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        """Each user's blocks version, to read before PostgreSQL (see `store`)."""
        values = await self.redis.mget([version_key(u) for u in user_ids])
        return {
            u: (v.decode() if isinstance(v, bytes) else str(v or "0"))
            for u, v in zip(user_ids, values, strict=True)
        }

    async def store(
        self, versions: Mapping[uuid.UUID, str], blocking: Mapping[uuid.UUID, Sequence[uuid.UUID]]
    ) -> None:
        """Store whom each user blocks, as read from PostgreSQL after `versions` was."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id, blocked in blocking.items():
                await self._store(
                    keys=[blocking_key(user_id), version_key(user_id)],
                    args=[versions[user_id], TTL, *(str(b) for b in blocked)],
                    client=pipe,
                )
            await pipe.execute()

    async def invalidate(self, user_id: uuid.UUID) -> None:
        await self._invalidate(keys=[blocking_key(user_id), version_key(user_id)])
