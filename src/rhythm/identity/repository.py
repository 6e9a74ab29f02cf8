"""Every SQL statement of the identity context."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Uuid,
    all_,
    and_,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnClause

from rhythm.identity.models import ApiKey, DeviceSession, RefreshToken, User
from rhythm.platform.database import stream_rows

_NAME_KEY: ColumnClause[Any] = literal_column('lower(users.name) COLLATE "C"')


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_user_for_update(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    result = await session.execute(select(User).where(User.id == user_id).with_for_update())
    return result.scalar_one_or_none()


async def get_user_for_share(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    result = await session.execute(
        select(User)
        .where(User.id == user_id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def lock_users(
    session: AsyncSession, user_ids: Sequence[uuid.UUID], *, share: bool
) -> Sequence[User]:
    """Those of the users that exist, their rows locked until the transaction ends (FOR SHARE
    when `share`, else FOR NO KEY UPDATE), in id order."""
    result = await session.execute(
        select(User)
        .where(User.id.in_(user_ids))
        .order_by(User.id)
        .with_for_update(read=share, key_share=not share)
        .execution_options(populate_existing=True)
    )
    return result.scalars().all()


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(func.lower(User.email) == email.lower()))
    return result.scalar_one_or_none()


async def insert_user(
    session: AsyncSession,
    *,
    email: str,
    password_hash: str,
    name: str,
    timezone: str,
    visibility: str = "public",
) -> User | None:
    """Insert a user; None when the email (case-insensitively) is taken."""
    stmt = (
        insert(User)
        .values(
            id=uuid.uuid4(),
            email=email,
            password_hash=password_hash,
            name=name,
            timezone=timezone,
            visibility=visibility,
        )
        .on_conflict_do_nothing(index_elements=[text("lower(email)")])
        .returning(User)
    )
    result = await session.execute(stmt)
    return result.scalar_one_or_none()


async def update_user(session: AsyncSession, user_id: uuid.UUID, **values: Any) -> User | None:
    stmt = (
        update(User)
        .where(User.id == user_id)
        .values(**values, version=User.version + 1, updated_at=func.now())
        .returning(User)
        # A user already loaded in this session must come back with the new values.
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    result = await session.execute(stmt)
    return result.scalar_one_or_none()


async def delete_user(session: AsyncSession, user_id: uuid.UUID) -> bool:
    result = await session.execute(delete(User).where(User.id == user_id).returning(User.id))
    return result.scalar_one_or_none() is not None


async def search_users(
    session: AsyncSession,
    prefix: str,
    after: tuple[str, uuid.UUID] | None,
    limit: int,
    hidden: Sequence[uuid.UUID] = (),
) -> Sequence[User]:
    """Users whose lower-cased name starts with `prefix`, in byte order of that name, except
    those `hidden`.

    `after` is the (name, id) of the last user of the previous page.
    """
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = func.lower(escaped).collate("C") + "%"
    stmt = select(User).where(_NAME_KEY.like(pattern, escape="\\"))
    if hidden:
        # One array parameter, however many are hidden.
        stmt = stmt.where(User.id != all_(bindparam("hidden", list(hidden), ARRAY(Uuid))))
    if after is not None:
        after_key = func.lower(after[0]).collate("C")
        stmt = stmt.where(tuple_(_NAME_KEY, User.id) > tuple_(after_key, after[1]))
    stmt = stmt.order_by(_NAME_KEY, User.id).limit(limit)
    return (await session.execute(stmt)).scalars().all()


# Device sessions and refresh tokens ---------------------------------------------------------


async def create_device_session(
    session: AsyncSession, user_id: uuid.UUID, device_name: str | None, expires_at: datetime
) -> DeviceSession:
    device = DeviceSession(
        id=uuid.uuid4(), user_id=user_id, device_name=device_name, expires_at=expires_at
    )
    session.add(device)
    await session.flush()
    await session.refresh(device)
    return device


async def session_is_active(
    session: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    result = await session.execute(
        select(DeviceSession.id).where(
            DeviceSession.id == session_id,
            DeviceSession.user_id == user_id,
            DeviceSession.revoked_at.is_(None),
            DeviceSession.expires_at > func.now(),
        )
    )
    return result.scalar_one_or_none() is not None


async def touch_sessions(session: AsyncSession, used: dict[uuid.UUID, datetime]) -> None:
    """Set last_used_at of many sessions at once; never moves a time backwards.

    Every API worker flushes its own batch, and two batches share sessions: rows are locked in
    id order and rows another flush holds are skipped (it writes a time as recent), so two
    flushes never deadlock.
    """
    await session.execute(
        text(
            "WITH u AS (SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[]))"
            " AS u(id, at)),"
            " locked AS (SELECT d.id, u.at FROM device_sessions AS d JOIN u ON d.id = u.id"
            " WHERE d.last_used_at < u.at ORDER BY d.id FOR UPDATE OF d SKIP LOCKED)"
            " UPDATE device_sessions AS d SET last_used_at = locked.at"
            " FROM locked WHERE d.id = locked.id"
        ),
        {"ids": list(used), "ats": list(used.values())},
    )


async def touch_api_keys(session: AsyncSession, used: dict[uuid.UUID, datetime]) -> None:
    """Set last_used_at of many API keys at once, as touch_sessions does for sessions."""
    if not used:
        return
    await session.execute(
        text(
            "WITH u AS (SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[]))"
            " AS u(id, at)),"
            " locked AS (SELECT k.id, u.at FROM api_keys AS k JOIN u ON k.id = u.id"
            " WHERE k.last_used_at IS NULL OR k.last_used_at < u.at"
            " ORDER BY k.id FOR UPDATE OF k SKIP LOCKED)"
            " UPDATE api_keys AS k SET last_used_at = locked.at"
            " FROM locked WHERE k.id = locked.id"
        ),
        {"ids": list(used), "ats": list(used.values())},
    )


async def add_refresh_token(
    session: AsyncSession, token_hash: bytes, session_id: uuid.UUID, expires_at: datetime
) -> None:
    session.add(RefreshToken(token_hash=token_hash, session_id=session_id, expires_at=expires_at))
    await session.flush()


async def consume_refresh_token(session: AsyncSession, token_hash: bytes) -> uuid.UUID | None:
    """Mark an unused, unexpired refresh token used; its session id, or None.

    The row lock makes this the single winner among concurrent refreshes of one token.
    """
    result = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == token_hash,
            RefreshToken.used_at.is_(None),
            RefreshToken.expires_at > func.now(),
        )
        .values(used_at=func.now())
        .returning(RefreshToken.session_id)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def refresh_token_session(session: AsyncSession, token_hash: bytes) -> uuid.UUID | None:
    result = await session.execute(
        select(RefreshToken.session_id).where(RefreshToken.token_hash == token_hash)
    )
    return result.scalar_one_or_none()


async def active_session(
    session: AsyncSession, session_id: uuid.UUID, *, for_update: bool = False
) -> DeviceSession | None:
    stmt = select(DeviceSession).where(
        DeviceSession.id == session_id,
        DeviceSession.revoked_at.is_(None),
        DeviceSession.expires_at > func.now(),
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def revoke_sessions(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    only: uuid.UUID | None = None,
    keep: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Revoke the user's active sessions (one, or all but one); the ids revoked."""
    conditions = [DeviceSession.user_id == user_id, DeviceSession.revoked_at.is_(None)]
    if only is not None:
        conditions.append(DeviceSession.id == only)
    if keep is not None:
        conditions.append(DeviceSession.id != keep)
    result = await session.execute(
        update(DeviceSession)
        .where(and_(*conditions))
        .values(revoked_at=func.now())
        .returning(DeviceSession.id)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars().all())


