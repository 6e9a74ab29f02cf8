"""Precomputed followings feeds in Redis (fan-out on write, and on read for popular accounts).

Everything here can be rebuilt from PostgreSQL; the service falls back to PostgreSQL whenever
the cache cannot prove it is current.

Every key's hash tag `{...}` is the id its data belongs to, and every script touches the keys of
one tag only, so the cache runs unchanged on Redis Cluster. Keys, for viewer V, week W, owner O,
record R:
- `sleep:feed:{V}:W`  ZSET of V's followees' nights in W, except popular followees'. All scores
  are 0 and members are `{86400 - duration:05d}:{record id}:{owner id}`, so lexicographic order
  is the feed's order (longest first, ties by id) and a member is a cursor position.
- `sleep:meta:{V}:W`  `{graph version}|{json list of V's popular followees}`: the feed exists and
  was built at that graph version.
- `sleep:gv:{V}`      V's graph version, bumped by every follow and unfollow of V.
- `sleep:fv:{V}`      V's feed version, bumped by every fan-out job for V (whether or not V has a
  feed): a feed is only stored if it has not moved since the reader looked, and a page is only
  served if neither it nor the graph version moved while the page was read.
- `sleep:pop:{O}:W`   ZSET of a popular owner's nights in W (fan-out on read), with the sentinel
  member `~` so that an empty set still exists.
- `sleep:ov:{O}`      O's popular-set version, bumped by every job applying a change of O's to its
  sets: a set is only stored if it has not moved since the reader looked.
- `sleep:item:S:{R}`  the JSON of record R in shape S (schemas.RECORD_SHAPE), or the tombstone
  `~{job id}` that a fan-out job leaves in its place (an edit of a completed night is a removal
  and an arrival): JSON read from PostgreSQL is only stored over the value the reader found, so
  none read before a change outlives the change's job.
- `sleep:class:{O}`   `popular` or `ordinary`, as the last fan-out job saw O. When it flips, the
  job bumps every follower's graph version once, so feeds built under the old class (with O's
  nights in the feed, or in O's popular set) are rebuilt.
- `sleep:pending:{W}` `{owner}:{job id}` of changes whose fan-out job has not run yet. A viewer
  following a pending owner is answered from PostgreSQL. It is the week's one hot key: every
  feed page reads it, in the same pipeline as the viewer's feed.

A page is read in at most three pipelined round trips, each call in one slot: the week's pending
changes with the viewer's feed (`read`), the popular followees' sets (`read_popular`, when there
are any), then the page's items, its owners' profiles and the viewer's versions again
(`read_page`). Why that is exact: a change committed before the request began was marked
pending before its commit. If the marker is gone when the pending set is read, its job had
applied it, to the popular set read later, or to the viewer's feed, bumping the viewer's feed
version: if that happened after the feed was read, `read_page` sees the version move and the
page is answered from PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rhythm.identity import service as identity_service
from rhythm.platform.redis import RedisClient as Redis
from rhythm.sleep.schemas import RECORD_SHAPE

MAX_NIGHT = 86_400
FEED_TTL = 2 * 86_400
ITEM_TTL = 9 * 86_400
# Longer than any feed lives, and refreshed by every job: an expired class only costs one
# rebuild of the owner's followers' feeds, since a missing class counts as a flip.
CLASS_TTL = FEED_TTL + 86_400
# Feed and popular-set versions outlive every feed and set stored under them.
VERSION_TTL = FEED_TTL + 86_400
TOMBSTONE = "~"


def member(duration: int, record_id: uuid.UUID, owner_id: uuid.UUID) -> str:
    return f"{MAX_NIGHT - duration:05d}:{record_id}:{owner_id}"


def parse_member(value: str) -> tuple[uuid.UUID, uuid.UUID]:
    """(record id, owner id) of a member."""
    _, record_id, owner_id = value.split(":")
    return uuid.UUID(record_id), uuid.UUID(owner_id)


def feed_key(viewer: uuid.UUID | str, week: str) -> str:
    return f"sleep:feed:{{{viewer}}}:{week}"


def meta_key(viewer: uuid.UUID | str, week: str) -> str:
    return f"sleep:meta:{{{viewer}}}:{week}"


def gv_key(viewer: uuid.UUID | str) -> str:
    return f"sleep:gv:{{{viewer}}}"


def fv_key(viewer: uuid.UUID | str) -> str:
    return f"sleep:fv:{{{viewer}}}"


def popular_key(owner: uuid.UUID | str, week: str) -> str:
    return f"sleep:pop:{{{owner}}}:{week}"


def ov_key(owner: uuid.UUID | str) -> str:
    return f"sleep:ov:{{{owner}}}"


def class_key(owner: uuid.UUID | str) -> str:
    return f"sleep:class:{{{owner}}}"


ITEM_PREFIX = f"sleep:item:{RECORD_SHAPE}:"


def item_key(record_id: uuid.UUID | str) -> str:
    return f"{ITEM_PREFIX}{{{record_id}}}"


def pending_key(week: str) -> str:
    return f"sleep:pending:{{{week}}}"


# The viewer's feed page: KEYS = meta, gv, feed, fv of the viewer; ARGV = the cursor's bound and
# how many members to return. Status 0: no valid feed; 1: the members, and the popular followees.
_READ = """
local gv = redis.call('GET', KEYS[2]) or '0'
local fv = redis.call('GET', KEYS[4]) or '0'
local meta = redis.call('GET', KEYS[1])
if not meta then return {0, gv, fv} end
local a = string.find(meta, '|', 1, true)
if string.sub(meta, 1, a - 1) ~= gv then return {0, gv, fv} end
local members = redis.call('ZRANGE', KEYS[3], ARGV[1], '+', 'BYLEX', 'LIMIT', 0, ARGV[2])
if members[#members] == '~' then members[#members] = nil end
return {1, gv, fv, members, string.sub(meta, a + 1)}
"""

# A popular owner's set: KEYS = the set, the owner's set version; status 0: missing.
_READ_POPULAR = """
local ov = redis.call('GET', KEYS[2]) or '0'
local members = redis.call('ZRANGE', KEYS[1], ARGV[1], '+', 'BYLEX', 'LIMIT', 0, ARGV[2])
if #members == 0 and redis.call('EXISTS', KEYS[1]) == 0 then return {0, ov} end
if members[#members] == '~' then members[#members] = nil end
return {1, ov, members}
"""

# Store a rebuilt feed only if no fan-out reached the viewer since the reader looked (same fv).
_STORE_FEED = """
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
for i = 4, #ARGV do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
redis.call('ZADD', KEYS[1], 0, '~')
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
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

# Store an item read from PostgreSQL only over the value the reader found ('' for none): a
# job's tombstone written since means the JSON may be the night's before the change.
_STORE_ITEM = """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

# Apply one change to one viewer's feed for the week, if it has one; the viewer's feed version
# moves either way (a reader rebuilding the feed meanwhile must not store it).
_FAN_OUT = """
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == 'add' then redis.call('ZADD', KEYS[2], 0, ARGV[2])
else redis.call('ZREM', KEYS[2], ARGV[2]) end
return 1
"""

_APPLY_POPULAR = """
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == 'add' then redis.call('ZADD', KEYS[1], 0, ARGV[2])
else redis.call('ZREM', KEYS[1], ARGV[2]) end
return 1
"""


@dataclass
class ViewerFeed:
    """The first round trip of a page: the week's pending changes and the viewer's feed."""

    valid: bool  # a feed built at the viewer's current graph version
    pending: list[str]
    graph_version: str
    feed_version: str
    members: list[str]  # the page and, when there is more, one member beyond it
    popular: list[str]  # the viewer's popular followees, whose sets are read apart

    def pending_owners(self) -> set[uuid.UUID]:
        return {uuid.UUID(p.split(":")[0]) for p in self.pending}


@dataclass
class PageData:
    """The last round trip of a page: what it shows, and the viewer's versions once more."""

    items: list[bytes | None]  # of the page's members: JSON, a job's tombstone, or nothing
    profiles: list[bytes | None]  # of the page's members' owners, for identity_service
    graph_version: str
    feed_version: str


class FeedCache:
    """The feeds' reads and writes. A script is called on its own with EVALSHA (a registered
    Script), and inside a pipeline with EVAL: Redis Cluster's pipelines refuse EVALSHA."""

    def __init__(self, redis: Redis, fanout_threshold: int) -> None:
        self.redis = redis
        self.fanout_threshold = fanout_threshold
        self._store_feed = redis.register_script(_STORE_FEED)
        self._store_popular = redis.register_script(_STORE_POPULAR)
        self._apply_popular = redis.register_script(_APPLY_POPULAR)

    async def read(self, viewer: uuid.UUID, week: str, after: str | None, limit: int) -> ViewerFeed:
        """The week's pending changes and the viewer's feed from `after` on (limit + 1 members),
        in one pipeline of two calls, one per slot."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrange(pending_key(week), 0, -1)
            keys = [meta_key(viewer, week), gv_key(viewer), feed_key(viewer, week), fv_key(viewer)]
            pipe.eval(_READ, len(keys), *keys, _bound(after), limit + 1)
            pending, result = await pipe.execute()
        gv, fv = _text(result[1]), _text(result[2])
        markers = [_text(p) for p in pending]
        if int(result[0]) == 0:
            return ViewerFeed(False, markers, gv, fv, [], [])
        popular = json.loads(_text(result[4]))
        return ViewerFeed(True, markers, gv, fv, [_text(m) for m in result[3]], popular)

    async def read_popular(
        self, owners: Sequence[str], week: str, after: str | None, limit: int
    ) -> tuple[dict[str, list[str]], dict[str, str]]:
        """Each popular owner's set from `after` on (limit + 1 members), one call per owner in
        one pipeline; and the set version of each owner whose set is missing."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for owner in owners:
                keys = [popular_key(owner, week), ov_key(owner)]
                pipe.eval(_READ_POPULAR, len(keys), *keys, _bound(after), limit + 1)
            results = await pipe.execute()
        sets: dict[str, list[str]] = {}
        missing: dict[str, str] = {}
        for owner, result in zip(owners, results, strict=True):
            if int(result[0]) == 1:
                sets[owner] = [_text(m) for m in result[2]]
            else:
                missing[owner] = _text(result[1])
        return sets, missing

    async def read_page(self, viewer: uuid.UUID, members: Sequence[str]) -> PageData:
        """The page's items and its owners' cached profiles, and the viewer's graph and feed
        versions again (a page read while they moved is not served), in one pipeline."""
        parsed = [parse_member(m) for m in members]
        owners = list(dict.fromkeys(owner for _, owner in parsed))
        async with self.redis.pipeline(transaction=False) as pipe:
            for record_id, _ in parsed:
                pipe.get(item_key(record_id))
            for owner in owners:
                pipe.get(identity_service.profile_key(owner))
            pipe.get(gv_key(viewer))
            pipe.get(fv_key(viewer))
            values = await pipe.execute()
        items = values[: len(parsed)]
        by_owner = dict(zip(owners, values[len(parsed) : len(parsed) + len(owners)], strict=True))
        gv, fv = values[-2:]
        return PageData(
            items,
            [by_owner[owner] for _, owner in parsed],
            _text(gv or b"0"),
            _text(fv or b"0"),
        )

    async def bump_graph_version(self, viewer: uuid.UUID) -> None:
        await self.redis.incr(gv_key(viewer))

    async def store_feed(
        self,
        viewer: uuid.UUID,
        week: str,
        *,
        graph_version: str,
        feed_version: str,
        popular: Sequence[uuid.UUID],
        members: Sequence[str],
    ) -> bool:
        meta = f"{graph_version}|{json.dumps([str(p) for p in popular])}"
        stored = await self._store_feed(
            keys=[feed_key(viewer, week), meta_key(viewer, week), fv_key(viewer)],
            args=[feed_version, meta, FEED_TTL, *members],
        )
        return bool(stored)

    async def store_popular(
        self, owner: uuid.UUID, week: str, version: str, members: Sequence[str]
    ) -> bool:
        """Store a popular owner's set read from PostgreSQL, unless a job changed the owner's
        sets since the reader found the set version `version`."""
        stored = await self._store_popular(
            keys=[popular_key(owner, week), ov_key(owner)], args=[version, FEED_TTL, *members]
        )
        return bool(stored)

    async def store_items(self, items: dict[uuid.UUID, tuple[bytes | None, str]]) -> list[bool]:
        """Cache the JSON of records read from PostgreSQL, each only over the value the reader
        found in Redis before (None, or a job's tombstone): see `_STORE_ITEM`."""
        if not items:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for record_id, (found, text) in items.items():
                pipe.eval(_STORE_ITEM, 1, item_key(record_id), _text(found or b""), text, ITEM_TTL)
            return [bool(stored) for stored in await pipe.execute()]

    async def forget_item(self, record_id: uuid.UUID, job_id: int) -> None:
        """Replace a changed night's JSON by the job's tombstone (see `store_items`)."""
        await self.redis.set(item_key(record_id), f"{TOMBSTONE}{job_id}", ex=ITEM_TTL)

    async def mark_pending(self, week: str, owner: uuid.UUID, job_id: int) -> None:
        await self.redis.zadd(pending_key(week), {f"{owner}:{job_id}": job_id})

    async def clear_pending(self, week: str, markers: Sequence[str]) -> None:
        if markers:
            await self.redis.zrem(pending_key(week), *markers)

    async def fan_out(
        self, week: str, op: str, value: str, viewers: Sequence[uuid.UUID], chunk: int = 1000
    ) -> int:
        """Apply one change to the viewers' feeds for the week: one call per viewer (each in
        the viewer's slot), `chunk` to a pipeline. The number of feeds changed."""
        applied = 0
        for start in range(0, len(viewers), chunk):
            async with self.redis.pipeline(transaction=False) as pipe:
                for viewer in viewers[start : start + chunk]:
                    keys = [meta_key(viewer, week), feed_key(viewer, week), fv_key(viewer)]
                    pipe.eval(_FAN_OUT, len(keys), *keys, op, value, VERSION_TTL)
                applied += sum(int(n) for n in await pipe.execute())
        return applied

    async def swap_class(self, owner: uuid.UUID, popular: bool) -> bool:
        """Record the owner's class; whether it differs from the one recorded before (a
        missing record counts as different: feeds may have been built under either)."""
        current = "popular" if popular else "ordinary"
        previous = await self.redis.set(class_key(owner), current, ex=CLASS_TTL, get=True)
        return previous is None or _text(previous) != current

    async def known_classes(self, owners: Sequence[uuid.UUID]) -> dict[uuid.UUID, bool]:
        """The recorded class of each owner that has one (True: popular)."""
        if not owners:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for owner in owners:
                pipe.get(class_key(owner))
            values = await pipe.execute()
        return {o: _text(v) == "popular" for o, v in zip(owners, values, strict=True) if v}

    async def record_classes(self, classes: dict[uuid.UUID, bool]) -> None:
        """Record classes computed by a rebuild, unless a job recorded one meanwhile."""
        if not classes:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for owner, popular in classes.items():
                value = "popular" if popular else "ordinary"
                pipe.set(class_key(owner), value, ex=CLASS_TTL, nx=True)
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
        naming it (its popular sets, class, versions, its own feeds), its markers in the
        pending sets, and its former followers' feeds and metas (they held its nights, or named
        it as a popular followee; their graph versions moved already). Scans the `sleep:` keys
        (of every node of a cluster): rare work, for a job. The number of keys deleted."""
        name = str(owner)
        viewers = {str(f) for f in followers}
        doomed = [item_key(r) for r in records]
        deleted = 0
        async for raw in self.redis.scan_iter(match="sleep:*", count=1000):
            key = _text(raw)
            parts = [*key.split(":"), "", ""]
            if name in key or (parts[1] in {"feed", "meta"} and parts[2].strip("{}") in viewers):
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
                deleted += await self._unlink(doomed)
                doomed = []
        if doomed:
            deleted += await self._unlink(doomed)
        return deleted

    async def _unlink(self, keys: Sequence[str]) -> int:
        """UNLINK keys of many slots: one command per key, in one pipeline (a cluster
        pipeline's own `unlink` is a coroutine that splits many keys by slot)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.execute_command("UNLINK", key)
            return sum(int(n) for n in await pipe.execute())

    async def apply_popular(self, owner: uuid.UUID, week: str, op: str, value: str) -> None:
        await self._apply_popular(
            keys=[popular_key(owner, week), ov_key(owner)], args=[op, value, VERSION_TTL]
        )


def _bound(after: str | None) -> str:
    return "(" + after if after else "-"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
