"""Business rules of the follow graph."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.identity import service as identity_service
from rhythm.platform.errors import NotFound, Unprocessable
from rhythm.platform.pagination import PageRequest
from rhythm.social import repository
from rhythm.social.schemas import FollowRecord

# What other contexts do when a user's followees change (before commit; a listener may add
# after-commit actions). Called with the follower's id. The app factory and the worker register
# them (jobs.connect_contexts), never an import.
FollowsChanged = Callable[[AsyncSession, Redis, uuid.UUID], Awaitable[None]]
_follow_listeners: list[FollowsChanged] = []


def on_follows_changed(listener: FollowsChanged) -> None:
    if listener not in _follow_listeners:
        _follow_listeners.append(listener)


def follows_listeners() -> list[FollowsChanged]:
    """The registered listeners, in the order they run."""
    return list(_follow_listeners)


async def _follows_changed(session: AsyncSession, redis: Redis, follower_id: uuid.UUID) -> None:
    for listener in _follow_listeners:
        await listener(session, redis, follower_id)


class CannotFollowSelf(Unprocessable):
    slug = "cannot-follow-self"
    title = "Cannot follow yourself"


class NotFollowing(NotFound):
    slug = "not-following"
    title = "Not following"


@dataclass(frozen=True)
class FollowEntry:
    id: uuid.UUID
    name: str
    followed_at: datetime


@dataclass(frozen=True)
class Profile:
    id: uuid.UUID
    name: str
    followers_count: int
    following_count: int


async def follow(
    session: AsyncSession, redis: Redis, follower_id: uuid.UUID, followee_id: uuid.UUID
) -> tuple[str, datetime, bool]:
    """Follow a user. Returns (their name, followed_at, whether the follow is new)."""
    if follower_id == followee_id:
        raise CannotFollowSelf("You cannot follow yourself.", field="user_id")
    followee = await identity_service.get_user(session, followee_id)
    try:
        async with session.begin_nested():
            followed_at, created = await repository.follow(session, follower_id, followee_id)
    except IntegrityError:
        # The followee was deleted while we were inserting.
        raise identity_service.UserNotFound(f"No user {followee_id}.") from None
    if created:
        await _follows_changed(session, redis, follower_id)
    return followee.name, followed_at, created


async def unfollow(
    session: AsyncSession, redis: Redis, follower_id: uuid.UUID, followee_id: uuid.UUID
) -> None:
    if not await repository.unfollow(session, follower_id, followee_id):
        raise NotFollowing(f"You are not following {followee_id}.")
    await _follows_changed(session, redis, follower_id)


async def profile(session: AsyncSession, user_id: uuid.UUID) -> Profile:
    user = await identity_service.get_user(session, user_id)
    followers, following = await repository.counts(session, user_id)
    return Profile(user.id, user.name, followers, following)


async def _entries(
    session: AsyncSession, rows: Sequence[tuple[uuid.UUID, datetime]]
) -> list[FollowEntry]:
    names = await identity_service.user_names(session, [r[0] for r in rows])
    return [FollowEntry(uid, names[uid], at) for uid, at in rows if uid in names]


async def following(
    session: AsyncSession,
    user_id: uuid.UUID,
    page: PageRequest,
    among: Sequence[uuid.UUID] | None = None,
) -> tuple[list[FollowEntry], str | None]:
    """Who the user follows, newest first; only those of `among` when it is given (which of
    a few people the user follows)."""
    return await _follow_list(session, user_id, page, "following", among)


async def followers(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> tuple[list[FollowEntry], str | None]:
    """Who follows the user, newest first."""
    return await _follow_list(session, user_id, page, "followers")


async def _follow_list(
    session: AsyncSession,
    user_id: uuid.UUID,
    page: PageRequest,
    kind: repository.FollowSide,
    among: Sequence[uuid.UUID] | None = None,
) -> tuple[list[FollowEntry], str | None]:
    await identity_service.ensure_user_exists(session, user_id)
    after = page.instant_position(kind)
    rows = await repository.list_follows(session, user_id, kind, after, page.limit + 1, among)
    kept, cursor = page.instant_page(kind, list(rows), lambda r: (r[1], r[0]))
    return await _entries(session, kept), cursor


async def followee_ids(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    return await repository.followee_ids(session, user_id)


async def follower_ids(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    return await repository.follower_ids(session, user_id)


async def follower_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    return await repository.follower_count(session, user_id)


async def popular_among(
    session: AsyncSession, user_ids: list[uuid.UUID], threshold: int
) -> list[uuid.UUID]:
    """Those of `user_ids` with more than `threshold` followers."""
    return await repository.popular_among(session, user_ids, threshold)


async def follows_any(
    session: AsyncSession, follower_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> bool:
    return await repository.follows_any(session, follower_id, user_ids)


# Export and import of an account (portability) ---------------------------------------------------


async def _named(session: AsyncSession, rows: AsyncIterator[list[Any]]) -> AsyncIterator[list[Any]]:
    async for batch in rows:
        names = await identity_service.user_names(session, [row[0] for row in batch])
        # An account erased while the export runs is not in its snapshot's follows either.
        yield [(row[0], names[row[0]], row[1]) for row in batch if row[0] in names]


def export_following(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """Who the user follows, oldest first, as FollowRecord's fields."""
    return _named(session, repository.follow_rows(session, user_id, "following"))


def export_followers(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """Who follows the user, oldest first, as FollowRecord's fields."""
    return _named(session, repository.follow_rows(session, user_id, "followers"))


async def follows_anyone(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return await repository.follows_anyone(session, user_id)


async def import_following(
    session: AsyncSession, redis: Redis, user_id: uuid.UUID, records: Sequence[FollowRecord]
) -> int:
    """Follow again the accounts of exported follows, since their time, where the account
    still exists (and is not the user); how many follows were made. The others are skipped."""
    names = await identity_service.user_names(session, [r.user_id for r in records])
    wanted = {
        r.user_id: r.followed_at for r in records if r.user_id in names and r.user_id != user_id
    }
    made = await repository.restore_follows(session, user_id, list(wanted.items()))
    if made:
        await _follows_changed(session, redis, user_id)
    return made
