"""Every key set one script call touches lies in one hash slot, so the feeds run on Redis Cluster.

The flows run against real standalone Redis with every command recorded (`SlotRecorder`): each
EVAL and EVALSHA, each MGET or MSET, and each transactional pipeline must name keys of one slot
(redis.crc.key_slot), and no script may name a key in Lua (every key it touches is in KEYS).
A cluster refuses the rest with CROSSSLOT; standalone Redis would not notice.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio.client import Pipeline, Redis
from redis.crc import key_slot

from rhythm.app import create_app
from rhythm.focus import standings_cache
from rhythm.identity import service as identity_service
from rhythm.jobs import run_worker
from rhythm.platform.resources import Resources
from rhythm.sleep import feed_cache
from rhythm.social import blocks_cache
from tests.conftest import client_for, make_settings, started
from tests.factories import create_user, delete_account
from tests.sleep.test_edit import edited
from tests.sleep.test_feed import MONDAY, WEEK, feed, follow, night
from tests.sleep.test_feed_cache import drain, ids

# Commands whose keys must share a slot wherever they run (a cluster client splits DEL, UNLINK
# and EXISTS by slot itself, and routes every single-key command).
OURS = ("sleep:", "focus:", "social:")
ONE_SLOT = {"EVAL", "EVALSHA", "MGET", "MSET", "SINTER", "SUNION", "ZUNIONSTORE"}


@dataclass
class Call:
    command: str
    keys: list[str]

    def slots(self) -> set[int]:
        return {key_slot(key.encode()) for key in self.keys}


@dataclass
class SlotRecorder:
    """Every command an app sends, with the keys of those that must stay in one slot."""

    calls: list[Call] = field(default_factory=list)

    def record(self, args: tuple[Any, ...], transaction: list[str] | None) -> None:
        command = str(args[0]).upper()
        if command in ("EVAL", "EVALSHA"):
            keys = [_text(k) for k in args[3 : 3 + int(args[2])]]
            self.calls.append(Call(command, keys))
        elif command in ONE_SLOT:
            self.calls.append(Call(command, [_text(k) for k in args[1:]]))
        elif transaction is not None and len(args) > 1:
            transaction.append(_text(args[1]))

    def scripts(self) -> list[Call]:
        return [c for c in self.calls if c.command in ("EVAL", "EVALSHA")]

    def crossing(self) -> list[Call]:
        """The calls of sleep's, focus's and social's caches (this suite's concern: the other
        contexts' keys are tested on the cluster itself) whose keys span slots."""
        return [
            c for c in self.calls if len(c.slots()) > 1 and any(k.startswith(OURS) for k in c.keys)
        ]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.fixture
