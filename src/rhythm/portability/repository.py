"""Every SQL statement of portability: the lock that makes an account's imports one at a time."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def lock_account(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Hold the account's import lock until the transaction ends: a second import waits, then
    finds the first one's data (409)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"import:{user_id}"},
    )
