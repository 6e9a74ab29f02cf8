"""The followings feed: completed nights of the people a viewer follows, week by week.

It is served from per-viewer feeds in Redis (see feed_cache.py) whenever the cache can prove it is
current, and from PostgreSQL otherwise, so it is exact on the very next request after any
follow, unfollow, clock-out, backfill, edit, delete or account deletion. Each change of a completed
night is fanned out by a `sleep:fan_out` job deferred in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.identity.principal import Principal
from rhythm.platform.database import ReadSession, after_commit
from rhythm.platform.pagination import PageRequest
from rhythm.platform.queue import ERASURE_QUEUE, defer, unfinished
from rhythm.platform.redis import RedisClient
from rhythm.platform.timeutil import Week
from rhythm.sleep import repository
from rhythm.sleep.feed_cache import MAX_NIGHT, FeedCache, member, parse_member
from rhythm.sleep.models import SleepRecord
from rhythm.sleep.schemas import record_json
from rhythm.social import service as social_service

log = structlog.get_logger("rhythm.sleep")


@dataclass(frozen=True)
class Night:
    """What the feeds hold of a completed night: its place in its week's feeds."""

    id: uuid.UUID
    user_id: uuid.UUID
    week: str
    duration_seconds: int

    @classmethod
    def of(cls, record: SleepRecord) -> Night:
        assert record.duration_seconds is not None
        return cls(record.id, record.user_id, record.week, record.duration_seconds)


async def night_changed(session: AsyncSession, feeds: FeedCache, night: Night, op: str) -> None:
    """Queue the fan-out of a completed night's arrival or removal, in this transaction (an
    edited night is the removal of the night it was, then the arrival of the night it is).

    The pending marker goes to Redis before the commit, so from the moment the change is
    visible in PostgreSQL, readers who follow the owner are answered from PostgreSQL until the
    job has applied it.
    """
    job_id = await defer(
        session,
        "sleep:fan_out",
        queue="feeds",
        # One owner's changes are applied in order, even when one is retried (a worker died
        # under it): a night's removal never runs before its arrival.
        lock=f"sleep:{night.user_id}",
        owner_id=str(night.user_id),
        week=night.week,
        op=op,
        value=member(night.duration_seconds, night.id, night.user_id),
    )
    try:
        await feeds.mark_pending(night.week, night.user_id, job_id)
    except RedisError as exc:
        log.warning("feed_cache_unavailable", error=str(exc))


async def apply_fan_out(
    session: AsyncSession,
    feeds: FeedCache,
    job_id: int,
    owner_id: uuid.UUID,
    week: str,
    op: str,
    value: str,
) -> int:
    """The job's work: apply one change to every affected feed (or the owner's popular set),
    leave a tombstone in place of the night's cached JSON (an edit changed it; readers who
    follow the owner read PostgreSQL until the marker goes, and no reader stores an item read
    before the tombstone, FeedCache.store_items), then clear its marker."""
    popular = await social_service.follower_count(session, owner_id) > feeds.fanout_threshold
    followers: list[uuid.UUID] | None = None
    if await feeds.swap_class(owner_id, popular):
        followers = await social_service.follower_ids(session, owner_id)
        await feeds.bump_graph_versions(followers)
    if popular:
        await feeds.apply_popular(owner_id, week, op, value)
        applied = 1
    else:
        if followers is None:
            followers = await social_service.follower_ids(session, owner_id)
        applied = await feeds.fan_out(week, op, value, followers)
    await feeds.forget_item(parse_member(value)[0], job_id)
    await feeds.clear_pending(week, [f"{owner_id}:{job_id}"])
    return applied


async def erase_account(session: AsyncSession, redis: RedisClient, user_id: uuid.UUID) -> None:
    """Before an account goes (its follow edges with it): its followers' graph versions move
    now and again after commit, so from the next request their feeds are rebuilt from
    PostgreSQL without it; a `sleep:erase_owner` job, given the followers and records read
    here, deletes what Redis still holds of it (FeedCache.erase_owner)."""
    followers = await social_service.follower_ids(session, user_id)
    records = await repository.completed_of(session, user_id)
    await defer(
        session,
        "sleep:erase_owner",
        queue=ERASURE_QUEUE,
        owner_id=str(user_id),
        followers=[str(f) for f in followers],
        records=[str(r.id) for r in records],
    )
    feeds = FeedCache(redis, fanout_threshold=0)

    async def bump() -> None:
        await feeds.bump_graph_versions(followers)

    await _now_and_after_commit(session, bump)


