"""The search answers each API process keeps in memory, keyed by the catalog version.

Peak search traffic (5,000 to 10,000 requests/s) is more than one Redis round trip per request
allows on two cores, so each process answers repeated queries from its own memory. It learns a
new catalog version the moment a sync publishes it (Redis pub/sub, `catalog:version`); while
Redis is unreachable it reads the version from PostgreSQL once a second instead. Answers are
keyed by version, so a new version makes every older answer unreachable at once.

Both layers have a byte budget. This process keeps its answers in an LRU bounded by their
total size (`memory_bytes`); Redis keeps them for `REDIS_TTL` seconds, within `redis_bytes` in
total: an index of the stored answers (`catalog:search:index`, scored by when they were stored,
their sizes in the members) and their total (`catalog:search:bytes`) are kept with each store,
in one script that drops the expired entries and then the oldest until the new answer fits.
Keys are formed from bounds normalised to the second (service.normalise_bounds), so a stranger
varying microseconds reaches the same few entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from dataclasses import dataclass

import structlog
from redis.asyncio import RedisCluster
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rhythm.catalog import repository
from rhythm.platform.redis import RedisClient, tag

log = structlog.get_logger("rhythm.catalog.cache")

CHANNEL = "catalog:version"
# Every key of the shared cache carries the catalog's hash tag, `{catalog}`: the store script
# touches the index, the byte total and an answer together, so a cluster keeps them in one
# slot (one node; the memory cache in front takes most of the reads).
TAG = tag("catalog")
VERSION_KEY = f"catalog:{TAG}:version"
POLL_SECONDS = 1.0
LISTEN_SECONDS = 1.0  # one idle read of the version channel (a PING every 30 s checks it)
REDIS_TTL = 300
INDEX_KEY = f"catalog:search:{TAG}:index"
BYTES_KEY = f"catalog:search:{TAG}:bytes"
# What an entry of the memory cache costs beyond its body and key (tuple, dict slot, objects).
ENTRY_OVERHEAD = 200

# KEYS: the index, the byte total, the answer's key. ARGV: the body, the TTL, now, the budget.
# Entries past their TTL leave the index first; an answer already stored is not counted twice;
# then the oldest entries go until the total fits the budget. 1 if stored.
_STORE = """
local function drop(member)
  local sep = string.find(member, '|', 1, true)
  redis.call('DECRBY', KEYS[2], tonumber(string.sub(member, 1, sep - 1)))
  redis.call('ZREM', KEYS[1], member)
  return string.sub(member, sep + 1)
end
local now, ttl, budget = tonumber(ARGV[3]), tonumber(ARGV[2]), tonumber(ARGV[4])
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ttl)) do drop(m) end
local size = string.len(ARGV[1])
if size > budget or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local total = redis.call('INCRBY', KEYS[2], size)
redis.call('ZADD', KEYS[1], now, size .. '|' .. KEYS[3])
redis.call('SET', KEYS[3], ARGV[1], 'EX', ttl)
while total > budget do
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if not oldest then break end
  redis.call('DEL', drop(oldest))
  total = tonumber(redis.call('GET', KEYS[2]))
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes
    truncated: bool  # more events matched than an answer holds (service.MAX_EVENTS)

    def encode(self) -> bytes:
        """As stored in Redis: a flag byte, then the body."""
        return (b"T" if self.truncated else b"-") + self.body

    @classmethod
    def decode(cls, value: bytes) -> Answer:
        return cls(value[1:], value[:1] == b"T")


