"""Precomputed followings feeds in Redis (fan-out on write, and on read for popular accounts).

Everything here can be rebuilt from PostgreSQL; the service falls back to PostgreSQL whenever
the cache cannot prove it is current.

Keys, for viewer V, week W, owner O:
- `sleep:feed:{V}:{W}`  ZSET of V's followees' nights in W, except popular followees'. All scores
  are 0 and members are `{86400 - duration:05d}:{record id}:{owner id}`, so lexicographic order
  is the feed's order (longest first, ties by id) and a member is a cursor position.
- `sleep:meta:{V}:{W}`  `{graph version}|{pv}|{json list of V's popular followees}`: the feed
  exists and was built at that graph version.
- `sleep:gv:{V}`        V's graph version, bumped by every follow and unfollow of V.
- `sleep:pop:{O}:{W}`   ZSET of a popular owner's nights in W (fan-out on read), with the
  sentinel member `~` so that an empty set still exists.
- `sleep:item:{S}:{R}`  the JSON of record R in shape S (schemas.RECORD_SHAPE). An edit of a
  completed night is a removal and an arrival: their fan-out jobs delete it.
- `sleep:class:{O}`     `popular` or `ordinary`, as the last fan-out job saw O. When it flips,
  the job bumps every follower's graph version once, so feeds built under the old class (with
  O's nights in the feed, or in O's popular set) are rebuilt.
- `sleep:pending:{W}`   `{owner}:{job id}` of changes whose fan-out job has not run yet;
  `sleep:pv:{W}` counts them. A viewer following a pending owner is answered from PostgreSQL,
  and a feed is only stored if no change arrived while it was being read.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from rhythm.identity import service as identity_service
from rhythm.sleep.schemas import FEED_ITEM_USER, RECORD_SHAPE

MAX_NIGHT = 86_400
FEED_TTL = 2 * 86_400
ITEM_TTL = 9 * 86_400
# Longer than any feed lives, and refreshed by every job: an expired class only costs one
# rebuild of the owner's followers' feeds, since a missing class counts as a flip.
CLASS_TTL = FEED_TTL + 86_400


def member(duration: int, record_id: uuid.UUID, owner_id: uuid.UUID) -> str:
    return f"{MAX_NIGHT - duration:05d}:{record_id}:{owner_id}"


def parse_member(value: str) -> tuple[uuid.UUID, uuid.UUID]:
    """(record id, owner id) of a member."""
    _, record_id, owner_id = value.split(":")
    return uuid.UUID(record_id), uuid.UUID(owner_id)


def feed_key(viewer: uuid.UUID, week: str) -> str:
    return f"sleep:feed:{viewer}:{week}"


def meta_key(viewer: uuid.UUID, week: str) -> str:
    return f"sleep:meta:{viewer}:{week}"


def gv_key(viewer: uuid.UUID) -> str:
    return f"sleep:gv:{viewer}"


def popular_key(owner: uuid.UUID | str, week: str) -> str:
    return f"sleep:pop:{owner}:{week}"


ITEM_PREFIX = f"sleep:item:{RECORD_SHAPE}:"


def item_key(record_id: uuid.UUID | str) -> str:
    return f"{ITEM_PREFIX}{record_id}"


def pending_key(week: str) -> str:
    return f"sleep:pending:{week}"


def pv_key(week: str) -> str:
    return f"sleep:pv:{week}"


# One call per feed page: validity, the page of the viewer's feed merged with the pages of the
# popular followees, the items, and the owners' cached profiles (read with identity's fragment).
# ARGV[3] members are returned (the page and one more, for the cursor); the first ARGV[4] are the
# page; ARGV[5] is the items' key prefix (with the record shape's version) and ARGV[6..8] the
# pieces joining an item with its owner (sleep.schemas.FEED_ITEM_USER). Status 0: no valid
# feed; 2: popular sets missing; 1: served, with items and profiles as stored; 3: served, and
# every item and profile was cached, so the page's JSON array body is assembled here (an owner
# whose profile is a tombstone is left out, as deleted).
_READ = (
    identity_service.profile_lua()
    + """
