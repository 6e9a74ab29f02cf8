"""Tables of the usage context."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CheckConstraint, ForeignKey, Identity, Index, UniqueConstraint

from rhythm.identity.models import user_fk
from rhythm.platform.database import Base, CreatedAt


class UsageBucket(Base):
    """One source of a user's usage (a device or an ActivityWatch watcher): an AW bucket."""

    __tablename__ = "usage_buckets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = user_fk()
    name: Mapped[str] = mapped_column(String(256))  # the AW bucket id, or the v1 `source`
    type: Mapped[str] = mapped_column(String(128))
    client: Mapped[str] = mapped_column(String(256))
    hostname: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[CreatedAt]

    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_usage_buckets_user_name"),)


class UsageEvent(Base):
    """An interval of a bucket: merged heartbeats, or an event inserted as is. A bucket's
    intervals never overlap. The table is partitioned by month of `starts_at` (UTC; migration
    0012, docs/scaling.md): each partition holds the exclusion constraint (user, bucket, span
    &&), whose GiST index also serves the reads by user and span, and UsageEventCrossing with
    the tables' triggers keeps the rule across partitions. Partitions are not models: they are
    made by rhythm_month_partitions (platform.partitions)."""

    __tablename__ = "usage_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    bucket_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("usage_buckets.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column()
    starts_at: Mapped[datetime] = mapped_column(primary_key=True)
    ends_at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Derived from `data` for the types reports read (currentwindow, web.tab.current).
    app: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    domain: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("ends_at >= starts_at", name="ordered"),
        Index("ix_usage_events_bucket_recent", "bucket_pk", starts_at.desc(), id.desc()),
        {"postgresql_partition_by": "RANGE (starts_at)"},
    )


class UsageEventCrossing(Base):
    """The span of an event that reaches past the end of the (UTC) month it starts in, kept by
    usage_events' triggers. Two overlapping events of different partitions start in different
    months, so the earlier one is here: the triggers check a written event against these
    (and a crossing one against the later months' events), under the bucket's lock."""

    __tablename__ = "usage_event_crossings"

    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[uuid.UUID] = mapped_column()
    bucket_pk: Mapped[uuid.UUID] = mapped_column()
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime]

    __table_args__ = (
        ExcludeConstraint(
            (user_id, "="),
            (bucket_pk, "="),
            (text("tstzrange(starts_at, ends_at, '[)')"), "&&"),
            name="ex_usage_event_crossings_no_overlap",
            using="gist",
        ),
    )


class UsageCategory(Base):
    """A user's category rule, as aw-webui keeps them: a name path and its regex rule.
    Reports categorize events when they are read (usage.categories), so a rule applies to
    past days at once."""

    __tablename__ = "usage_categories"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = user_fk()
    name: Mapped[list[str]] = mapped_column(ARRAY(Text))
    rule_type: Mapped[str] = mapped_column(String(8))
    regex: Mapped[str | None] = mapped_column(Text)
    ignore_case: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[CreatedAt]

    __table_args__ = (
        CheckConstraint(
            "(rule_type = 'regex' AND regex IS NOT NULL) OR (rule_type = 'none' AND regex IS NULL)",
            name="rule",
        ),
        Index("ix_usage_categories_user", "user_id", "id"),
    )


class UsageCategorySeed(Base):
    """A user whose category rules started from aw-webui's defaults (given on first use, so
    that deleting every rule does not bring them back). Category writes lock this row."""

    __tablename__ = "usage_category_seeds"

    user_id: Mapped[uuid.UUID] = user_fk(primary_key=True)
    seeded_at: Mapped[CreatedAt]
