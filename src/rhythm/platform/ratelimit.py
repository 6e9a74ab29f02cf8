"""Rate limits on Redis with the `limits` library, shared by every server process.

Limits are per user when a request is signed in and per client IP otherwise. Heartbeats are
not counted per request but paced per user (`HeartbeatPace`): they wait their turn instead of
being refused. Redis only holds the counters: if it is unreachable, requests are let through
(and the failure is logged) rather than refused, because losing Redis must make rhythm
slower, never unavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass
from typing import cast

import limits
import structlog
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
)
from redis.exceptions import RedisError

from rhythm.platform.errors import TooManyRequests
from rhythm.platform.redis import RedisClient, cluster_nodes, is_cluster_url, tag
from rhythm.platform.settings import Settings

log = structlog.get_logger("rhythm.platform.ratelimit")


@dataclass(frozen=True, slots=True)
class PendingHit:
    """One fixed-window hit of `limits`, to be sent in a caller's Redis pipeline."""

    policy: str
    item: limits.RateLimitItem
    identifier: str
    key: str


# A user's heartbeat pace, as GCRA (the generic cell rate algorithm): KEYS[1] holds the
# theoretical arrival time (TAT, in microseconds) of the user's next heartbeat. ARGV: now,
# the interval between heartbeats at the rate, the burst's tolerance (burst x interval) and the
# longest wait (all in microseconds), and the number of heartbeats. Returns how long the caller
# must wait (0: at once), or minus that wait, counting nothing, when it is over the longest.
PACE_LUA = """
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local tolerance, max_wait = tonumber(ARGV[3]), tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next_tat = tat + interval * tonumber(ARGV[5])
local wait = next_tat - tolerance - now
if wait > max_wait then return -math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat),
           'PX', math.ceil((next_tat - now) / 1000) + 1)
if wait < 0 then return 0 end
return math.ceil(wait)
"""


@dataclass(frozen=True, slots=True)
class PendingPace:
    """Heartbeats of one user to pace with PACE_LUA, sent in a caller's Redis call or alone."""

    user_id: str
    key: str
    args: tuple[int, int, int, int, int]


class HeartbeatPace:
    """Heartbeats per user at RHYTHM_RATE_LIMIT_HEARTBEATS after a burst of
    RHYTHM_RATE_LIMIT_HEARTBEATS_BURST, shared by every process through one Redis key per user.

    Over the burst a request is not refused: it reserves the next turn and waits for it (a
    sequential watcher waits at most one interval per heartbeat, a bulk request of n about n
    intervals). Only a turn further away than RHYTHM_RATE_LIMIT_HEARTBEATS_MAX_WAIT is refused
    (429, nothing reserved): that takes more of one user's requests waiting at once than rate x
    max wait, which bounds what a user can keep waiting, while rows written per second per
    user are bounded by the rate. Without Redis it fails open, as the other limits do.
    """

    def __init__(self, settings: Settings, redis: RedisClient) -> None:
        rate = limits.parse(settings.rate_limit_heartbeats)
        self.rate = rate
        self.interval = max(1, round(rate.get_expiry() * 1_000_000 / rate.amount))
        self.tolerance = self.interval * settings.rate_limit_heartbeats_burst
        self.max_wait = round(settings.rate_limit_heartbeats_max_wait * 1_000_000)
        self.burst = settings.rate_limit_heartbeats_burst
        self.window = max(1, math.ceil(self.tolerance / 1_000_000))  # a burst's refill time
        self._script = redis.register_script(PACE_LUA)

    def pending(self, user_id: str, count: int = 1) -> PendingPace:
        now = int(time.time() * 1_000_000)
        return PendingPace(
            user_id,
            f"hb-pace:{tag(user_id)}",  # the user's tag: read with their session and profile
            (now, self.interval, self.tolerance, self.max_wait, count),
        )

    async def admit(self, user_id: str, count: int = 1) -> None:
        """Let `count` heartbeats of the user in: return at once within the burst, after their
        turn beyond it; 429 if that turn is too far away."""
        if count <= 0:
            return
        pace = self.pending(user_id, count)
        try:
            result = await self._script(keys=[pace.key], args=list(pace.args))
        except Exception as exc:
            log.warning("rate_limit_storage_unavailable", policy="heartbeats", error=str(exc))
            return
        if isinstance(result, int):
            await self._take_turn(result)

    async def settle(self, pace: PendingPace, result: object) -> None:
        """Wait for the turn PACE_LUA answered in a caller's script, or raise 429; redo it alone
        if it could not be counted there."""
        if isinstance(result, int):
            await self._take_turn(result)
        else:
            await self.admit(pace.user_id, pace.args[4])

    async def _take_turn(self, result: int) -> None:
        if result > 0:
            await asyncio.sleep(result / 1_000_000)
        elif result < 0:
            retry_after = max(1, math.ceil((-result - self.max_wait) / 1_000_000))
            raise TooManyRequests(
                f"Too many heartbeats waiting at once for this account. Retry in {retry_after} s.",
                headers={
                    "Retry-After": str(retry_after),
                    "RateLimit-Policy": f'"heartbeats";q={self.burst};w={self.window}',
                    "RateLimit": f'"heartbeats";r=0;t={retry_after}',
                },
            )


