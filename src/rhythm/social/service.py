"""Business rules of the follow graph and of privacy: who follows whom, the requests to follow
private accounts, blocks, and who may see whose data.

The rules every read of another user's data obeys (`ensure_readable`, `may_see`):
- a block, either way, hides each user from the other: their profiles, lists and data are 404s;
- a public account's data is anyone's to see; a private account's only its approved
  followers' (and its own). Until approved, a requester is a stranger.

A follow, request or approval is decided with the followee's user row share-locked, and a block
with both users' rows locked against that: a block never misses a follow being made, nor a
change of visibility (which approves every pending request when it becomes public) a request.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import structlog
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.identity import service as identity_service
from rhythm.identity.principal import PRIVATE, PUBLIC, Visibility
from rhythm.platform.database import ReadSession, after_commit
from rhythm.platform.errors import Conflict, NotFound, Unprocessable
from rhythm.platform.pagination import PageRequest
from rhythm.platform.redis import RedisClient
from rhythm.social import repository
from rhythm.social.blocks_cache import (
    BLOCKED,
    BLOCKS_LUA,
    NOT_BLOCKED,
    BlocksCache,
    blocking_key,
)
from rhythm.social.blocks_cache import block_state as combined_block_state

log = structlog.get_logger("rhythm.social")

# How many users one account may block: a bound on what its blocks cost to read and cache.
MAX_BLOCKS = 10_000

# What other contexts do when users' followees change (before commit; a listener may add
# after-commit actions). Called with the followers' ids. The app factory and the worker register
# them (jobs.connect_contexts), never an import.
FollowsChanged = Callable[[AsyncSession, RedisClient, Sequence[uuid.UUID]], Awaitable[None]]
_follow_listeners: list[FollowsChanged] = []


def on_follows_changed(listener: FollowsChanged) -> None:
    if listener not in _follow_listeners:
        _follow_listeners.append(listener)


def follows_listeners() -> list[FollowsChanged]:
    """The registered listeners, in the order they run."""
    return list(_follow_listeners)


async def follows_changed(
    session: AsyncSession, redis: RedisClient, follower_ids: Sequence[uuid.UUID]
) -> None:
    """Tell the listeners that these users' followees changed (in this transaction)."""
    if not follower_ids:
        return
    for listener in _follow_listeners:
        await listener(session, redis, follower_ids)


class CannotFollowSelf(Unprocessable):
    slug = "cannot-follow-self"
    title = "Cannot follow yourself"


class NotFollowing(NotFound):
    slug = "not-following"
    title = "Not following"


class FollowRequestNotFound(NotFound, what="Follow request"):
    """The user has not asked to follow the caller (or the request was answered)."""


class CannotBlockSelf(Unprocessable):
    slug = "cannot-block-self"
    title = "Cannot block yourself"


class NotBlocking(NotFound):
    slug = "not-blocking"
    title = "Not blocking"


class TooManyBlocks(Conflict):
    slug = "too-many-blocks"
    title = "Too many blocks"


class Followed(Enum):
    """What following a user did."""

    CREATED = "created"  # a new follow (a public account)
    EXISTING = "existing"  # already following
    REQUESTED = "requested"  # a private account: a request, new or pending


@dataclass(frozen=True)
class Entry:
    """A user in one of the lists (followers, following, requests, blocks), and since when."""

    id: uuid.UUID
    name: str
    at: datetime


@dataclass(frozen=True)
class Profile:
    id: uuid.UUID
    name: str
    visibility: Visibility
    followers_count: int
    following_count: int


def _unknown_user(user_id: uuid.UUID) -> identity_service.UserNotFound:
    """What a user hidden from the caller answers: the 404 of an id nobody has."""
    return identity_service.UserNotFound(f"No user {user_id}.")


# Following -------------------------------------------------------------------------------------


