"""Every SQL statement of the social context."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from rhythm.platform.database import stream_rows
from rhythm.social.models import Block, Follow, FollowRequest

FollowSide = Literal["following", "followers"]
RequestSide = Literal["incoming", "sent"]


async def _insert_once(
    session: AsyncSession, model: type[Follow | FollowRequest | Block], **key: uuid.UUID
) -> tuple[datetime, bool]:
    """Insert the row of `key` (its primary key) if absent: (its created_at, whether new)."""
    while True:
        inserted = await session.execute(
            insert(model).values(**key).on_conflict_do_nothing().returning(model.created_at)
        )
        created_at = inserted.scalar_one_or_none()
        if created_at is not None:
            return created_at, True
        existing = await session.execute(select(model.created_at).filter_by(**key))
        found = existing.scalar_one_or_none()
        if found is not None:
            return found, False
        # A concurrent delete removed it between the two statements: insert again.


async def follow(
    session: AsyncSession, follower_id: uuid.UUID, followee_id: uuid.UUID
) -> tuple[datetime, bool]:
    """Insert the follow if absent. Returns (followed_at, created)."""
    return await _insert_once(session, Follow, follower_id=follower_id, followee_id=followee_id)


async def unfollow(session: AsyncSession, follower_id: uuid.UUID, followee_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(Follow)
        .where(Follow.follower_id == follower_id, Follow.followee_id == followee_id)
        .returning(Follow.created_at)
    )
    return result.scalar_one_or_none() is not None


async def request(session: AsyncSession, requester_id: uuid.UUID, target_id: uuid.UUID) -> datetime:
    """Insert the follow request if absent. Its time."""
    requested_at, _ = await _insert_once(
        session, FollowRequest, requester_id=requester_id, target_id=target_id
    )
    return requested_at


async def delete_request(
    session: AsyncSession, requester_id: uuid.UUID, target_id: uuid.UUID
) -> bool:
    result = await session.execute(
        delete(FollowRequest)
        .where(FollowRequest.requester_id == requester_id, FollowRequest.target_id == target_id)
        .returning(FollowRequest.created_at)
    )
    return result.scalar_one_or_none() is not None


async def approve_all(session: AsyncSession, target_id: uuid.UUID) -> list[uuid.UUID]:
    """Turn every request to the user into a follow; the requesters."""
    result = await session.execute(
        text(
            "WITH moved AS (DELETE FROM follow_requests WHERE target_id = :target"
            " RETURNING requester_id)"
            " INSERT INTO follows (follower_id, followee_id)"
            " SELECT requester_id, :target FROM moved ON CONFLICT DO NOTHING"
            " RETURNING follower_id"
        ),
        {"target": target_id},
    )
    return [row[0] for row in result.all()]


async def block(
    session: AsyncSession, blocker_id: uuid.UUID, blocked_id: uuid.UUID
) -> tuple[datetime, bool]:
    """Insert the block if absent. (blocked_at, created)."""
    return await _insert_once(session, Block, blocker_id=blocker_id, blocked_id=blocked_id)


async def unblock(session: AsyncSession, blocker_id: uuid.UUID, blocked_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(Block)
        .where(Block.blocker_id == blocker_id, Block.blocked_id == blocked_id)
        .returning(Block.created_at)
    )
    return result.scalar_one_or_none() is not None


async def block_count(session: AsyncSession, blocker_id: uuid.UUID) -> int:
    result = await session.execute(select(func.count()).where(Block.blocker_id == blocker_id))
    return int(result.scalar_one())


async def sever(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> list[uuid.UUID]:
    """Delete the follows and follow requests between two users, both ways; the followers
    whose follows went."""
    await session.execute(
        delete(FollowRequest).where(
            or_(
                and_(FollowRequest.requester_id == a, FollowRequest.target_id == b),
                and_(FollowRequest.requester_id == b, FollowRequest.target_id == a),
            )
        )
    )
    removed = await session.execute(
        delete(Follow)
        .where(
            or_(
                and_(Follow.follower_id == a, Follow.followee_id == b),
                and_(Follow.follower_id == b, Follow.followee_id == a),
            )
        )
        .returning(Follow.follower_id)
    )
    return list(removed.scalars().all())


def _blocked_between(
    a: InstrumentedAttribute[uuid.UUID] | uuid.UUID, b: uuid.UUID
) -> ColumnElement[bool]:
    """Whether a block stands between `a` and `b`, either way."""
    return exists().where(
        or_(
            and_(Block.blocker_id == a, Block.blocked_id == b),
            and_(Block.blocker_id == b, Block.blocked_id == a),
        )
    )


async def relation(
    session: AsyncSession, viewer_id: uuid.UUID, owner_id: uuid.UUID
) -> tuple[bool, bool]:
    """(whether a block stands between them, whether the viewer follows the owner)."""
    follows = exists().where(Follow.follower_id == viewer_id, Follow.followee_id == owner_id)
    row = (await session.execute(select(_blocked_between(viewer_id, owner_id), follows))).one()
    return bool(row[0]), bool(row[1])


async def follow_state(
    session: AsyncSession, follower_id: uuid.UUID, followee_id: uuid.UUID
) -> tuple[bool, datetime | None]:
    """(whether a block stands between them, when the follower followed the followee)."""
    followed = (
        select(Follow.created_at)
        .where(Follow.follower_id == follower_id, Follow.followee_id == followee_id)
        .scalar_subquery()
    )
    blocked = _blocked_between(follower_id, followee_id)
    row = (await session.execute(select(blocked, followed))).one()
    return bool(row[0]), row[1]


async def blocked_between(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> bool:
    return bool((await session.execute(select(_blocked_between(a, b)))).scalar_one())


async def hidden_from(session: AsyncSession, viewer_id: uuid.UUID) -> list[uuid.UUID]:
    """Everyone a block stands between with the viewer, either way."""
    result = await session.execute(
        select(Block.blocked_id)
        .where(Block.blocker_id == viewer_id)
        .union(select(Block.blocker_id).where(Block.blocked_id == viewer_id))
    )
    return list(result.scalars().all())


async def blocked_by_each(
    session: AsyncSession, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Whom each of the users blocks."""
    found: dict[uuid.UUID, list[uuid.UUID]] = {u: [] for u in user_ids}
    result = await session.execute(
        select(Block.blocker_id, Block.blocked_id).where(Block.blocker_id.in_(user_ids))
    )
    for blocker, blocked in result.all():
        found[blocker].append(blocked)
    return found


