"""Tables of the social context."""

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
