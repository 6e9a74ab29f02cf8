"""Tables of the usage context."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from rhythm.platform.database import Base


class UsageBucket(Base):
    """One source of a user's usage (a device or an ActivityWatch watcher): an AW bucket."""

    __tablename__ = "usage_buckets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256))  # the AW bucket id, or the v1 `source`
    type: Mapped[str] = mapped_column(String(128))
    client: Mapped[str] = mapped_column(String(256))
    hostname: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UsageEvent(Base):
    """An interval of a bucket: merged heartbeats, or an event inserted as is.

    The migration adds the exclusion constraint: a bucket's intervals never overlap.
    """

    __tablename__ = "usage_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    bucket_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("usage_buckets.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column()
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Derived from `data` for the types reports read (currentwindow, web.tab.current).
    app: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    domain: Mapped[str | None] = mapped_column(Text)