async def follow(
    session: AsyncSession, redis: RedisClient, follower_id: uuid.UUID, followee_id: uuid.UUID
) -> tuple[str, datetime, Followed]:
    """Follow a user, or ask to when their account is private. Returns (their name, when
    followed or requested, what happened). A user a block stands between is a 404."""
    if follower_id == followee_id:
        raise CannotFollowSelf("You cannot follow yourself.", field="user_id")
    followee = await identity_service.get_user_for_share(session, followee_id)
    blocked, followed_at = await repository.follow_state(session, follower_id, followee_id)
    if blocked:
        raise _unknown_user(followee_id)
    if followed_at is not None:
        return followee.name, followed_at, Followed.EXISTING
    if followee.visibility == PRIVATE:
        requested_at = await repository.request(session, follower_id, followee_id)
        return followee.name, requested_at, Followed.REQUESTED
    try:
        async with session.begin_nested():
            followed_at, created = await repository.follow(session, follower_id, followee_id)
    except IntegrityError:
        # The follower was deleted while we were inserting.
        raise _unknown_user(followee_id) from None
    if created:
        await follows_changed(session, redis, [follower_id])
    return followee.name, followed_at, Followed.CREATED if created else Followed.EXISTING


async def unfollow(
    session: AsyncSession, redis: RedisClient, follower_id: uuid.UUID, followee_id: uuid.UUID
) -> None:
    """Stop following a user, or cancel the request to follow them."""
    if await repository.unfollow(session, follower_id, followee_id):
        await follows_changed(session, redis, [follower_id])
    elif not await repository.delete_request(session, follower_id, followee_id):
        raise NotFollowing(f"You are not following {followee_id}, nor asking to.")


async def approve(
    session: AsyncSession, redis: RedisClient, owner_id: uuid.UUID, requester_id: uuid.UUID
) -> tuple[str, datetime]:
    """Turn a request to follow the owner into a follow: (the requester's name, followed at)."""
    await identity_service.get_user_for_share(session, owner_id)
    if not await repository.delete_request(session, requester_id, owner_id):
        raise FollowRequestNotFound(f"{requester_id} has not asked to follow you.")
    followed_at, _ = await repository.follow(session, requester_id, owner_id)
    await follows_changed(session, redis, [requester_id])
    names = await identity_service.user_names(session, [requester_id])
    return names[requester_id], followed_at


async def decline(session: AsyncSession, owner_id: uuid.UUID, requester_id: uuid.UUID) -> None:
    if not await repository.delete_request(session, requester_id, owner_id):
        raise FollowRequestNotFound(f"{requester_id} has not asked to follow you.")


async def visibility_changed(
    session: AsyncSession, redis: RedisClient, user_id: uuid.UUID, visibility: Visibility
) -> None:
    """identity's listener: an account that became public has its pending requests approved
    (one that became private keeps its followers). The account's row is locked by the change,
    so no request is being made meanwhile."""
    if visibility == PUBLIC:
        await follows_changed(session, redis, await repository.approve_all(session, user_id))


# Blocking --------------------------------------------------------------------------------------


async def block(
    session: AsyncSession, redis: RedisClient, blocker_id: uuid.UUID, blocked_id: uuid.UUID
) -> tuple[str, datetime, bool]:
    """Block a user: the follows and requests between the two go, both ways, and neither sees
    the other any more. Returns (their name, blocked at, whether the block is new)."""
    if blocker_id == blocked_id:
        raise CannotBlockSelf("You cannot block yourself.", field="user_id")
    # Both rows locked: a follow, request or approval between the two (each share-locks the
    # followee), or a change of either account's visibility (which approves its requests),
    # waits for this block, or this block for it.
    users = await identity_service.lock_users(session, [blocker_id, blocked_id])
    blocked_at, created = await repository.block(session, blocker_id, blocked_id)
    if created and await repository.block_count(session, blocker_id) > MAX_BLOCKS:
        raise TooManyBlocks(f"An account may block at most {MAX_BLOCKS:,} users.")
    if created:
        severed = await repository.sever(session, blocker_id, blocked_id)
        await follows_changed(session, redis, severed)
        await blocks_changed(session, redis, blocker_id)
    return users[blocked_id].name, blocked_at, created


