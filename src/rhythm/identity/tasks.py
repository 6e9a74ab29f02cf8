"""Background tasks of identity."""

from __future__ import annotations

import structlog
from procrastinate import Blueprint, JobContext, RetryStrategy

from rhythm.identity import service
from rhythm.identity.profiles import KEY_PREFIX
from rhythm.platform.database import commit
from rhythm.platform.queue import ERASURE_QUEUE, forget_jobs, scrub_arguments
from rhythm.platform.redis import forget_keys_naming
from rhythm.platform.resources import resources_of

blueprint = Blueprint()
log = structlog.get_logger("rhythm.identity.tasks")


@blueprint.periodic(cron="17 3 * * *", periodic_id="daily")
@blueprint.task(name="purge_expired_sessions", pass_context=True, queue="maintenance")
async def purge_expired_sessions(context: JobContext, timestamp: int) -> int:
    """Delete device sessions (and their refresh tokens) expired or revoked a week ago."""
    resources = resources_of(context)
    async with resources.session_factory() as session:
        purged = await service.purge_expired_sessions(session)
        await commit(session)
    log.info("purged_sessions", count=purged)
    return purged


class ErasureWaiting(Exception):
    """Jobs naming the account are still running, or its contexts' erasure jobs are waiting."""


@blueprint.task(
    name="erase_remnants",
    pass_context=True,
    queue=ERASURE_QUEUE,
    # Waits (5 s apart, up to 5 minutes) for running jobs and the contexts' erasure jobs.
    retry=RetryStrategy(max_attempts=60, wait=5, retry_exceptions={ErasureWaiting}),
)
async def erase_remnants(context: JobContext, user_id: str = "") -> int:
    """The last step of an account's erasure: delete every job whose arguments name it
    (finished or waiting) and every Redis key whose name does, then empty this job's own
    arguments. The profile tombstone (auth) stays until it expires: it holds only the id, and
    keeps a request that raced the deletion from caching the profile again."""
    if not user_id:
        return 0  # arguments already scrubbed: a rerun after the end
    resources = resources_of(context)
    assert context.job is not None and context.job.id is not None
    async with resources.session_factory() as session:
        remaining = await forget_jobs(session, user_id)
        await commit(session)
    if remaining > 1:  # more than this job: wait for them, then erase what they left
        raise ErasureWaiting(f"{remaining - 1} jobs naming the account are unfinished")
    deleted = await forget_keys_naming(resources.redis, user_id, keep_prefixes=(KEY_PREFIX,))
    async with resources.session_factory() as session:
        await scrub_arguments(session, context.job.id)
        await commit(session)
    log.info("account_erased", keys_deleted=deleted)
    return deleted
