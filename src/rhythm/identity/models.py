"""Tables of the identity context."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, Boolean, Integer, LargeBinary, String, func, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CheckConstraint, ForeignKey, Index

from rhythm.identity.principal import PUBLIC, Visibility
from rhythm.platform.database import Base, CreatedAt


def user_fk(*, primary_key: bool = False, index: bool = False) -> Mapped[uuid.UUID]:
    """A reference to a user whose row is erased with the user (ON DELETE CASCADE): the
    `user_id` of every table a user owns, declared once here because identity owns `users`."""
    return mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=primary_key, index=index
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    is_admin: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    visibility: Mapped[Visibility] = mapped_column(String(16), server_default=PUBLIC)
    # Bumped on every change; the Redis profile cache never replaces a newer version.
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index("uq_users_email_lower", func.lower(email), unique=True),
        # Prefix search on names: byte order (COLLATE "C") lets LIKE 'q%' use the index.
        Index("ix_users_name_prefix", text('lower(name) COLLATE "C"'), "id"),
        CheckConstraint("visibility IN ('public', 'private')", name="visibility"),
    )


class DeviceSession(Base):
    __tablename__ = "device_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = user_fk()
    device_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[CreatedAt]
    last_used_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_device_sessions_user_id", "user_id", "created_at"),)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("device_sessions.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = user_fk(index=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    # auth.Scope values; migration 0006 gave keys made before scopes the default, usage and read.
    scopes: Mapped[list[str]] = mapped_column(
        ARRAY(String(16)), server_default=text("'{usage,read}'")
    )
    created_at: Mapped[CreatedAt]
    last_used_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("scopes <@ ARRAY['usage', 'read', 'write']::varchar(16)[]", name="scopes"),
    )
