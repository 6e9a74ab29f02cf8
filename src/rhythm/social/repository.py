"""Every SQL statement of the social context."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.platform.database import stream_rows
from rhythm.social.models import Follow

FollowSide = Literal["following", "followers"]


async def follow(
    session: AsyncSession, follower_id: uuid.UUID, followee_id: uuid.UUID
) -> tuple[datetime, bool]:
    """Insert the follow if absent. Returns (followed_at, created)."""
    inserted = await session.execute(
        insert(Follow)
        .values(follower_id=follower_id, followee_id=followee_id)
        .on_conflict_do_nothing()
        .returning(Follow.created_at)
    )
    created_at = inserted.scalar_one_or_none()
    if created_at is not None:
        return created_at, True
    existing = await session.execute(
        select(Follow.created_at).where(
            Follow.follower_id == follower_id, Follow.followee_id == followee_id
        )
    )
    found = existing.scalar_one_or_none()
    if found is None:
        # A concurrent unfollow removed it between the two statements: insert again.
        return await follow(session, follower_id, followee_id)
    return found, False


async def unfollow(session: AsyncSession, follower_id: uuid.UUID, followee_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(Follow)
        .where(Follow.follower_id == follower_id, Follow.followee_id == followee_id)
        .returning(Follow.created_at)
    )
    return result.scalar_one_or_none() is not None


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
    among: Sequence[uuid.UUID] | None = None,
) -> Sequence[tuple[uuid.UUID, datetime]]:
    """(user, followed at) of who the user follows (`following`) or who follows them
    (`followers`), newest first, after the position `after`; only those of `among` when it is
    given."""
    if side == "following":
        own, other = Follow.follower_id, Follow.followee_id
    else:
        own, other = Follow.followee_id, Follow.follower_id
    stmt = select(other, Follow.created_at).where(own == user_id)
    if among is not None:
        stmt = stmt.where(other.in_(among))
    if after is not None:
        stmt = stmt.where(tuple_(Follow.created_at, other) < tuple_(*after))
    stmt = stmt.order_by(Follow.created_at.desc(), other.desc()).limit(limit)
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


def follow_rows(
    session: AsyncSession, user_id: uuid.UUID, side: FollowSide
) -> AsyncIterator[list[Any]]:
    """(other user, followed at) of all the user's follows on one side, oldest first."""
    own, other = (
        ("follower_id", "followee_id") if side == "following" else ("followee_id", "follower_id")
    )
    return stream_rows(
        session,
        f"SELECT {other}, created_at FROM follows WHERE {own} = $1"  # noqa: S608 (constants)
        f" ORDER BY created_at, {other}",
        user_id,
    )


async def follows_anyone(session: AsyncSession, follower_id: uuid.UUID) -> bool:
    result = await session.execute(
        select(Follow.followee_id).where(Follow.follower_id == follower_id).limit(1)
    )
    return result.first() is not None


async def restore_follows(
    session: AsyncSession, follower_id: uuid.UUID, follows: Sequence[tuple[uuid.UUID, datetime]]
) -> int:
    """Insert the follower's follows (followee, since) that are not there yet; how many."""
    if not follows:
        return 0
    result = await session.execute(
        insert(Follow)
        .values(
            [{"follower_id": follower_id, "followee_id": f, "created_at": at} for f, at in follows]
        )
        .on_conflict_do_nothing()
        .returning(Follow.followee_id)
    )
    return len(result.all())
