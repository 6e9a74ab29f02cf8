"""Background tasks of identity."""

from __future__ import annotations

import structlog
from procrastinate import Blueprint, JobContext

from rhythm.db import commit
from rhythm.identity import service
from rhythm.resources import resources_of

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
