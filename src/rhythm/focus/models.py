"""Tables of the focus context."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.sql.naming import conv

from rhythm.identity.models import user_fk
from rhythm.platform.bounds import StoredInstant
from rhythm.platform.database import Base, CreatedAt


class FocusSession(Base):
    """One focus session as the client sent it, with the answer it got (for replays)."""

    __tablename__ = "focus_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = user_fk()
    session_id: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(StoredInstant)
    ended_at: Mapped[datetime] = mapped_column(StoredInstant)
    timezone: Mapped[str] = mapped_column(String(64))
    # The body of the 201 that created the session: an identical replay gets it again.
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[CreatedAt]

    __table_args__ = (
        UniqueConstraint("user_id", "session_id", name="uq_focus_sessions_user_session"),
        CheckConstraint("ended_at > started_at", name="positive"),
        CheckConstraint("ended_at - started_at <= interval '24 hours'", name="at_most_a_day"),
        Index("ix_focus_sessions_user_recent", "user_id", started_at.desc(), id.desc()),
    )


class FocusSessionPart(Base):
    """The piece of a session on one local date of its own zone (two pieces can share a date
    where a fall-back crosses midnight)."""

    __tablename__ = "focus_session_parts"

    session_pk: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("focus_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    started_at: Mapped[datetime] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    user_id: Mapped[uuid.UUID] = mapped_column()
    ended_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("ended_at > started_at", name="positive"),
        Index("ix_focus_session_parts_user_day", "user_id", "day"),
    )


class FocusDay(Base):
    """A user's focused time on one date: the union of that date's parts, in microseconds."""

    __tablename__ = "focus_days"

    user_id: Mapped[uuid.UUID] = user_fk(primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    micros: Mapped[int] = mapped_column(BigInteger)

    # Named by PostgreSQL, as the migration declares it on the column.
    __table_args__ = (CheckConstraint("micros > 0", name=conv("focus_days_micros_check")),)


class FocusStreak(Base):
    """streaks.Anchor of a user, recalculated in the transaction of every session change."""

    __tablename__ = "focus_streaks"

    user_id: Mapped[uuid.UUID] = user_fk(primary_key=True)
    last_qualified: Mapped[date | None] = mapped_column(Date)
    run: Mapped[int] = mapped_column(Integer)
    freezes: Mapped[int] = mapped_column(Integer)
    longest: Mapped[int] = mapped_column(Integer)
    qualified_days: Mapped[int] = mapped_column(Integer)
    # The threshold the anchor was computed with; another setting means recalculating.
    threshold_minutes: Mapped[int] = mapped_column(Integer)
    # Bumped by every change; the Redis standings never accept an older version.
    version: Mapped[int] = mapped_column(BigInteger)