async def counts(session: AsyncSession, user_id: uuid.UUID) -> tuple[int, int]:
    """(followers, following), counted from the rows so they are always exact."""
    followers = select(func.count()).where(Follow.followee_id == user_id).scalar_subquery()
    following = select(func.count()).where(Follow.follower_id == user_id).scalar_subquery()
    row = (await session.execute(select(followers, following))).one()
    return int(row[0]), int(row[1])


async def follower_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.execute(select(func.count()).where(Follow.followee_id == user_id))
    return int(result.scalar_one())


async def list_follows(
    session: AsyncSession,
    user_id: uuid.UUID,
    side: FollowSide,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    viewer_id: uuid.UUID | None,
    among: Sequence[uuid.UUID] | None = None,
) -> Sequence[tuple[uuid.UUID, datetime]]:
    """(user, followed at) of who the user follows (`following`) or who follows them
    (`followers`), newest first, after the position `after`; without those a block stands
    between with the viewer; only those of `among` when it is given."""
    if side == "following":
        own, other = Follow.follower_id, Follow.followee_id
    else:
        own, other = Follow.followee_id, Follow.follower_id
    owned = own == user_id if among is None else and_(own == user_id, other.in_(among))
    return await _listed(session, owned, other, Follow.created_at, after, limit, viewer_id)