class RateLimits:
    """The named limits of the service and the storage they count in."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        # redis-py, the client rhythm already uses; measured cheaper per hit than coredis here.
        if settings.redis_cluster or is_cluster_url(redis_url):
            nodes = ",".join(f"{host}:{port}" for host, port in cluster_nodes(redis_url))
            self.storage: RedisStorage = RedisClusterStorage(
                f"async+redis+cluster://{_userinfo(redis_url)}{nodes}",
                wrap_exceptions=True,
                implementation="redispy",
            )
        else:
            self.storage = RedisStorage(
                "async+" + redis_url, wrap_exceptions=True, implementation="redispy"
            )
        self._fixed = FixedWindowRateLimiter(self.storage)
        self._moving = MovingWindowRateLimiter(self.storage)
        self.user = limits.parse(settings.rate_limit_default)
        self.anonymous = limits.parse(settings.rate_limit_anonymous)
        self.auth = limits.parse(settings.rate_limit_auth)
        self.login_failures = limits.parse(settings.login_failure_limit)
        self.auth_failures = limits.parse(settings.auth_failure_limit)
        bridge = cast(RedispyBridge, self.storage.bridge)
        self.heartbeats = HeartbeatPace(settings, cast(RedisClient, bridge.get_connection()))

    async def connect(self) -> None:
        """Reach the storage once before the first request: a cluster client learns its
        topology on first use, and the first requests arriving together (a flood) each found
        it half-made ("'NoneType' object has no attribute 'writelines'"), so the limits failed
        open for them. Redis down now is not an error: the limits fail open until it is back."""
        with contextlib.suppress(Exception):
            await self.storage.check()

    async def enforce(self, policy: str, item: limits.RateLimitItem, key: str) -> None:
        """Count one request against `item` for `key`; raise 429 when over."""
        await self._check(self._fixed, policy, item, key, hit=True)

    async def enforce_user(self, user_id: str) -> None:
        """Count one signed-in request against the per-user limit (the count `user_hit` makes)."""
        await self.enforce("user", self.user, tag(user_id))

    def user_hit(self, user_id: str) -> PendingHit:
        """The per-user hit of a signed-in request, to count in a caller's script and `settle`.

        The authenticated path counts it in the same Redis call as its auth-cache read, with
        `limits`' own fixed-window Lua script on `limits`' own key: the count is the one
        `FixedWindowRateLimiter.hit` keeps, and `get_window_stats` reads it back for headers.
        """
        identifier = tag(user_id)  # the user's tag: counted with their session and profile
        key = self.storage.bridge.prefixed_key(self.user.key_for("user", identifier))
        return PendingHit("user", self.user, identifier, key)

    def fixed_window_lua(self) -> str:
        """`limits`' own fixed-window increment script (KEYS[1]; ARGV: expiry, amount)."""
        script = cast(RedispyBridge, self.storage.bridge).lua_incr_expire.script
        return script if isinstance(script, str) else bytes(script).decode()

    async def settle(self, hit: PendingHit, result: object) -> None:
        """Raise 429 if the hit went over; redo it alone if it could not be counted."""
        if isinstance(result, int):
            if result <= hit.item.amount:
                return
            await self._check(self._fixed, hit.policy, hit.item, hit.identifier, hit=False)
            return
        # Redis trouble: the library's own call counts it, or fails open, logged.
        await self.enforce(hit.policy, hit.item, hit.identifier)

    async def count_login_attempt(self, account: str) -> None:
        """Count a password attempt on `account` before the password is checked; 429 when the
        account is over its window. Counting first, in one atomic hit, is what holds the limit
        when many attempts arrive at once; a success clears the count (reset_login_failures)."""
        await self._check(self._moving, "login", self.login_failures, account, hit=True)

    async def count_auth_failure(self, ip: str) -> None:
        """Count a failed credential from `ip`; 429 when the IP is over its limit."""
        await self._check(self._fixed, "auth-failure", self.auth_failures, ip, hit=True)

    async def reset_login_failures(self, email: str) -> None:
        try:
            await self._moving.clear(self.login_failures, "login", email)
        except Exception as exc:
            log.warning("rate_limit_storage_unavailable", error=str(exc))

    async def _check(
        self,
        limiter: RateLimiter,
        policy: str,
        item: limits.RateLimitItem,
        key: str,
        *,
        hit: bool,
    ) -> None:
        try:
            allowed = await (
                limiter.hit(item, policy, key) if hit else limiter.test(item, policy, key)
            )
            if allowed:
                return
            stats = await limiter.get_window_stats(item, policy, key)
        except Exception as exc:
            log.warning("rate_limit_storage_unavailable", error=str(exc))
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        window = item.get_expiry()
        raise TooManyRequests(
            f"Rate limit of {item} exceeded. Retry in {retry_after} s.",
            headers={
                "Retry-After": str(retry_after),
                "RateLimit-Policy": f'"{policy}";q={item.amount};w={window}',
                "RateLimit": f'"{policy}";r={max(0, stats.remaining)};t={retry_after}',
            },
        )


