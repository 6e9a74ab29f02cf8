"""Each user's focus standing in Redis: streak anchor and recent daily totals.

Everything here is rebuilt from PostgreSQL (focus_streaks, focus_days) whenever it is missing.

Keys, for user U (the hash tag is U's id, as in identity's profile key and social's blocks
key, so one script reads a user's standing, profile and blocks in one slot of a Redis Cluster):
- `focus:st:{U}`    `version|since|threshold|last qualified|run|freezes|longest|qualified days`:
  the streak anchor (streaks.Anchor) at a version of focus_streaks; `since` (a date ordinal) is
  the first date `focus:days:{U}` is complete from.
- `focus:days:{U}`  ZSET of the user's daily totals from `since` on: score = the date's ordinal,
  member = `YYYY-MM-DD:microseconds`. A week's minutes are a ZRANGE BYSCORE over its dates.
- `focus:floor:{U}` the lowest version a writer may store. A session change raises it (and
  drops the two keys) before its transaction commits, then stores the new standing after the
  commit; a reader that filled the cache from an older snapshot can never overwrite it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from redis.commands.core import AsyncScript

from rhythm.focus.streaks import Anchor
from rhythm.identity import service as identity_service
from rhythm.platform.redis import RedisClient as Redis
from rhythm.social import service as social_service

TTL = 7 * 86_400
FLOOR_TTL = 3_600
# A standing keeps the daily totals from this many days before its write on; every read asks
# for dates after that (this week, or the days around today).
CACHED_DAYS = 35


def standing_key(user_id: uuid.UUID | str) -> str:
    return f"focus:st:{{{user_id}}}"


def days_key(user_id: uuid.UUID | str) -> str:
    return f"focus:days:{{{user_id}}}"


def floor_key(user_id: uuid.UUID | str) -> str:
    return f"focus:floor:{{{user_id}}}"


_INVALIDATE = """
local floor = tonumber(redis.call('GET', KEYS[3]) or '0')
if tonumber(ARGV[1]) > floor then redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2]) end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"""

# Store a standing unless the floor or the stored version is higher.
_STORE = """
local version = tonumber(ARGV[1])
if version < tonumber(redis.call('GET', KEYS[3]) or '0') then return 0 end
local current = redis.call('GET', KEYS[1])
if current then
  local v = tonumber(string.match(current, '^(%d+)|'))
  if v and v >= version then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('DEL', KEYS[2])
for i = 4, #ARGV, 2 do redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

# One user's standing, cached profile and the daily totals whose ordinals lie in
# [ARGV[1], ARGV[2]]: KEYS = the standing, the days, the profile (identity's key) and, given a
# viewer (ARGV[3]), the user's blocks (social's key), whose answer about the viewer comes last.
_READ = (
    social_service.blocks_lua()
    + """
local standing = redis.call('GET', KEYS[1])
local days = {}
if standing then days = redis.call('ZRANGE', KEYS[2], ARGV[1], ARGV[2], 'BYSCORE') end
local blocked = false
if KEYS[4] then blocked = blocks(KEYS[4], ARGV[3]) end
return {standing or false, redis.call('GET', KEYS[3]) or false, days, blocked}
"""
)

# The viewer's side of a block between the viewer and a user: KEYS = the viewer's blocks.
_VIEWER_BLOCKS = social_service.blocks_lua() + "return blocks(KEYS[1], ARGV[1])"


