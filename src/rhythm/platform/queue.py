"""Deferring procrastinate jobs inside the caller's own transaction.

The job row is inserted by procrastinate's own SQL function on the session's connection, so it
exists exactly when the transaction that caused it commits: a rollback drops it, and a commit
can never lose it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Account erasure jobs run here; `forget_jobs` keeps this queue's unfinished jobs.
ERASURE_QUEUE = "erasure"

_DEFER = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW("
    ":queue, :task, :priority, :lock, NULL, CAST(:args AS jsonb), NULL"
    ")::procrastinate_job_to_defer_v1])"
)


async def defer(
    session: AsyncSession,
    task_name: str,
    *,
    queue: str = "default",
    priority: int = 0,
    lock: str | None = None,
    **args: Any,
) -> int:
    """Queue `task_name` (`context:verb`) with JSON `args`; the job id."""
    result = await session.execute(
        _DEFER,
        {
            "queue": queue,
            "task": task_name,
            "priority": priority,
            "lock": lock,
            "args": json.dumps(args),
        },
    )
    ids: list[int] = result.scalar_one()
    return ids[0]


async def unfinished(session: AsyncSession, job_ids: list[int]) -> set[int]:
    """Those of `job_ids` still waiting or running."""
    if not job_ids:
        return set()
    result = await session.execute(
        text(
            "SELECT id FROM procrastinate_jobs WHERE id = ANY(CAST(:ids AS bigint[]))"
            " AND status IN ('todo', 'doing')"
        ),
        {"ids": job_ids},
    )
    return {int(row[0]) for row in result.all()}


async def forget_jobs(session: AsyncSession, needle: str) -> int:
    """Delete every job whose arguments mention `needle` (an erased account's id), finished or
    waiting, except running ones and waiting erasure jobs (ERASURE_QUEUE); how many matching
    jobs remain (running ones, the caller included, and waiting erasure jobs)."""
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    await session.execute(
        text(
            "DELETE FROM procrastinate_jobs WHERE args::text LIKE :pattern"
            " AND status <> 'doing'"
            " AND NOT (queue_name = :queue AND status = 'todo')"
        ),
        {"pattern": pattern, "queue": ERASURE_QUEUE},
    )
    result = await session.execute(
        text("SELECT count(*) FROM procrastinate_jobs WHERE args::text LIKE :pattern"),
        {"pattern": pattern},
    )
    return int(result.scalar_one())


async def scrub_arguments(session: AsyncSession, job_id: int) -> None:
    """Empty a running job's arguments: an erasure job's last step, so that its row (kept
    until the retention prune) holds nothing of the account it erased."""
    await session.execute(
        text("UPDATE procrastinate_jobs SET args = '{}'::jsonb WHERE id = :id"), {"id": job_id}
    )
