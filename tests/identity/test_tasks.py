"""The identity job, run by a real procrastinate worker on the test database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from rhythm.jobs import run_worker
from rhythm.platform.queue import defer
from rhythm.platform.resources import Resources
from tests.factories import create_user


async def test_purge_job_deletes_long_expired_sessions(app) -> None:
    user = await create_user(app)
    async with app.state.services[Resources].engine.begin() as conn:
        await conn.execute(
            text("UPDATE device_sessions SET expires_at = :t WHERE user_id = :u"),
            {"t": datetime.now(UTC) - timedelta(days=8), "u": user.id},
        )
    async with app.state.services[Resources].session_factory() as session:
        await defer(session, "identity:purge_expired_sessions", queue="maintenance", timestamp=0)
        await session.rollback()  # a rolled-back job never runs
        await defer(session, "identity:purge_expired_sessions", queue="maintenance", timestamp=0)
        await session.commit()
    await run_worker(app.state.services[Resources], wait=False)
    async with app.state.services[Resources].engine.connect() as conn:
        left = (
            await conn.execute(
                text("SELECT count(*) FROM device_sessions WHERE user_id = :u"), {"u": user.id}
            )
        ).scalar_one()
        status = (
            await conn.execute(
                text(
                    "SELECT status::text FROM procrastinate_jobs"
                    " WHERE task_name = 'identity:purge_expired_sessions'"
                )
            )
        ).scalar_one()
    assert left == 0
    assert status == "succeeded"