async def graph_changed(
    session: AsyncSession, redis: RedisClient, follower_ids: Sequence[uuid.UUID]
) -> None:
    """The followers' feeds were built for other followees (a follow, unfollow, approved
    request or block): bump their graph versions now and again after commit, so no feed built
    from the old follows is served afterwards."""
    feeds = FeedCache(redis, fanout_threshold=0)
    followers = list(follower_ids)

    async def bump() -> None:
        await feeds.bump_graph_versions(followers)

    await _now_and_after_commit(session, bump)


async def _now_and_after_commit(session: AsyncSession, bump: Callable[[], Awaitable[None]]) -> None:
    """Invalidate feeds now (so no reader rebuilds from the old graph while the transaction
    runs) and again after commit (so none built in between survives); Redis down is logged."""
    try:
        await bump()
    except RedisError as exc:
        log.warning("feed_cache_unavailable", error=str(exc))
    after_commit(session, bump)


@dataclass(frozen=True)
class FeedPage:
    members: list[str]  # the page's feed members, see feeds.member
    items: list[str]  # the records' JSON, in the same order
    profiles: list[bytes | None]  # the owners' cached profiles, for identity_service.cached_cards
    next_cursor: str | None


async def following_feed(
    db: ReadSession,
    feeds: FeedCache,
    viewer: Principal,
    week: Week,
    page: PageRequest,
) -> FeedPage:
    """Completed nights of the people the viewer follows in `week`, longest first."""
    kind = f"sleep-following:{week.name}"
    after = page.position(kind)
    after_member = str(after[0]) if after else None
    found: tuple[list[str], list[str | None], list[bytes | None]] | None = None
    try:
        found = await _from_cache(db, feeds, viewer.id, week.name, after_member, page.limit)
    except RedisError as exc:
        log.warning("feed_cache_unavailable", error=str(exc))
    if found is None:
        members, items = await _from_database(
            await db(), viewer.id, week.name, after_member, page.limit
        )
        found = (members, list(items), [None] * len(members))
    members, texts, profiles = found
    cursor = None
    if len(members) > page.limit:
        members = members[: page.limit]
        cursor = page.codec.encode(kind, [members[-1]])
    kept = [(m, t, p) for m, t, p in zip(members, texts, profiles, strict=False) if t]
    return FeedPage([m for m, _, _ in kept], [t for _, t, _ in kept], [p for *_, p in kept], cursor)


async def _from_cache(
    db: ReadSession,
    feeds: FeedCache,
    viewer: uuid.UUID,
    week: str,
    after: str | None,
    limit: int,
) -> tuple[list[str], list[str | None], list[bytes | None]] | None:
    """The page as the cache holds it (its members and one beyond, the items' JSON, None for a
    record deleted meanwhile, and the owners' cached profiles), after building what is missing;
    None when the cache cannot prove it is current: a change to someone the viewer follows is
    still queued, or reached the viewer's feed while the page was read (see feed_cache)."""
    head = await feeds.read(viewer, week, after, limit)
    if head.pending and await _pending_affects(await db(), feeds, viewer, week, head.pending):
        return None
    if not head.valid:
        await _rebuild(await db(), feeds, viewer, week, head.graph_version, head.feed_version)
        head = await feeds.read(viewer, week, after, limit)
        if not head.valid:
            return None
    members = head.members
    if head.popular:
        sets, missing = await feeds.read_popular(head.popular, week, after, limit)
        if missing:
            await _build_popular(await db(), feeds, week, missing)
            more, still = await feeds.read_popular(list(missing), week, after, limit)
            if still:
                return None
            sets.update(more)
        members = sorted([*members, *(m for found in sets.values() for m in found)])
    members = members[: limit + 1]
    data = await feeds.read_page(viewer, members[:limit])
    if (data.graph_version, data.feed_version) != (head.graph_version, head.feed_version):
        return None
    items = await _fill_items(db, feeds, members[:limit], data.items)
    return members, items, data.profiles