async def unblock(
    session: AsyncSession, redis: RedisClient, blocker_id: uuid.UUID, blocked_id: uuid.UUID
) -> None:
    """Lift a block. Follows it removed are not restored."""
    if not await repository.unblock(session, blocker_id, blocked_id):
        raise NotBlocking(f"You are not blocking {blocked_id}.")
    await blocks_changed(session, redis, blocker_id)


async def blocks_changed(session: AsyncSession, redis: RedisClient, blocker_id: uuid.UUID) -> None:
    """Drop the blocker's cached blocks now (no reader fills them from the old rows while the
    transaction runs) and again after commit (none filled in between survives)."""
    cache = BlocksCache(redis)

    async def invalidate() -> None:
        await cache.invalidate(blocker_id)

    try:
        await invalidate()
    except RedisError as exc:
        log.warning("blocks_cache_unavailable", error=str(exc))
    after_commit(session, invalidate)


def blocks_lua() -> str:
    """A Lua fragment for other contexts' scripts that decide who may see whom in the same
    round trip: it defines `blocks(key, other)`, what one user's cached blocks (at
    `blocks_key(user)`, passed in the script's KEYS, so the call stays in that user's slot)
    say of `other`: 1 blocked, 0 not, -1 not cached. Read both sides, each in its user's slot,
    combine them with `block_state_of` and hand the answer to `may_see`."""
    return BLOCKS_LUA


def blocks_key(user_id: uuid.UUID) -> str:
    """The key of whom a user blocks, for a script including `blocks_lua`."""
    return blocking_key(user_id)


def block_state_of(*sides: int) -> int:
    """Whether a block stands between two users, from both sides' `blocks` answers."""
    return combined_block_state(*sides)


# Who sees what ---------------------------------------------------------------------------------


async def visible_user(
    session: AsyncSession, viewer_id: uuid.UUID | None, user_id: uuid.UUID
) -> identity_service.Card:
    """The user, unless a block stands between them and the viewer (then a 404, as for an id
    nobody has). Their profile, not their data: see `ensure_readable`."""
    user = await identity_service.get_card(session, user_id)
    if (
        viewer_id is not None
        and viewer_id != user_id
        and await repository.blocked_between(session, viewer_id, user_id)
    ):
        raise _unknown_user(user_id)
    return user


async def ensure_readable(
    session: AsyncSession, viewer_id: uuid.UUID | None, owner_id: uuid.UUID
) -> None:
    """Nothing, when the viewer (None: anonymous) may see the owner's data: not blocked
    either way, and the account public or followed by the viewer. Else the 404 of an id
    nobody has."""
    owner = await identity_service.get_card(session, owner_id)
    if viewer_id == owner_id:
        return
    if viewer_id is None:
        if owner.visibility == PRIVATE:
            raise _unknown_user(owner_id)
        return
    blocked, following = await repository.relation(session, viewer_id, owner_id)
    if blocked or (owner.visibility == PRIVATE and not following):
        raise _unknown_user(owner_id)


async def may_see(
    db: ReadSession,
    redis: RedisClient,
    viewer_id: uuid.UUID,
    owner: identity_service.Card,
    block_state: int,
) -> bool:
    """Whether the viewer may see the owner's data, as `ensure_readable` decides, for a read
    that answers from Redis: `block_state` is what `block_state_of` made of the `blocks`
    answers (`blocks_lua`) for both of them in the caller's scripts, and PostgreSQL is asked
    only when it cannot decide (a private account, or blocks not cached: they are cached
    again)."""
    if viewer_id == owner.id or block_state == BLOCKED:
        return viewer_id == owner.id
    if block_state == NOT_BLOCKED and owner.visibility == PUBLIC:
        return True
    session = await db()
    if block_state != NOT_BLOCKED:
        await _cache_blocks(session, redis, [viewer_id, owner.id])
    blocked, following = await repository.relation(session, viewer_id, owner.id)
    return not blocked and (owner.visibility == PUBLIC or following)


