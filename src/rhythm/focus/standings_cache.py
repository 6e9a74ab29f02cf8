"""Each user's focus standing in Redis: streak anchor and recent daily totals.

Everything here is rebuilt from PostgreSQL (focus_streaks, focus_days) whenever it is missing.

Keys, for user U:
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

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from rhythm.focus.streaks import Anchor
from rhythm.identity import service as identity_service
from rhythm.social import service as social_service

TTL = 7 * 86_400
FLOOR_TTL = 3_600
# A standing keeps the daily totals from this many days before its write on; every read asks
# for dates after that (this week, or the days around today).
CACHED_DAYS = 35


def standing_key(user_id: uuid.UUID | str) -> str:
    return f"focus:st:{user_id}"


def days_key(user_id: uuid.UUID | str) -> str:
    return f"focus:days:{user_id}"


def floor_key(user_id: uuid.UUID | str) -> str:
    return f"focus:floor:{user_id}"


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

# For each user: the standing, the cached profile (read with identity's fragment) and the daily
# totals whose ordinals lie in [ARGV[1], ARGV[2]]; then, when a viewer is given (ARGV[3]),
# whether a block stands between the viewer and the first user (social's fragment).
_READ = (
    identity_service.profile_lua()
    + social_service.blocks_lua()
    + """
local out = {}
for i, user in ipairs(KEYS) do
  local standing = redis.call('GET', 'focus:st:' .. user)
  local days = {}
  if standing then
    days = redis.call('ZRANGE', 'focus:days:' .. user, ARGV[1], ARGV[2], 'BYSCORE')
  end
  out[i] = {standing or false, redis.call('GET', profile_key(user)) or false, days}
end
local blocked = false
if ARGV[3] then blocked = block_state(ARGV[3], KEYS[1]) end
return {out, blocked}
"""
)


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
        self._read = redis.register_script(_READ)

    async def invalidate(self, versions: dict[uuid.UUID, int]) -> None:
        """Raise each user's floor to the version about to commit and drop the standing."""
        await self._call_all(
            self._invalidate,
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
            self._store, [_store_call(standing, u, days) for u, standing, days in entries]
        )

    async def _call_all(
        self, script: AsyncScript, calls: Sequence[tuple[list[str], list[str | int]]]
    ) -> None:
        """One script call per (keys, args): alone when there is one, else in one pipeline."""
        if not calls:
            return
        if len(calls) == 1:
            ((keys, args),) = calls
            await script(keys=keys, args=args)
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                await script(keys=keys, args=args, client=pipe)
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
        social_service.blocks_lua)."""
        if not user_ids:
            return [], None
        args: list[int | str] = [first.toordinal(), last.toordinal()]
        if viewer is not None:
            args.append(str(viewer))
        rows, blocked = await self._read(keys=[str(u) for u in user_ids], args=args)
        found: list[CachedStanding] = []
        for raw, profile, members in rows:
            standing = Standing.decode(raw) if raw else None
            if standing is not None and standing.since > first:
                standing = None
            days: dict[date, int] = {}
            for m in members:
                text = m.decode() if isinstance(m, bytes) else m
                days[date.fromisoformat(text[:10])] = int(text[11:])
            found.append(CachedStanding(standing, profile or None, days))
        return found, None if viewer is None else int(blocked)

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