async def _fill_items(
    db: ReadSession, feeds: FeedCache, members: list[str], found: list[bytes | None]
) -> list[str | None]:
    """The page's records' JSON, loading and caching the ones Redis does not hold (None for a
    record deleted meanwhile); each cached only over what Redis held when the page was read
    (FeedCache.store_items), so JSON read before a change never outlives its fan-out."""
    items: list[str | None] = [
        value.decode() if value is not None and value[:1] == b"{" else None for value in found
    ]
    missing = [i for i, value in enumerate(items) if value is None]
    if missing:
        ids = [parse_member(members[i])[0] for i in missing]
        rows = await repository.by_ids(await db(), ids)
        texts = {r.id: record_json(r) for r in rows}
        seen = dict(zip(ids, (found[i] for i in missing), strict=True))
        await feeds.store_items({r: (seen[r], text) for r, text in texts.items()})
        for i, record_id in zip(missing, ids, strict=True):
            items[i] = texts.get(record_id)
    return items


async def _pending_affects(
    session: AsyncSession, feeds: FeedCache, viewer: uuid.UUID, week: str, pending: list[str]
) -> bool:
    """Whether a change not yet fanned out concerns someone the viewer follows.

    Markers whose job is no longer queued (it ran, or its transaction rolled back) are dropped.
    """
    jobs = {marker: int(marker.split(":")[1]) for marker in pending}
    live = await unfinished(session, list(jobs.values()))
    stale = [marker for marker, job in jobs.items() if job not in live]
    await feeds.clear_pending(week, stale)
    owners = list({uuid.UUID(m.split(":")[0]) for m, job in jobs.items() if job in live})
    return bool(owners) and await social_service.follows_any(session, viewer, owners)


async def _rebuild(
    session: AsyncSession,
    feeds: FeedCache,
    viewer: uuid.UUID,
    week: str,
    graph_version: str,
    feed_version: str,
) -> None:
    """Store the viewer's feed of ordinary followees' nights, read from PostgreSQL after the
    versions were; popular followees' sets are built when a read finds them missing."""
    followees = await social_service.followee_ids(session, viewer)
    popular = await _popular(session, feeds, followees)
    ordinary = list(set(followees) - set(popular))
    # Only what orders the feed; each page's items are cached when first served.
    rows = await repository.week_members(session, ordinary, week)
    await feeds.store_feed(
        viewer,
        week,
        graph_version=graph_version,
        feed_version=feed_version,
        popular=popular,
        members=[member(duration, record_id, owner) for record_id, owner, duration in rows],
    )


async def _popular(
    session: AsyncSession, feeds: FeedCache, owners: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Which owners are popular: the classes fan-out jobs recorded, and a count for the rest.

    Reusing a recorded class is what keeps a feed consistent with the jobs: a job compares the
    owner's class with the recorded one and bumps the followers' graph versions on a flip.
    """
    known = await feeds.known_classes(owners)
    unknown = [o for o in owners if o not in known]
    counted = set(await social_service.popular_among(session, unknown, feeds.fanout_threshold))
    # Only the popular ones are worth recording (few, and followed by many); an unrecorded
    # ordinary owner's next job counts as a flip, which bumps at most its few followers.
    await feeds.record_classes(dict.fromkeys(counted, True))
    return [o for o in owners if known.get(o) or o in counted]


async def _build_popular(
    session: AsyncSession, feeds: FeedCache, week: str, versions: dict[str, str]
) -> None:
    """Store the popular owners' sets for the week, read from PostgreSQL after their set
    versions (`versions`, by owner) were."""
    for owner, version in versions.items():
        owner_id = uuid.UUID(owner)
        rows = await repository.week_members(session, [owner_id], week)
        await feeds.store_popular(
            owner_id, week, version, [member(d, record_id, owner) for record_id, owner, d in rows]
        )


async def _from_database(
    session: AsyncSession,
    viewer: uuid.UUID,
    week: str,
    after: str | None,
    limit: int,
) -> tuple[list[str], list[str]]:
    """The exact page from PostgreSQL, in the same order and with the same cursors."""
    followees = await social_service.followee_ids(session, viewer)
    position = None
    if after is not None:
        record_id, _ = parse_member(after)
        position = (MAX_NIGHT - int(after.split(":")[0]), record_id)
    rows = await repository.week_records(session, followees, week, position, limit + 1)
    return (
        [member(r.duration_seconds or 0, r.id, r.user_id) for r in rows],
        [record_json(r) for r in rows],
    )
