"""Tables of the social context: follows, follow requests (to private accounts) and blocks."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, Index
from sqlalchemy.orm import Mapped

from rhythm.identity.models import user_fk
from rhythm.platform.database import Base, CreatedAt


class Follow(Base):
    __tablename__ = "follows"

    follower_id: Mapped[uuid.UUID] = user_fk(primary_key=True)
    followee_id: Mapped[uuid.UUID] = user_fk(primary_key=True)
    created_at: Mapped[CreatedAt]

    __table_args__ = (
        CheckConstraint("follower_id <> followee_id", name="not_self"),
        Index("ix_follows_following", "follower_id", "created_at", "followee_id"),
        Index("ix_follows_followers", "followee_id", "created_at", "follower_id"),
    )


class FollowRequest(Base):
    """A follow of a private account that its owner has not approved (or declined) yet."""

    __tablename__ = "follow_requests"

    requester_id: Mapped[uuid.UUID] = user_fk(primary_key=True)
    target_id: Mapped[uuid.UUID] = user_fk(primary_key=True)
    created_at: Mapped[CreatedAt]

    __table_args__ = (
        CheckConstraint("requester_id <> target_id", name="not_self"),
        Index("ix_follow_requests_sent", "requester_id", "created_at", "target_id"),
        Index("ix_follow_requests_incoming", "target_id", "created_at", "requester_id"),
    )


class Block(Base):
    """The blocker sees nothing of the blocked user, and the blocked user nothing of the
    blocker; neither may follow the other."""

    __tablename__ = "blocks"

    blocker_id: Mapped[uuid.UUID] = user_fk(primary_key=True)
    blocked_id: Mapped[uuid.UUID] = user_fk(primary_key=True)
    created_at: Mapped[CreatedAt]

    __table_args__ = (
        CheckConstraint("blocker_id <> blocked_id", name="not_self"),
        Index("ix_blocks_listed", "blocker_id", "created_at", "blocked_id"),
        Index("ix_blocks_blocked", "blocked_id", "blocker_id"),
    )
