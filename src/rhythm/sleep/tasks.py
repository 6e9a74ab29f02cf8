"""Background tasks of sleep: fan-out of a night's arrival or removal to followers' feeds, and
the removal of an erased account's nights from Redis."""

from __future__ import annotations

import uuid

from procrastinate import Blueprint, JobContext, RetryStrategy

from rhythm.platform.database import commit
from rhythm.platform.queue import ERASURE_QUEUE, scrub_arguments
from rhythm.platform.resources import resources_of
from rhythm.sleep import feed
from rhythm.sleep.feed_cache import FeedCache

blueprint = Blueprint()


@blueprint.task(
    name="fan_out",
    pass_context=True,
    queue="feeds",
    retry=RetryStrategy(max_attempts=10, exponential_wait=1),
)
async def fan_out(context: JobContext, owner_id: str, week: str, op: str, value: str) -> int:
    resources = resources_of(context)
    feeds = FeedCache(resources.redis, resources.settings.sleep_fanout_threshold)
    assert context.job is not None and context.job.id is not None
    async with resources.session_factory() as session:
        applied = await feed.apply_fan_out(
            session, feeds, context.job.id, uuid.UUID(owner_id), week, op, value
        )
        await commit(session)
    return applied


@blueprint.task(
    name="erase_owner",
    pass_context=True,
    queue=ERASURE_QUEUE,
    retry=RetryStrategy(max_attempts=10, exponential_wait=1),
)
async def erase_owner(
    context: JobContext,
    owner_id: str = "",
    followers: list[str] | None = None,
    records: list[str] | None = None,
) -> int:
    """Delete an erased account's nights, feeds and markers from Redis (FeedCache.erase_owner),
    then empty this job's own arguments (a rerun after that has nothing left to do)."""
    if not owner_id:
        return 0
    resources = resources_of(context)
    feeds = FeedCache(resources.redis, resources.settings.sleep_fanout_threshold)
    deleted = await feeds.erase_owner(
        uuid.UUID(owner_id),
        [uuid.UUID(f) for f in followers or []],
        [uuid.UUID(r) for r in records or []],
    )
    assert context.job is not None and context.job.id is not None
    async with resources.session_factory() as session:
        await scrub_arguments(session, context.job.id)
        await commit(session)
    return deleted