async def _cache_blocks(
    session: AsyncSession, redis: RedisClient, user_ids: list[uuid.UUID]
) -> None:
    cache = BlocksCache(redis)
    try:
        versions = await cache.versions(user_ids)
        await cache.store(versions, await repository.blocked_by_each(session, user_ids))
    except RedisError as exc:
        log.warning("blocks_cache_unavailable", error=str(exc))


async def hidden_from(session: AsyncSession, viewer_id: uuid.UUID) -> list[uuid.UUID]:
    """The users hidden from the viewer (and the viewer from them): a block stands between."""
    return await repository.hidden_from(session, viewer_id)


async def profile(
    session: AsyncSession, viewer_id: uuid.UUID | None, user_id: uuid.UUID
) -> Profile:
    user = await visible_user(session, viewer_id, user_id)
    followers, following_count = await repository.counts(session, user_id)
    return Profile(user.id, user.name, user.visibility, followers, following_count)


# Lists -----------------------------------------------------------------------------------------


async def _entries(
    session: AsyncSession, rows: Sequence[tuple[uuid.UUID, datetime]]
) -> list[Entry]:
    names = await identity_service.user_names(session, [r[0] for r in rows])
    return [Entry(uid, names[uid], at) for uid, at in rows if uid in names]


async def following(
    session: AsyncSession,
    viewer_id: uuid.UUID | None,
    user_id: uuid.UUID,
    page: PageRequest,
    among: Sequence[uuid.UUID] | None = None,
) -> tuple[list[Entry], str | None]:
    """Who the user follows, newest first, as the viewer may see it; only those of `among`
    when it is given (which of a few people the user follows)."""
    return await _follow_list(session, viewer_id, user_id, page, "following", among)


async def followers(
    session: AsyncSession, viewer_id: uuid.UUID | None, user_id: uuid.UUID, page: PageRequest
) -> tuple[list[Entry], str | None]:
    """Who follows the user, newest first, as the viewer may see it."""
    return await _follow_list(session, viewer_id, user_id, page, "followers")


async def _follow_list(
    session: AsyncSession,
    viewer_id: uuid.UUID | None,
    user_id: uuid.UUID,
    page: PageRequest,
    kind: repository.FollowSide,
    among: Sequence[uuid.UUID] | None = None,
) -> tuple[list[Entry], str | None]:
    """A follow list of the user, when the viewer may see it (`ensure_readable`), without the
    users a block stands between with the viewer."""
    await ensure_readable(session, viewer_id, user_id)
    after = page.instant_position(kind)
    rows = await repository.list_follows(
        session, user_id, kind, after, page.limit + 1, viewer_id, among
    )
    kept, cursor = page.instant_page(kind, list(rows), lambda r: (r[1], r[0]))
    return await _entries(session, kept), cursor


async def requests(
    session: AsyncSession, user_id: uuid.UUID, side: repository.RequestSide, page: PageRequest
) -> tuple[list[Entry], str | None]:
    """The requests to follow the user (`incoming`) or that the user made (`sent`), newest
    first."""
    kind = f"follow-requests-{side}"
    after = page.instant_position(kind)
    rows = await repository.list_requests(session, user_id, side, after, page.limit + 1)
    kept, cursor = page.instant_page(kind, list(rows), lambda r: (r[1], r[0]))
    return await _entries(session, kept), cursor


async def blocks(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> tuple[list[Entry], str | None]:
    """Whom the user blocks, newest first."""
    after = page.instant_position("blocks")
    rows = await repository.list_blocks(session, user_id, after, page.limit + 1)
    kept, cursor = page.instant_page("blocks", list(rows), lambda r: (r[1], r[0]))
    return await _entries(session, kept), cursor


# For other contexts ----------------------------------------------------------------------------


async def followee_ids(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Whom the user follows. Followees are the only users whose data the user's feeds,
    rankings and leaderboards show: a requester is no followee until approved, and a block
    removes the follows between two users."""
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
