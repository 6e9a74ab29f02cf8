"""Background tasks of usage: usage_events' partitions (docs/scaling.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from procrastinate import Blueprint, JobContext

from rhythm.platform.database import commit
from rhythm.platform.resources import resources_of
from rhythm.usage import service

blueprint = Blueprint()
log = structlog.get_logger("rhythm.usage.tasks")


@blueprint.periodic(cron="23 2 * * *", periodic_id="daily")
@blueprint.task(
    name="keep_partitions", pass_context=True, queue="maintenance", queueing_lock="usage_partitions"
)
async def keep_partitions(context: JobContext, timestamp: int) -> int:
    """Make the coming months' partitions of usage_events; drop those past the retention
    (RHYTHM_USAGE_RETENTION_MONTHS). Runs daily: a missed day leaves months ahead to spare."""
    resources = resources_of(context)
    settings = resources.settings
    async with resources.session_factory() as session:
        done = await service.keep_partitions(
            session,
            datetime.now(UTC),
            settings.partition_months_ahead,
            settings.usage_retention_months,
        )
        await commit(session)
    log.info("usage_partitions_kept", made=done.made, dropped=done.dropped, deleted=done.deleted)
    return done.made