local pending = redis.call('ZRANGE', KEYS[1], 0, -1)
local pv = redis.call('GET', KEYS[5]) or '0'
local meta = redis.call('GET', KEYS[2])
local gv = redis.call('GET', KEYS[3]) or '0'
if not meta then return {0, pending, pv, gv} end
local a = string.find(meta, '|', 1, true)
local b = string.find(meta, '|', a + 1, true)
if string.sub(meta, 1, a - 1) ~= gv then return {0, pending, pv, gv} end
local n = tonumber(ARGV[3])
local members = redis.call('ZRANGE', KEYS[4], ARGV[2], '+', 'BYLEX', 'LIMIT', 0, n + 1)
if members[#members] == '~' then members[#members] = nil end
local popular = string.sub(meta, b + 1)
if popular ~= '[]' then
  local missing = {}
  for _, owner in ipairs(cjson.decode(popular)) do
    local key = 'sleep:pop:' .. owner .. ':' .. ARGV[1]
    local more = redis.call('ZRANGE', key, ARGV[2], '+', 'BYLEX', 'LIMIT', 0, n + 1)
    if #more == 0 and redis.call('EXISTS', key) == 0 then
      table.insert(missing, owner)
    else
      for _, m in ipairs(more) do
        if m ~= '~' then table.insert(members, m) end
      end
    end
  end
  if #missing > 0 then return {2, pending, pv, gv, missing} end
  table.sort(members)
end
local page = {}
for i = 1, math.min(n, #members) do page[i] = members[i] end
local limit = math.min(tonumber(ARGV[4]), #page)
if limit == 0 then return {3, pending, pv, gv, page, ''} end
local items = {}
local owners = {}
local ids = {}
for i = 1, limit do
  local m = page[i]
  local record = string.sub(m, 7, 42)
  ids[i] = string.sub(m, 44)
  items[i] = ARGV[5] .. record
  owners[i] = profile_key(ids[i])
end
local values = redis.call('MGET', unpack(items))
local profiles = redis.call('MGET', unpack(owners))
local parts = {}
for i = 1, limit do
  if not values[i] or not profiles[i] then return {1, pending, pv, gv, page, values, profiles} end
  local profile = profile_fields(profiles[i])
  if profile then
    parts[#parts + 1] = string.sub(values[i], 1, -2) .. ARGV[6] .. ids[i]
      .. ARGV[7] .. cjson.encode(profile.name) .. ARGV[8]
  end
end
return {3, pending, pv, gv, page, table.concat(parts, ',')}
"""
)

# Store a rebuilt feed only if no change was queued since the reader looked (same pv).
_STORE_FEED = """
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
for i = 4, #ARGV do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
redis.call('ZADD', KEYS[1], 0, '~')
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
"""

# Store items only if no change was queued for the week since the reader looked (same pv): an
# item read before an edit's commit must not outlive the edit's fan-out, which deletes it.
_STORE_ITEMS = """
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
for i = 3, #ARGV, 2 do redis.call('SET', ARGV[i], ARGV[i + 1], 'EX', ARGV[2]) end
return 1
"""

_STORE_POPULAR = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
redis.call('ZADD', KEYS[1], 0, '~')
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# Apply one change to the feeds of the given viewers that have a feed for the week.
_FAN_OUT = """
local added = ARGV[1] == 'add'
local applied = 0
for i = 3, #ARGV do
  local viewer = ARGV[i]
  if redis.call('EXISTS', 'sleep:meta:' .. viewer .. ':' .. KEYS[1]) == 1 then
    local key = 'sleep:feed:' .. viewer .. ':' .. KEYS[1]
    if added then redis.call('ZADD', key, 0, ARGV[2]) else redis.call('ZREM', key, ARGV[2]) end
    applied = applied + 1
  end
end
return applied
"""

_APPLY_POPULAR = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == 'add' then redis.call('ZADD', KEYS[1], 0, ARGV[2])
else redis.call('ZREM', KEYS[1], ARGV[2]) end
return 1
"""


@dataclass
class CachedPage:
    status: int
    pending: list[str]
    pv: str
    graph_version: str
    members: list[str]  # the page and, when there is more, one member beyond it
    items: list[bytes | None]  # of the page's members
    profiles: list[bytes | None]  # of the page's members' owners, for identity_service
    missing_popular: list[str]
    data: str | None = None  # status 3: the page's JSON array body, assembled in Redis

    def pending_owners(self) -> set[uuid.UUID]:
        return {uuid.UUID(p.split(":")[0]) for p in self.pending}


class FeedCache:
    def __init__(self, redis: Redis, fanout_threshold: int) -> None:
        self.redis = redis
        self.fanout_threshold = fanout_threshold
        self._read = redis.register_script(_READ)
        self._store_feed = redis.register_script(_STORE_FEED)
        self._store_popular = redis.register_script(_STORE_POPULAR)
        self._store_items = redis.register_script(_STORE_ITEMS)
        self._fan_out = redis.register_script(_FAN_OUT)
        self._apply_popular = redis.register_script(_APPLY_POPULAR)

    async def read(self, viewer: uuid.UUID, week: str, after: str | None, limit: int) -> CachedPage:
        result = await self._read(
            keys=[
                pending_key(week),
                meta_key(viewer, week),
                gv_key(viewer),
                feed_key(viewer, week),
                pv_key(week),
            ],
            args=[
                week,
                "(" + after if after else "-",
                limit + 1,
                limit,
                ITEM_PREFIX,
                *FEED_ITEM_USER,
            ],
        )
        status = int(result[0])
        pending = [_text(p) for p in result[1]]
        pv, gv = _text(result[2]), _text(result[3])
        if status == 3:
            members = [_text(m) for m in result[4]]
            return CachedPage(1, pending, pv, gv, members, [], [], [], _text(result[5]))
        if status == 1:
            members = [_text(m) for m in result[4]]
            return CachedPage(1, pending, pv, gv, members, list(result[5]), list(result[6]), [])
        missing = [_text(m) for m in result[4]] if status == 2 else []
        return CachedPage(status, pending, pv, gv, [], [], [], missing)

    async def bump_graph_version(self, viewer: uuid.UUID) -> None:
        await self.redis.incr(gv_key(viewer))

    async def store_feed(
        self,
        viewer: uuid.UUID,
        week: str,
        *,
        graph_version: str,
        pv: str,
        popular: Sequence[uuid.UUID],
        members: Sequence[str],
    ) -> bool:
        meta = f"{graph_version}|{pv}|{json.dumps([str(p) for p in popular])}"
        stored = await self._store_feed(
            keys=[feed_key(viewer, week), meta_key(viewer, week), pv_key(week)],
            args=[pv, meta, FEED_TTL, *members],
        )
        return bool(stored)

    async def store_popular(
        self, owner: uuid.UUID, week: str, pv: str, members: Sequence[str]
    ) -> bool:
        stored = await self._store_popular(
            keys=[popular_key(owner, week), pv_key(week)], args=[pv, FEED_TTL, *members]
        )
        return bool(stored)

    async def store_items(self, week: str, pv: str, items: dict[uuid.UUID, str]) -> bool:
        """Cache the JSON of records of `week`'s feeds, read when the week's pv was `pv`."""
        if not items:
            return True
        pairs = [part for record_id, text in items.items() for part in (item_key(record_id), text)]
        stored = await self._store_items(keys=[pv_key(week)], args=[pv, ITEM_TTL, *pairs])
        return bool(stored)

    async def forget_item(self, record_id: uuid.UUID) -> None:
        await self.redis.delete(item_key(record_id))

    async def mark_pending(self, week: str, owner: uuid.UUID, job_id: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(pending_key(week), {f"{owner}:{job_id}": job_id})
            pipe.incr(pv_key(week))
            await pipe.execute()

    async def clear_pending(self, week: str, markers: Sequence[str]) -> None:
        if markers:
            await self.redis.zrem(pending_key(week), *markers)

    async def fan_out(
        self, week: str, op: str, value: str, viewers: Sequence[uuid.UUID], chunk: int = 1000
    ) -> int:
        applied = 0
        for start in range(0, len(viewers), chunk):
            part = [str(v) for v in viewers[start : start + chunk]]
            applied += int(await self._fan_out(keys=[week], args=[op, value, *part]))
        return applied

    async def swap_class(self, owner: uuid.UUID, popular: bool) -> bool:
        """Record the owner's class; whether it differs from the one recorded before (a
        missing record counts as different: feeds may have been built under either)."""
        current = "popular" if popular else "ordinary"
        previous = await self.redis.set(f"sleep:class:{owner}", current, ex=CLASS_TTL, get=True)
        return previous is None or _text(previous) != current

    async def known_classes(self, owners: Sequence[uuid.UUID]) -> dict[uuid.UUID, bool]:
        """The recorded class of each owner that has one (True: popular)."""
        if not owners:
            return {}
        values = await self.redis.mget([f"sleep:class:{o}" for o in owners])
        return {o: _text(v) == "popular" for o, v in zip(owners, values, strict=True) if v}

    async def record_classes(self, classes: dict[uuid.UUID, bool]) -> None:
        """Record classes computed by a rebuild, unless a job recorded one meanwhile."""
        if not classes:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for owner, popular in classes.items():
                value = "popular" if popular else "ordinary"
                pipe.set(f"sleep:class:{owner}", value, ex=CLASS_TTL, nx=True)
            await pipe.execute()

    async def bump_graph_versions(self, viewers: Sequence[uuid.UUID], chunk: int = 1000) -> None:
        for start in range(0, len(viewers), chunk):
            async with self.redis.pipeline(transaction=False) as pipe:
                for viewer in viewers[start : start + chunk]:
                    pipe.incr(gv_key(viewer))
                await pipe.execute()

    async def erase_owner(
        self, owner: uuid.UUID, followers: Sequence[uuid.UUID], records: Sequence[uuid.UUID]
    ) -> int:
        """Delete what Redis holds of an erased owner: the items of its records, every key
        naming it (its popular sets, class, graph version, its own feeds), its markers in the
        pending sets, and its former followers' feeds and metas (they held its nights, or named
        it as a popular followee; their graph versions moved already). Scans the `sleep:` keys:
        rare work, for a job. The number of keys deleted."""
        name = str(owner)
        viewers = {str(f) for f in followers}
        doomed = [item_key(r) for r in records]
        deleted = 0
        async for raw in self.redis.scan_iter(match="sleep:*", count=1000):
            key = _text(raw)
            parts = [*key.split(":"), "", ""]
            if name in key or (parts[1] in {"feed", "meta"} and parts[2] in viewers):
                doomed.append(key)
            elif parts[1] == "pending":
                markers = [
                    _text(m)
                    for m in await self.redis.zrange(key, 0, -1)
                    if _text(m).startswith(name)
                ]
                if markers:
                    await self.redis.zrem(key, *markers)
            if len(doomed) >= 500:
                deleted += int(await self.redis.unlink(*doomed))
                doomed = []
        if doomed:
            deleted += int(await self.redis.unlink(*doomed))
        return deleted

    async def has_popular(self, owner: uuid.UUID, week: str) -> bool:
        return bool(await self.redis.exists(popular_key(owner, week)))

    async def apply_popular(self, owner: uuid.UUID, week: str, op: str, value: str) -> None:
        await self._apply_popular(keys=[popular_key(owner, week)], args=[op, value])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
