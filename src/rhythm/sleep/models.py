"""Tables of the sleep context."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from rhythm.platform.bounds import StoredInstant
from rhythm.platform.database import Base


class SleepRecord(Base):
    """One night. Open (`wake_at` null) while the user sleeps.

    The migration adds what the ORM cannot say: at most one open record per user (a partial
    unique index) and no two records of a user overlapping (an exclusion constraint on
    `tstzrange(sleep_at, wake_at)`, where an open record extends to infinity).
    """

    __tablename__ = "sleep_records"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sleep_at: Mapped[datetime] = mapped_column(StoredInstant)
    wake_at: Mapped[datetime | None] = mapped_column(StoredInstant)
    sleep_timezone: Mapped[str] = mapped_column(String(64))
    wake_timezone: Mapped[str | None] = mapped_column(String(64))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    # ISO week of the local bedtime date, e.g. 2026-W46.
    week: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