def slots(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Iterator[SlotRecorder]:
    if redis_url.startswith("redis+cluster"):
        pytest.skip("on Redis Cluster the cluster itself refuses a CROSSSLOT call")
    recorder = SlotRecorder()
    direct = Redis.execute_command
    queued = Pipeline.execute_command
    execute = Pipeline.execute
    transactions: dict[int, list[str]] = {}

    async def execute_command(self: Redis, *args: Any, **options: Any) -> Any:
        recorder.record(args, None)
        return await direct(self, *args, **options)

    def pipeline_command(self: Pipeline, *args: Any, **options: Any) -> Any:
        keys = transactions.setdefault(id(self), []) if self.is_transaction else None
        recorder.record(args, keys)
        return queued(self, *args, **options)

    async def pipeline_execute(self: Pipeline, raise_on_error: bool = True) -> Any:
        keys = transactions.pop(id(self), None)
        if keys:
            recorder.calls.append(Call("MULTI", keys))
        return await execute(self, raise_on_error)

    monkeypatch.setattr(Redis, "execute_command", execute_command)
    monkeypatch.setattr(Pipeline, "execute_command", pipeline_command)
    monkeypatch.setattr(Pipeline, "execute", pipeline_execute)
    yield recorder


def test_no_script_names_a_key_in_lua() -> None:
    """Keys built in Lua would escape KEYS, and so the cluster's routing: every key a script
    touches comes from KEYS."""
    scripts = [
        value
        for module in (feed_cache, standings_cache, blocks_cache)
        for value in vars(module).values()
        if isinstance(value, str) and "redis.call" in value
    ]
    assert len(scripts) >= 12
    for script in scripts:
        assert not re.search(r"'(sleep|focus|social|auth):", script), script
        assert "profile_key(" not in script


async def test_every_feed_call_stays_in_one_slot(
    database_url: str, redis_url: str, slots: SlotRecorder
) -> None:
    """Ordinary and popular owners (fan-out on write and on read), cold and warm pages, pending
    changes, an edit, a delete, a flush, a follow, a block and an erased account."""
    settings = make_settings(database_url, redis_url, sleep_fanout_threshold=2)
    async for app in started(create_app(settings)):
        redis = app.state.services[Resources].redis
        await redis.flushdb()
        async with client_for(app) as client:
            star = await create_user(app)
            regular = await create_user(app)
            fans = [await create_user(app) for _ in range(3)]
            for fan in fans:
                await follow(client, fan, star)
            await follow(client, fans[0], regular)
            s1 = await night(client, star, 0, 9)
            r1 = await night(client, regular, 0, 8)
            assert await ids(client, fans[0]) == [s1, r1]  # pending: from PostgreSQL
            await drain(app)
            assert await ids(client, fans[0]) == [s1, r1]  # rebuilt
            assert await ids(client, fans[0]) == [s1, r1]  # warm
            r2 = await night(client, regular, 1, 10)
            await drain(app)
            assert await ids(client, fans[0]) == [r2, s1, r1]
            await edited(
                client,
                regular,
                r1,
                wake_at=(MONDAY + timedelta(hours=7, minutes=30)).isoformat(),
            )
            await drain(app)
            assert await ids(client, fans[0]) == [r2, s1, r1]
            await client.delete(f"/api/v1/sleep/records/{r2}", headers=regular.headers)
            await drain(app)
            await redis.flushdb()
            assert await ids(client, fans[0]) == [s1, r1]
            await follow(client, fans[1], regular)
            await client.put(f"/api/v1/users/me/blocks/{fans[2].id}", headers=star.headers)
            assert await ids(client, fans[1]) == [s1, r1]
            assert (await feed(client, fans[2]))["data"] == []
            assert (await delete_account(client, regular)).status_code == 204
            await run_worker(app.state.services[Resources], wait=False)
            assert await ids(client, fans[0]) == [s1]
        await redis.flushdb()
    scripts = {c.command for c in slots.scripts()}
    assert scripts == {"EVAL", "EVALSHA"}, "both the pipelined and the direct calls were seen"
    assert any(k.startswith("sleep:pop:") for c in slots.scripts() for k in c.keys)
    assert any(k.startswith("sleep:feed:") for c in slots.scripts() for k in c.keys)
    assert slots.crossing() == []


def profile_key_is_tagged() -> bool:
    """Whether identity's profile key carries its user's hash tag (branch `cluster` adds it)."""
    return "{" in identity_service.profile_key(uuid.uuid4())


def test_a_users_keys_share_the_users_slot() -> None:
    """The standing, days, profile and blocks of one user are read by one call; the viewer's
    feed keys and versions by another; a popular owner's set and version by a third."""
    user, week = uuid.UUID("0b7f3a52-6c1e-4a8e-9d0b-2f1c3e4d5a6b"), WEEK
    profile = [identity_service.profile_key(user)] if profile_key_is_tagged() else []
    assert {
        key_slot(k.encode())
        for k in (
            *profile,
            standings_cache.standing_key(user),
            standings_cache.days_key(user),
            standings_cache.floor_key(user),
            blocks_cache.blocking_key(user),
            blocks_cache.version_key(user),
            feed_cache.feed_key(user, week),
            feed_cache.meta_key(user, week),
            feed_cache.gv_key(user),
            feed_cache.fv_key(user),
            feed_cache.popular_key(user, week),
            feed_cache.ov_key(user),
            feed_cache.class_key(user),
        )
    } == {key_slot(str(user).encode())}
