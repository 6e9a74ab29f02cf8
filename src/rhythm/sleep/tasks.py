"""Background tasks of sleep: fan-out of a night's arrival or removal to followers' feeds."""

from __future__ import annotations

import uuid

from procrastinate import Blueprint, JobContext, RetryStrategy

from rhythm.db import commit
from rhythm.resources import resources_of
from rhythm.sleep import service
from rhythm.sleep.feeds import FeedCache

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
        applied = await service.apply_fan_out(
            session, feeds, context.job.id, uuid.UUID(owner_id), week, op, value
        )
        await commit(session)
    return applied
