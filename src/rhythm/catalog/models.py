"""Tables of the catalog context: the provider's events as rhythm knows them, and their history."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from rhythm.platform.database import Base


class CatalogBaseEvent(Base):
    __tablename__ = "catalog_base_events"

    base_event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    sell_mode: Mapped[str] = mapped_column(String(32))
    organizer_company_id: Mapped[int | None] = mapped_column(BigInteger)
    # Searchable once it was online in one sync; it stays so with its latest known values.
    ever_online: Mapped[bool] = mapped_column(Boolean)
    currently_listed: Mapped[bool] = mapped_column(Boolean)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CatalogSlot(Base):
    """An event of a base event: (base_event_id, event_id). Its zones are stored with it."""

    __tablename__ = "catalog_slots"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # uuid5 of the identity: stable
    base_event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("catalog_base_events.base_event_id")
    )
    event_id: Mapped[int] = mapped_column(BigInteger)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))  # provider wall clock
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    sell_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    sell_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    sold_out: Mapped[bool] = mapped_column(Boolean)
    min_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    max_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    zones: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    currently_listed: Mapped[bool] = mapped_column(Boolean)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("base_event_id", "event_id", name="uq_catalog_slots_identity"),
        Index("ix_catalog_slots_span", "starts_at", "ends_at"),
    )


class CatalogSlotVersion(Base):
    """A slot's state (zones included) from a sync on, until its next version. Partitioned by
    month of its sync's start, `synced_at` (migration 0012, docs/scaling.md)."""

    __tablename__ = "catalog_slot_versions"

    slot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_slots.id"), primary_key=True)
    sync_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("catalog_syncs.id"), primary_key=True, autoincrement=False
    )
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    state: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # None: gone from the feed

    __table_args__ = ({"postgresql_partition_by": "RANGE (synced_at)"},)


class CatalogSync(Base):
    __tablename__ = "catalog_syncs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))  # running, succeeded, unchanged, failed
    counts: Mapped[dict[str, int]] = mapped_column(JSONB, server_default=text("'{}'"))
    errors: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'"))
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    catalog_version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