@dataclass(slots=True)
class _Tally:
    known: int = 0  # the shared count Redis last reported for this window
    pending: int = 0  # hits of this process not yet sent to Redis
    flushed_at: float = 0.0
    flushing: bool = False


class BatchedLimit:
    """A fixed-window limit per key, counted in this process and reconciled with Redis in
    batches, for routes too hot for a Redis call per request (/search at 10,000 req/s).

    Each hit is counted here; once `batch` hits are waiting, or `interval` seconds passed since
    the last reconciliation, they are added to the window's shared counter in Redis
    (`INCRBY`), which answers with the total of every process. A request is refused when the
    shared total plus this process's waiting hits reaches the limit, so several processes
    together let through at most `batch - 1` hits each beyond it. If Redis is unreachable the
    waiting hits are dropped and nothing is counted for a second, then Redis is tried again: the
    limit fails open (logged), as the other limits do. The table
    of keys is emptied at each new window and when it reaches `max_keys`.
    """

    def __init__(
        self,
        redis: RedisClient,
        item: limits.RateLimitItem,
        policy: str,
        *,
        batch: int = 64,
        interval: float = 0.05,
        max_keys: int = 100_000,
    ) -> None:
        self.redis = redis
        self.item = item
        self.policy = policy
        self.window = item.get_expiry()
        self.batch = batch
        self.interval = interval
        self.max_keys = max_keys
        self._current = -1
        self._tallies: dict[str, _Tally] = {}
        self._logged_at = 0.0
        self._open_until = 0.0  # after a Redis failure: let everything through until then

    async def hit(self, key: str) -> int | None:
        """Count one hit for `key`; None if allowed, else the seconds until the window ends."""
        now = time.time()
        if now < self._open_until:
            return None
        current = int(now // self.window)
        if current != self._current:
            self._current = current
            self._tallies = {}
        tally = self._tallies.get(key)
        if tally is None:
            if len(self._tallies) >= self.max_keys:
                self._tallies = {}
            tally = self._tallies[key] = _Tally()
        if tally.known + tally.pending >= self.item.amount:
            return max(1, math.ceil((current + 1) * self.window - now))
        tally.pending += 1
        if not tally.flushing and (
            tally.pending >= self.batch or now - tally.flushed_at >= self.interval
        ):
            await self._flush(key, current, tally, now)
        return None

    async def _flush(self, key: str, current: int, tally: _Tally, now: float) -> None:
        sent, tally.pending, tally.flushing = tally.pending, 0, True
        name = f"rl:{self.policy}:{current}:{tag(key)}"
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incrby(name, sent)
                pipe.expire(name, self.window + 1)
                total, _ = await pipe.execute()
            tally.known = max(tally.known, int(total))
        except RedisError as exc:
            self._open_until = now + 1.0  # then try Redis again
            if now - self._logged_at >= 10:  # at most one line per 10 s at these rates
                self._logged_at = now
                log.warning("rate_limit_storage_unavailable", policy=self.policy, error=str(exc))
        finally:
            tally.flushed_at = now
            tally.flushing = False

    def headers(self, retry_after: int) -> dict[str, str]:
        return {
            "Retry-After": str(retry_after),
            "RateLimit-Policy": f'"{self.policy}";q={self.item.amount};w={self.window}',
            "RateLimit": f'"{self.policy}";r=0;t={retry_after}',
        }


def _userinfo(url: str) -> str:
    """The `user:password@` of a Redis URL, if any, for `limits`' cluster URL."""
    netloc = url.partition("://")[2].partition("/")[0]
    return netloc.rpartition("@")[0] + "@" if "@" in netloc else ""
