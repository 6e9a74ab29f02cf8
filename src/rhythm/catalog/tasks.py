"""The scheduled catalog sync, and the partitions of the catalog's history."""

from __future__ import annotations

import os

import structlog
from procrastinate import Blueprint, JobContext, RetryStrategy

from rhythm.catalog import service
from rhythm.catalog.provider import ProviderUnavailable
from rhythm.platform.database import commit
from rhythm.platform.resources import resources_of
from rhythm.platform.settings import Settings

blueprint = Blueprint()
log = structlog.get_logger("rhythm.catalog.tasks")
_said_disabled = False


# Read when the task module is imported (procrastinate needs the schedule then); the variable is
# the same as Settings.catalog_sync_cron, read without building the whole Settings here.
SYNC_CRON = (
    os.environ.get("RHYTHM_CATALOG_SYNC_CRON") or Settings.model_fields["catalog_sync_cron"].default
)


@blueprint.periodic(cron=SYNC_CRON, periodic_id="catalog")
@blueprint.task(
    name="sync_feed",
    pass_context=True,
    queue="catalog",
    # A provider down or hanging: retried with backoff (2, 4, 8, 16 s), by procrastinate.
    retry=RetryStrategy(max_attempts=4, exponential_wait=2, retry_exceptions={ProviderUnavailable}),
)
async def sync_feed(context: JobContext, timestamp: int) -> str:
    """Sync the provider's feed; periodic jobs fire once per interval across all workers."""
    global _said_disabled
    resources = resources_of(context)
    settings = resources.settings
    if not settings.catalog_provider_url:
        if not _said_disabled:
            log.warning("catalog_sync_disabled", reason="RHYTHM_CATALOG_PROVIDER_URL is not set")
            _said_disabled = True
        return "disabled"
    result = await service.sync(
        resources.session_factory,
        resources.redis,
        url=settings.catalog_provider_url,
        max_bytes=settings.catalog_max_bytes,
    )
    log.info("catalog_synced", sync_id=result.sync_id, status=result.status, **result.counts)
    return result.status


@blueprint.periodic(cron="29 2 * * *", periodic_id="daily")
@blueprint.task(
    name="keep_partitions",
    pass_context=True,
    queue="maintenance",
    queueing_lock="catalog_partitions",
)
async def keep_partitions(context: JobContext, timestamp: int) -> int:
    """Make the coming months' partitions of catalog_slot_versions; drop those past the
    retention (RHYTHM_CATALOG_HISTORY_RETENTION_MONTHS)."""
    resources = resources_of(context)
    settings = resources.settings
    async with resources.session_factory() as session:
        done = await service.keep_history_partitions(
            session,
            service.utc(),
            settings.partition_months_ahead,
            settings.catalog_history_retention_months,
        )
        await commit(session)
    log.info("catalog_partitions_kept", made=done.made, dropped=done.dropped, deleted=done.deleted)
    return done.made