async def session_ids(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    result = await session.execute(select(DeviceSession.id).where(DeviceSession.user_id == user_id))
    return list(result.scalars().all())


async def list_sessions(
    session: AsyncSession,
    user_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[DeviceSession]:
    stmt = select(DeviceSession).where(
        DeviceSession.user_id == user_id,
        DeviceSession.revoked_at.is_(None),
        DeviceSession.expires_at > func.now(),
    )
    if after is not None:
        stmt = stmt.where(
            tuple_(DeviceSession.created_at, DeviceSession.id) < tuple_(after[0], after[1])
        )
    stmt = stmt.order_by(DeviceSession.created_at.desc(), DeviceSession.id.desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def purge_expired(session: AsyncSession, grace_days: int) -> int:
    """Delete sessions that expired or were revoked more than `grace_days` ago."""
    result = await session.execute(
        text(
            "DELETE FROM device_sessions WHERE expires_at < now() - make_interval(days => :d)"
            " OR revoked_at < now() - make_interval(days => :d)"
        ),
        {"d": grace_days},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# API keys -------------------------------------------------------------------------------------


async def create_api_key(
    session: AsyncSession,
    user_id: uuid.UUID,
    name: str,
    key_hash: bytes,
    prefix: str,
    scopes: list[str],
) -> ApiKey:
    key = ApiKey(
        id=uuid.uuid4(),
        user_id=user_id,
        name=name,
        key_hash=key_hash,
        prefix=prefix,
        scopes=scopes,
    )
    session.add(key)
    await session.flush()
    await session.refresh(key)
    return key


async def list_api_keys(
    session: AsyncSession,
    user_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.user_id == user_id)
    if after is not None:
        stmt = stmt.where(tuple_(ApiKey.created_at, ApiKey.id) < tuple_(after[0], after[1]))
    stmt = stmt.order_by(ApiKey.created_at.desc(), ApiKey.id.desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def delete_api_key(
    session: AsyncSession, user_id: uuid.UUID, key_id: uuid.UUID
) -> bytes | None:
    result = await session.execute(
        delete(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.user_id == user_id)
        .returning(ApiKey.key_hash)
    )
    return result.scalar_one_or_none()


async def api_key_hashes(session: AsyncSession, user_id: uuid.UUID) -> list[bytes]:
    result = await session.execute(select(ApiKey.key_hash).where(ApiKey.user_id == user_id))
    return list(result.scalars().all())


async def api_key_owner(
    session: AsyncSession, key_hash: bytes
) -> tuple[uuid.UUID, uuid.UUID, list[str]] | None:
    """The key's id, its owner and its scopes."""
    result = await session.execute(
        select(ApiKey.id, ApiKey.user_id, ApiKey.scopes).where(ApiKey.key_hash == key_hash)
    )
    row = result.one_or_none()
    return (row[0], row[1], list(row[2])) if row else None


async def user_names(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not user_ids:
        return {}
    result = await session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))
    return {row[0]: row[1] for row in result.all()}


async def users_by_ids(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> Sequence[User]:
    if not user_ids:
        return []
    result = await session.execute(select(User).where(User.id.in_(user_ids)))
    return result.scalars().all()


# Exports: rows in the order of their records' fields (identity.schemas), through a cursor.


def profile_rows(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    return stream_rows(
        session,
        "SELECT name, email, timezone, created_at, visibility FROM users WHERE id = $1",
        user_id,
    )


def api_key_rows(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    return stream_rows(
        session,
        "SELECT name, prefix, scopes, created_at, last_used_at FROM api_keys"
        " WHERE user_id = $1 ORDER BY created_at, id",
        user_id,
    )
