"""Writing the demo world (world.py) into an instance through each context's services, the way
the API writes: accounts, the follow graph, nights, focus sessions, two computers' usage with
category rules, and the catalog synced from the sample feed shipped beside this module.

Nothing here knows a table: each step is a context's own service call, in transactions of this
module's choosing, so every rule (overlaps, streaks, feeds, caches) applies as it does for a
request.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.catalog import service as catalog_service
from rhythm.demo.world import LOGINS, LUCIA, Edge, FocusSession, Night, Usage, World
from rhythm.focus import recording as focus_recording
from rhythm.focus import standings as focus_standings
from rhythm.focus.schemas import FocusSessionIn
from rhythm.focus.standings_cache import Standings
from rhythm.identity import service as identity_service
from rhythm.identity.cache import AuthCache
from rhythm.identity.principal import PRIVATE
from rhythm.platform.database import ReadSession, commit
from rhythm.platform.ratelimit import RateLimits
from rhythm.platform.resources import Resources
from rhythm.sleep import records as sleep_records
from rhythm.sleep.feed_cache import FeedCache
from rhythm.sleep.schemas import NightRecord
from rhythm.social import portability as social_portability
from rhythm.social import service as social_service
from rhythm.usage import category_rules, history

FEED = Path(__file__).parent / "feed"
# The sample feed as the provider sent it three times: events added, changed and gone.
FEED_FILES = ("provider_response_1.xml", "provider_response_2.xml", "provider_response_3.xml")
# Nights are written by this many people at once (one transaction each).
WRITERS = 8

Progress = Callable[[str], None]
Item = TypeVar("Item")


class SyncFailed(Exception):
    """The sample feed did not sync: the message says why."""


@dataclass(frozen=True)
class Login:
    email: str
    story: str  # what there is to see in this account


@dataclass(frozen=True)
class Summary:
    people: int
    zones: int
    private: int
    follows: int
    requests: int
    blocks: int
    nights: int
    rated_nights: int
    focus_sessions: int
    usage_events: int
    computers: int
    catalog_events: int
    logins: list[Login]
    seconds: float

    def line(self) -> str:
        return (
            f"Demo world ready: {self.people} people in {self.zones} time zones"
            f" ({self.private} private), {self.follows:,} follows, {self.requests} follow"
            f" requests waiting, {self.blocks} block, {self.nights:,} nights"
            f" ({self.rated_nights:,} rated), {self.focus_sessions:,} focus sessions,"
            f" {self.usage_events:,} usage events on {self.computers} computers,"
            f" {self.catalog_events} catalog events; written in {self.seconds:.1f} s"
        )


async def populate(
    resources: Resources, world: World, password: str, progress: Progress
) -> Summary:
    """Write the world into an empty instance; what was written, counted."""
    began = time.perf_counter()
    settings = resources.settings
    redis = resources.redis
    cache = AuthCache(redis, RateLimits(settings, resources.redis_url))

    progress(f"{len(world.people)} accounts")
    async with resources.session_factory() as session:
        users = await identity_service.create_accounts(
            session,
            cache,
            [identity_service.NewAccount(p.email, p.name, p.timezone) for p in world.people],
            password,
        )
        await commit(session)
    ids = [user.id for user in users]

    # Each person's follows, nights and focus sessions go in as their own import would (the
    # contexts' import services): one transaction and a few statements a person, every rule
    # of creation checked, the feeds and streaks told as for a request.
    progress(f"{len(world.follows):,} follows")

    def following(ask: bool) -> Callable[[AsyncSession, int, list[Edge]], Awaitable[None]]:
        async def follow(session: AsyncSession, person: int, edges: list[Edge]) -> None:
            pairs = [(ids[e.target], e.since) for e in edges]
            await social_portability.import_following(
                session, redis, ids[person], pairs, ask_private=ask
            )

        return follow

    # Everyone follows while every account is public; then some go private (their followers
    # stay), others ask to follow them, and one person blocks another.
    await _each_person(resources, world.follows, lambda e: e.source, following(ask=False))
    private = [i for i, p in enumerate(world.people) if p.private]
    progress(
        f"{len(private)} private accounts, {len(world.requests)} follow requests,"
        f" {len(world.blocks)} block"
    )
    async with resources.session_factory() as session:
        for index in private:
            await identity_service.update_me(session, cache, ids[index], {"visibility": PRIVATE})
        await commit(session)
    await _each_person(resources, world.requests, lambda e: e.source, following(ask=True))

    async def block(session: AsyncSession, person: int, edges: list[Edge]) -> None:
        pairs = [(ids[e.target], e.since) for e in edges]
        await social_portability.import_blocks(session, redis, ids[person], pairs)

    await _each_person(resources, world.blocks, lambda e: e.source, block)

    progress(f"{len(world.nights):,} nights")
    feeds = FeedCache(redis, settings.sleep_fanout_threshold)

    async def sleep(session: AsyncSession, person: int, nights: list[Night]) -> None:
        zone = world.people[person].timezone
        records = list(enumerate(_night_record(night, zone) for night in nights))
        await sleep_records.import_nights(session, feeds, ids[person], records)

    await _each_person(resources, world.nights, lambda n: n.person, sleep)

    progress(f"{len(world.focus):,} focus sessions")
    standings = Standings(redis)

    async def focus(session: AsyncSession, person: int, sessions: list[FocusSession]) -> None:
        zone = world.people[person].timezone
        bodies = [
            FocusSessionIn(
                session_id=s.session_id,
                started_at=s.started_at,
                ended_at=s.ended_at,
                timezone=zone,
            )
            for s in sessions
        ]
        await focus_recording.import_sessions(
            session,
            standings,
            ids[person],
            zone,
            list(enumerate(bodies)),
            settings.focus_qualify_minutes,
        )

    await _each_person(resources, world.focus, lambda s: s.person, focus)

    usage_events = sum(len(b.events) for u in world.usage for b in u.buckets)
    progress(f"{usage_events:,} usage events")
    for usage in world.usage:
        async with resources.session_factory() as session:
            await _write_usage(session, ids[usage.person], usage)
            await commit(session)

    progress("the catalog, from the sample feed")
    catalog_events = await _sync_catalog(resources)

    return Summary(
        people=len(world.people),
        zones=len(world.zones),
        private=len(private),
        follows=len(world.follows),
        requests=len(world.requests),
        blocks=len(world.blocks),
        nights=len(world.nights),
        rated_nights=sum(n.rating is not None for n in world.nights),
        focus_sessions=len(world.focus),
        usage_events=usage_events,
        computers=sum(len({b.hostname for b in u.buckets}) for u in world.usage),
        catalog_events=catalog_events,
        logins=[await _login(resources, world, ids, index) for index in LOGINS],
        seconds=time.perf_counter() - began,
    )


async def _each_person(
    resources: Resources,
    items: Sequence[Item],
    person: Callable[[Item], int],
    write: Callable[[AsyncSession, int, list[Item]], Awaitable[None]],
) -> None:
    """Write each person's items, in order, in a transaction of their own, WRITERS people at a
    time: the writes wait on PostgreSQL and Redis more than on this process."""
    mine: dict[int, list[Item]] = {}
    for item in items:
        mine.setdefault(person(item), []).append(item)
    turns = asyncio.Semaphore(WRITERS)

    async def write_theirs(index: int, theirs: list[Item]) -> None:
        async with turns, resources.session_factory() as session:
            await write(session, index, theirs)
            await commit(session)

    await asyncio.gather(*(write_theirs(index, theirs) for index, theirs in mine.items()))


async def _sync_catalog(resources: Resources) -> int:
    """The sample feed synced as the provider sent it, three times over; the events a search
    then finds."""
    settings = resources.settings
    for name in FEED_FILES:
        result = await catalog_service.sync(
            resources.session_factory,
            resources.redis,
            path=FEED / name,
            max_bytes=settings.catalog_max_bytes,
        )
        if result.status != "succeeded":
            raise SyncFailed(f"the sample feed {name} did not sync: {'; '.join(result.errors)}")
    async with resources.session_factory() as session:
        answer = await catalog_service.search(session, None, None, settings.search_max_events)
    return len(json.loads(answer.body)["data"]["events"])


async def _login(resources: Resources, world: World, ids: list[uuid.UUID], index: int) -> Login:
    """What there is to see in a login, as the API tells it."""
    user_id = ids[index]
    person = world.people[index]
    async with resources.session_factory() as session:
        profile = await social_service.profile(session, user_id, user_id)
    story = [
        "private" if person.private else "public",
        f"{profile.following_count} following, {profile.followers_count} followers",
    ]
    if index == LUCIA:
        async with ReadSession(resources.session_factory) as db:
            streak = await focus_standings.user_streak(
                db,
                Standings(resources.redis),
                user_id,
                user_id,
                resources.settings.focus_qualify_minutes,
            )
        story.append(f"a focus streak of {streak.current_streak} days that a freeze saved")
    waiting = sum(r.target == index for r in world.requests)
    if waiting:
        story.append(f"{waiting} follow requests to answer")
    if any(b.source == index for b in world.blocks):
        story.append("blocks someone")
    story.append("two computers this week")
    return Login(person.email, "; ".join(story))


def _night_record(night: Night, zone: str) -> NightRecord:
    """A night as an export holds it: open (in bed now) or woken, with its notes if any."""
    notes = {"rating": night.rating, "tags": list(night.tags), "note": night.note}
    return NightRecord(
        sleep_at=night.sleep_at,
        wake_at=night.wake_at,
        sleep_timezone=zone,
        wake_timezone=None if night.wake_at is None else zone,
        **{field: value for field, value in notes.items() if value},
    )


async def _write_usage(session: AsyncSession, user_id: uuid.UUID, usage: Usage) -> None:
    """The computers' buckets as one ActivityWatch export imported (`rhythm usage import`'s
    path), then the person's own category rules after aw-webui's defaults."""
    document: dict[str, Any] = {
        "buckets": {
            bucket.id: {
                "id": bucket.id,
                "type": bucket.type,
                "client": bucket.client,
                "hostname": bucket.hostname,
                "created": min(e.start for e in bucket.events).isoformat()
                if bucket.events
                else None,
                "data": {},
                "events": [
                    {
                        "timestamp": e.start.astimezone(UTC).isoformat(),
                        "duration": float(e.seconds),
                        "data": e.data,
                    }
                    for e in bucket.events
                ],
            }
            for bucket in usage.buckets
        }
    }

    async def chunks() -> AsyncIterator[bytes]:
        yield json.dumps(document).encode()

    await history.import_document(session, user_id, chunks())
    for rule in usage.rules:
        await category_rules.create_category(
            session, user_id, list(rule.path), rule.regex, ignore_case=True
        )
