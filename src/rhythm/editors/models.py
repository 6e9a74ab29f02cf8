"""Tables of the editors context."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CheckConstraint, Identity, Index, UniqueConstraint

from rhythm.identity.models import user_fk
from rhythm.platform.database import Base, CreatedAt


class EditorHeartbeat(Base):
    """One heartbeat of a WakaTime client, as sent. `digest` identifies it (every field it was
    sent with, and the machine), so an exact replay is stored once."""

    __tablename__ = "editor_heartbeats"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = user_fk()
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    at: Mapped[datetime]
    entity: Mapped[str] = mapped_column(String(2048))
    type: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(32))
    project: Mapped[str | None] = mapped_column(String(256))
    branch: Mapped[str | None] = mapped_column(String(256))
    language: Mapped[str | None] = mapped_column(String(128))
    is_write: Mapped[bool] = mapped_column(Boolean)
    lines: Mapped[int | None] = mapped_column(Integer)
    lineno: Mapped[int | None] = mapped_column(Integer)
    cursorpos: Mapped[int | None] = mapped_column(Integer)
    user_agent: Mapped[str] = mapped_column(String(512))
    editor: Mapped[str] = mapped_column(String(64))  # parsed from user_agent (editors.agents)
    operating_system: Mapped[str] = mapped_column(String(64))
    machine: Mapped[str | None] = mapped_column(String(256))  # the X-Machine-Name header
    created_at: Mapped[CreatedAt]

    __table_args__ = (
        UniqueConstraint("user_id", "digest", name="uq_editor_heartbeats_user_digest"),
        CheckConstraint("type IN ('file', 'app', 'domain', 'url')", name="type"),
        Index("ix_editor_heartbeats_user_at", "user_id", "at"),
    )


class EditorSettings(Base):
    """A user's editor settings; a user without a row has the defaults."""

    __tablename__ = "editor_settings"

    user_id: Mapped[uuid.UUID] = user_fk(primary_key=True)
    timeout_minutes: Mapped[int] = mapped_column(SmallInteger)

    __table_args__ = (CheckConstraint("timeout_minutes BETWEEN 1 AND 120", name="timeout_minutes"),)