class SearchCache:
    def __init__(
        self,
        redis: RedisClient,
        session_factory: async_sessionmaker[AsyncSession],
        memory_bytes: int = 32 * 1024 * 1024,
        redis_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.redis = redis
        self.session_factory = session_factory
        self.memory_bytes = memory_bytes
        self.redis_bytes = redis_bytes
        self.version: int | None = None
        self.following = False  # `follow` runs while this holds
        self.size = 0  # bytes held, as counted by `cost`
        self._entries: OrderedDict[tuple[int, str], Answer] = OrderedDict()
        self._store = redis.register_script(_STORE)

    @staticmethod
    def cost(query: str, answer: Answer) -> int:
        return len(query) + len(answer.body) + ENTRY_OVERHEAD

    def get(self, version: int, query: str) -> Answer | None:
        answer = self._entries.get((version, query))
        if answer is not None:
            self._entries.move_to_end((version, query))
        return answer

    def put(self, version: int, query: str, answer: Answer) -> None:
        """Keep an answer, dropping the least recently used ones beyond the byte budget (an
        answer larger than the whole budget is not kept)."""
        cost = self.cost(query, answer)
        if cost > self.memory_bytes:
            return
        old = self._entries.pop((version, query), None)
        if old is not None:
            self.size -= self.cost(query, old)
        self._entries[(version, query)] = answer
        self.size += cost
        while self.size > self.memory_bytes:
            (_, old_query), old_answer = self._entries.popitem(last=False)
            self.size -= self.cost(old_query, old_answer)

    def __len__(self) -> int:
        return len(self._entries)

    async def read_shared(self, key: str) -> Answer | None:
        """An answer another process stored in Redis, if any."""
        value = await self.redis.get(key)
        return Answer.decode(value) if isinstance(value, bytes) and value else None

    async def store_shared(self, key: str, answer: Answer) -> bool:
        """Store an answer in Redis within the budget."""
        stored = await self._store(
            keys=[INDEX_KEY, BYTES_KEY, key],
            args=[answer.encode(), REDIS_TTL, time.time(), self.redis_bytes],
        )
        return bool(stored)

    def learn(self, version: int) -> None:
        if self.version is None or version > self.version:
            self.version = version

    async def load_version(self) -> int:
        """The current version: the highest known, after reading Redis, else PostgreSQL
        (versions only grow: a lower one read back, as after a flush of Redis, is stale)."""
        try:
            value = await self.redis.get(VERSION_KEY)
            if value is not None:
                self.learn(int(value))
                assert self.version is not None
                return self.version
        except RedisError:
            pass
        async with self.session_factory() as session:
            self.learn(await repository.current_version(session))
        assert self.version is not None
        return self.version

    async def follow(self) -> None:
        """Keep `version` current until `stop_following`: pub/sub, else polling PostgreSQL.

        The loop ends on its own flag, not only on cancellation: redis-py (8.1) can swallow a
        cancel that lands inside a command (a GET answered None with the cancel pending), and
        the app's shutdown then waited on this task for ever."""
        self.following = True
        attempt = 0
        while self.following:
            try:
                async with await self._subscriber(attempt) as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    await self.load_version()  # anything published before the subscription
                    while self.following:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=LISTEN_SECONDS
                        )
                        if message is not None and message.get("type") == "message":
                            with contextlib.suppress(ValueError, TypeError):
                                self.learn(int(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis gone: poll PostgreSQL until it is back
                log.warning("catalog_version_feed_lost", error=str(exc))
                attempt += 1
                deadline = asyncio.get_running_loop().time() + 10 * POLL_SECONDS
                while self.following and asyncio.get_running_loop().time() < deadline:
                    with contextlib.suppress(Exception):
                        async with self.session_factory() as session:
                            self.learn(await repository.current_version(session))
                    await asyncio.sleep(POLL_SECONDS)

    async def _subscriber(self, attempt: int) -> PubSub:
        """A pub/sub connection for the version channel. On a cluster, to one of its nodes,
        the next one after each failure: a classic PUBLISH reaches the subscribers of every
        node, so any live node will do (sharded pub/sub would tie the channel to one slot's
        node, and needs Redis 7)."""
        if isinstance(self.redis, RedisCluster):
            await self.redis.initialize()  # learns the nodes on first use
            nodes = sorted(self.redis.get_nodes(), key=lambda node: node.name)
            return self.redis.pubsub(node=nodes[attempt % len(nodes)])
        return self.redis.pubsub()

    async def stop_following(self, task: asyncio.Task[None]) -> None:
        """End `follow` (running as `task`): within one read of the channel at worst."""
        self.following = False
        task.cancel()
        await asyncio.wait({task}, timeout=LISTEN_SECONDS + 1)


async def publish(redis: RedisClient, version: int) -> None:
    """Announce a catalog version to every API process: stored first (what a process that
    (re)subscribes reads), then published. Two commands, as a cluster refuses PUBLISH in a
    transaction; a listener only ever moves to a higher version, so the order is all it needs."""
    await redis.set(VERSION_KEY, version)
    await redis.publish(CHANNEL, version)
