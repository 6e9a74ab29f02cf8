"""Tables of the sleep context."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import CheckConstraint, Index, Integer, SmallInteger, String, text
from sqlalchemy.dialects.postgresql import ARRAY, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rhythm.identity.models import user_fk
from rhythm.platform.bounds import StoredInstant
from rhythm.platform.database import Base, CreatedAt

# The longest night a record may hold (the at_most_a_day constraint below).
LONGEST_NIGHT = timedelta(hours=24)
# The owner's private notes on a night (never shown to followers): a rating of 1 to 5, at most
# MAX_TAGS tags of at most TAG_LENGTH characters, a note of at most NOTE_LENGTH characters.
LOWEST_RATING, HIGHEST_RATING = 1, 5
MAX_TAGS = 10
TAG_LENGTH = 32
NOTE_LENGTH = 1000


class SleepRecord(Base):
    """One night. Open (`wake_at` null) while the user sleeps. `rating`, `tags` and `note` are
    the owner's alone: the followings feed and the rankings never carry them.

    At most one open record per user (a partial unique index), and no two records of a user
    overlap (an exclusion constraint on `tstzrange(sleep_at, wake_at)`, where an open record
    extends to infinity).
    """

    __tablename__ = "sleep_records"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = user_fk()
    sleep_at: Mapped[datetime] = mapped_column(StoredInstant)
    wake_at: Mapped[datetime | None] = mapped_column(StoredInstant)
    sleep_timezone: Mapped[str] = mapped_column(String(64))
    wake_timezone: Mapped[str | None] = mapped_column(String(64))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    # ISO week of the local bedtime date, e.g. 2026-W46.
    week: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[CreatedAt]
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(TAG_LENGTH)), server_default=text("'{}'"))
    note: Mapped[str | None] = mapped_column(String(NOTE_LENGTH))

    __table_args__ = (
        CheckConstraint(
            "(wake_at IS NULL AND wake_timezone IS NULL AND duration_seconds IS NULL)"
            " OR (wake_at IS NOT NULL AND wake_timezone IS NOT NULL"
            " AND duration_seconds IS NOT NULL)",
            name="completed_fields",
        ),
        CheckConstraint("wake_at IS NULL OR wake_at > sleep_at", name="positive"),
        CheckConstraint(
            "wake_at IS NULL OR wake_at - sleep_at <= interval '24 hours'", name="at_most_a_day"
        ),
        CheckConstraint(f"rating BETWEEN {LOWEST_RATING} AND {HIGHEST_RATING}", name="rating"),
        CheckConstraint(f"cardinality(tags) <= {MAX_TAGS}", name="tags"),
        ExcludeConstraint(
            (user_id, "="),
            (text("tstzrange(sleep_at, wake_at, '[)')"), "&&"),
            name="ex_sleep_records_no_overlap",
            using="gist",
        ),
        Index(
            "uq_sleep_records_one_open",
            "user_id",
            unique=True,
            postgresql_where=wake_at.is_(None),
        ),
        Index("ix_sleep_records_user_recent", "user_id", sleep_at.desc(), id.desc()),
        Index(
            "ix_sleep_records_user_week",
            "user_id",
            "week",
            duration_seconds.desc(),
            "id",
            postgresql_where=wake_at.is_not(None),
        ),
    )