async def list_requests(
    session: AsyncSession,
    user_id: uuid.UUID,
    side: RequestSide,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[tuple[uuid.UUID, datetime]]:
    """(user, requested at) of the requests to the user (`incoming`) or from them (`sent`),
    newest first."""
    if side == "incoming":
        own, other = FollowRequest.target_id, FollowRequest.requester_id
    else:
        own, other = FollowRequest.requester_id, FollowRequest.target_id
    return await _listed(session, own == user_id, other, FollowRequest.created_at, after, limit)


async def list_blocks(
    session: AsyncSession,
    user_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[tuple[uuid.UUID, datetime]]:
    """(user, blocked at) of whom the user blocks, newest first."""
    return await _listed(
        session, Block.blocker_id == user_id, Block.blocked_id, Block.created_at, after, limit
    )


async def _listed(
    session: AsyncSession,
    owned: ColumnElement[bool],
    other: InstrumentedAttribute[uuid.UUID],
    at: InstrumentedAttribute[datetime],
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    viewer_id: uuid.UUID | None = None,
) -> Sequence[tuple[uuid.UUID, datetime]]:
    stmt = select(other, at).where(owned)
    if viewer_id is not None:
        stmt = stmt.where(~_blocked_between(other, viewer_id))
    if after is not None:
        stmt = stmt.where(tuple_(at, other) < tuple_(*after))
    stmt = stmt.order_by(at.desc(), other.desc()).limit(limit)
    return [(r[0], r[1]) for r in (await session.execute(stmt)).all()]


async def followee_ids(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    result = await session.execute(select(Follow.followee_id).where(Follow.follower_id == user_id))
    return list(result.scalars().all())


async def follower_ids(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    result = await session.execute(select(Follow.follower_id).where(Follow.followee_id == user_id))
    return list(result.scalars().all())


async def popular_among(
    session: AsyncSession, user_ids: list[uuid.UUID], threshold: int
) -> list[uuid.UUID]:
    """Those of `user_ids` with more than `threshold` followers; each count stops at
    threshold + 1 index entries, so ordinary accounts cost little."""
    if not user_ids:
        return []
    result = await session.execute(
        text(
            "SELECT u.id FROM unnest(CAST(:ids AS uuid[])) AS u(id)"
            " WHERE (SELECT count(*) FROM (SELECT 1 FROM follows f WHERE f.followee_id = u.id"
            " LIMIT :limit) s) > :threshold"
        ),
        {"ids": user_ids, "limit": threshold + 1, "threshold": threshold},
    )
    return [row[0] for row in result.all()]


async def follows_any(
    session: AsyncSession, follower_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> bool:
    if not user_ids:
        return False
    result = await session.execute(
        select(Follow.followee_id)
        .where(Follow.follower_id == follower_id, Follow.followee_id.in_(user_ids))
        .limit(1)
    )
    return result.first() is not None


# Exports and imports: rows of one side of the user's pairs (the other user, since when), oldest
# first, through a cursor. (table, the user's column, the other's column) of each.
PAIRS = {
    "following": ("follows", "follower_id", "followee_id"),
    "followers": ("follows", "followee_id", "follower_id"),
    "requests-sent": ("follow_requests", "requester_id", "target_id"),
    "requests-received": ("follow_requests", "target_id", "requester_id"),
    "blocks": ("blocks", "blocker_id", "blocked_id"),
}
PairSide = Literal["following", "followers", "requests-sent", "requests-received", "blocks"]


def pair_rows(
    session: AsyncSession, user_id: uuid.UUID, side: PairSide
) -> AsyncIterator[list[Any]]:
    """(other user, since when) of all the user's pairs on one side, oldest first."""
    table, own, other = PAIRS[side]
    return stream_rows(
        session,
        f"SELECT {other}, created_at FROM {table} WHERE {own} = $1"  # noqa: S608 (constants)
        f" ORDER BY created_at, {other}",
        user_id,
    )


async def has_pairs(session: AsyncSession, user_id: uuid.UUID, side: PairSide) -> bool:
    table, own, _ = PAIRS[side]
    result = await session.execute(
        text(f"SELECT 1 FROM {table} WHERE {own} = :user LIMIT 1"),  # noqa: S608 (constants)
        {"user": user_id},
    )
    return result.first() is not None


MODELS: dict[str, type[Follow | FollowRequest | Block]] = {
    "follows": Follow,
    "follow_requests": FollowRequest,
    "blocks": Block,
}


async def restore(
    session: AsyncSession,
    side: Literal["following", "requests-sent", "blocks"],
    user_id: uuid.UUID,
    pairs: Sequence[tuple[uuid.UUID, datetime]],
) -> list[uuid.UUID]:
    """Insert the user's follows, sent requests or blocks (other user, since) that are not
    there yet; the other users of those inserted."""
    if not pairs:
        return []
    table, own, other = PAIRS[side]
    model = MODELS[table]
    result = await session.execute(
        insert(model)
        .values([{own: user_id, other: o, "created_at": at} for o, at in pairs])
        .on_conflict_do_nothing()
        .returning(getattr(model, other))
    )
    return [row[0] for row in result.all()]