@dataclass(frozen=True)
class Standing:
    version: int
    since: date  # daily totals are complete from this date on
    threshold_minutes: int
    anchor: Anchor

    def encode(self) -> str:
        a = self.anchor
        last = a.last_qualified.isoformat() if a.last_qualified else ""
        return (
            f"{self.version}|{self.since.toordinal()}|{self.threshold_minutes}|{last}|"
            f"{a.run}|{a.freezes}|{a.longest}|{a.qualified_days}"
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Standing:
        text = raw.decode() if isinstance(raw, bytes) else raw
        version, since, threshold, last, run, freezes, longest, count = text.split("|")
        anchor = Anchor(
            date.fromisoformat(last) if last else None,
            int(run),
            int(freezes),
            int(longest),
            int(count),
        )
        return cls(int(version), date.fromordinal(int(since)), int(threshold), anchor)


@dataclass(frozen=True)
class CachedStanding:
    standing: Standing | None  # None: not cached, or not complete over the range asked for
    profile: bytes | None  # identity's cached profile, for identity_service.cached_cards
    days: dict[date, int]  # the daily totals in the range asked for


class Standings:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._invalidate = redis.register_script(_INVALIDATE)
        self._store = redis.register_script(_STORE)

    async def invalidate(self, versions: dict[uuid.UUID, int]) -> None:
        """Raise each user's floor to the version about to commit and drop the standing."""
        await self._call_all(
            self._invalidate,
            _INVALIDATE,
            [
                ([standing_key(u), days_key(u), floor_key(u)], [version, FLOOR_TTL])
                for u, version in versions.items()
            ],
        )

    async def store(
        self, entries: Sequence[tuple[uuid.UUID, Standing, Sequence[tuple[date, int]]]]
    ) -> None:
        """Store standings with the users' daily totals (those before `since` are left out),
        each unless a newer one is stored or announced."""
        await self._call_all(
            self._store, _STORE, [_store_call(standing, u, days) for u, standing, days in entries]
        )

    async def _call_all(
        self,
        script: AsyncScript,
        source: str,
        calls: Sequence[tuple[list[str], list[str | int]]],
    ) -> None:
        """One script call per (keys, args), each in one user's slot: alone (EVALSHA) when
        there is one, else in one pipeline (EVAL: a cluster's pipelines refuse EVALSHA)."""
        if not calls:
            return
        if len(calls) == 1:
            ((keys, args),) = calls
            await script(keys=keys, args=args)
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                pipe.eval(source, len(keys), *keys, *args)
            await pipe.execute()

    async def read(
        self,
        user_ids: Sequence[uuid.UUID],
        first: date,
        last: date,
        viewer: uuid.UUID | None = None,
    ) -> tuple[list[CachedStanding], int | None]:
        """Each user's cached standing and profile, with their daily totals in [first, last];
        and, given a `viewer`, the block state between the viewer and the first user (see
        social_service.blocks_lua). One call per user (and one for the viewer's blocks), each
        in its user's slot, all in one pipeline."""
        if not user_ids:
            return [], None
        bounds: list[int | str] = [first.toordinal(), last.toordinal()]
        async with self.redis.pipeline(transaction=False) as pipe:
            for i, user_id in enumerate(user_ids):
                keys = [
                    standing_key(user_id),
                    days_key(user_id),
                    identity_service.profile_key(user_id),
                ]
                args = bounds
                if viewer is not None and i == 0:
                    keys.append(social_service.blocks_key(user_id))
                    args = [*bounds, str(viewer)]
                pipe.eval(_READ, len(keys), *keys, *args)
            if viewer is not None:
                pipe.eval(_VIEWER_BLOCKS, 1, social_service.blocks_key(viewer), str(user_ids[0]))
            rows = await pipe.execute()
        found: list[CachedStanding] = []
        for raw, profile, members, _ in rows[: len(user_ids)]:
            standing = Standing.decode(raw) if raw else None
            if standing is not None and standing.since > first:
                standing = None
            days: dict[date, int] = {}
            for m in members:
                text = m.decode() if isinstance(m, bytes) else m
                days[date.fromisoformat(text[:10])] = int(text[11:])
            found.append(CachedStanding(standing, profile or None, days))
        if viewer is None:
            return found, None
        return found, social_service.block_state_of(int(rows[0][3]), int(rows[-1]))

    async def forget(self, user_id: uuid.UUID) -> None:
        await self.redis.delete(standing_key(user_id), days_key(user_id), floor_key(user_id))


def _store_call(
    standing: Standing, user_id: uuid.UUID, days: Sequence[tuple[date, int]]
) -> tuple[list[str], list[str | int]]:
    args: list[str | int] = [standing.version, standing.encode(), TTL]
    for day, micros in days:
        if day >= standing.since:
            args += [day.toordinal(), f"{day.isoformat()}:{micros}"]
    return [standing_key(user_id), days_key(user_id), floor_key(user_id)], args
