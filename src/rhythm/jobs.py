"""The procrastinate app: background jobs and periodic schedules, queued in PostgreSQL.

Each context declares its tasks on a Blueprint in its tasks.py; they are registered here under
the context's namespace, so task names read `context:verb`. The cross-context listeners are
connected here too (`connect_contexts`), for the worker and for the app factory.
"""

from __future__ import annotations

import os
from typing import Any

import procrastinate
import structlog
from procrastinate import Blueprint, JobContext, builtin_tasks

from rhythm.catalog import tasks as catalog_tasks
from rhythm.focus import recording as focus_recording
from rhythm.identity import service as identity_service
from rhythm.identity import tasks as identity_tasks
from rhythm.platform.database import libpq_url
from rhythm.platform.resources import Resources, resources_of
from rhythm.platform.settings import Settings
from rhythm.sleep import feed as sleep_feed
from rhythm.sleep import tasks as sleep_tasks
from rhythm.social import service as social_service
from rhythm.usage import tasks as usage_tasks

log = structlog.get_logger("rhythm.jobs")

# A worker that has not sent its heartbeat for this long is dead (killed, its machine gone):
# the jobs it was running are retried. Read at import, as procrastinate needs the schedule
# then; the same variable as Settings.worker_stalled_seconds.
STALLED_SECONDS = int(
    os.environ.get("RHYTHM_WORKER_STALLED_SECONDS")
    or Settings.model_fields["worker_stalled_seconds"].default
)

maintenance = Blueprint()


@maintenance.periodic(
    # As often as a worker can be found dead, and at most once a minute.
    cron="* * * * *" if STALLED_SECONDS >= 60 else f"* * * * * */{STALLED_SECONDS}",
    periodic_id="stalled",
)
@maintenance.task(
    name="retry_stalled", pass_context=True, queue="maintenance", queueing_lock="retry_stalled"
)
async def retry_stalled(context: JobContext, timestamp: int) -> int:
    """Put the jobs of dead workers back in the queue.

    A worker killed mid-job leaves its job `doing` forever, procrastinate does not retry it by
    itself. Every task is written to be run again after a partial run (a fan-out re-applies
    set operations, a catalog sync's changes are one transaction).
    """
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_SECONDS))
    for job in stalled:
        await manager.retry_job(job)
        log.warning("stalled_job_retried", job_id=job.id, task=job.task_name)
    return len(stalled)


@maintenance.periodic(cron="41 * * * *", periodic_id="hourly")
@maintenance.task(name="prune_finished", pass_context=True, queue="maintenance")
async def prune_finished(context: JobContext, timestamp: int) -> None:
    """Delete jobs finished (succeeded, failed, cancelled or aborted) more than
    RHYTHM_JOB_RETENTION_HOURS ago: their arguments name users and their records."""
    hours = resources_of(context).settings.job_retention_hours
    await builtin_tasks.remove_old_jobs(
        context, max_hours=hours, remove_failed=True, remove_cancelled=True, remove_aborted=True
    )
    log.info("jobs_pruned", retention_hours=hours)


BLUEPRINTS = {
    "identity": identity_tasks.blueprint,
    "sleep": sleep_tasks.blueprint,
    "catalog": catalog_tasks.blueprint,
    "usage": usage_tasks.blueprint,
    "jobs": maintenance,
}


# Tasks are registered once per process, on one app: each task keeps a link to its app, so the
# periodic deferrer and retries must run on that very app (a copy made by the deprecated
# `with_connector` left the schedules on an app that was never opened: nothing periodic ran).
_tasks = procrastinate.App(connector=procrastinate.PsycopgConnector())
for _namespace, _blueprint in BLUEPRINTS.items():
    _tasks.add_tasks_from(_blueprint, namespace=_namespace)


def connect_contexts() -> None:
    """Register what each context does when another one changes: the whole list, here only,
    called by the app factory and the worker (never left to which modules were imported).
    Registering twice changes nothing."""
    # An erased account: its focus standing, and its nights in feeds. Its follows and usage go
    # with the user row (ON DELETE CASCADE), the catalog holds nothing of a user, and identity's
    # own erasure job then deletes every Redis key and job that still names it.
    identity_service.on_account_deleted(focus_recording.erase_account)
    identity_service.on_account_deleted(sleep_feed.erase_account)
    # Someone followed or unfollowed (or was approved, or a block removed follows): the
    # followers' feeds are rebuilt.
    social_service.on_follows_changed(sleep_feed.graph_changed)
    # An account became public: its pending follow requests are approved.
    identity_service.on_visibility_changed(social_service.visibility_changed)


# Behind a transaction pooler (Settings.database_pooler), how often an idle worker asks for a
# new job: LISTEN does not survive one (the pooler hands the listening server connection to
# other clients between transactions, and notifications are lost), so the worker polls. Half a
# second keeps a deferred job's wait short (docs/scaling.md has the figures) for one cheap
# query a second per idle worker.
POOLED_POLL_SECONDS = 0.5


def _connector(settings: Settings) -> procrastinate.PsycopgConnector:
    assert settings.database_url is not None
    # psycopg prepares a statement run 5 times on a connection (`_pg3_N`, per connection):
    # behind a transaction pooler such a name outlives its transaction on a server connection
    # other clients get, so nothing is prepared there.
    pooled = settings.database_pooler == "transaction"
    return procrastinate.PsycopgConnector(
        conninfo=libpq_url(settings.database_url),
        min_size=1,
        max_size=4,
        kwargs={"prepare_threshold": None} if pooled else {},
    )


def _worker_options(settings: Settings) -> dict[str, Any]:
    """How the worker learns of new jobs: LISTEN/NOTIFY on direct connections, polling
    behind a transaction pooler."""
    if settings.database_pooler == "transaction":
        return {"listen_notify": False, "fetch_job_polling_interval": POOLED_POLL_SECONDS}
    return {}


async def run_worker(resources: Resources, **options: Any) -> None:
    """Run jobs and the periodic schedules until cancelled."""
    connect_contexts()
    with _tasks.replace_connector(_connector(resources.settings)) as app:
        async with app.open_async():
            await app.run_worker_async(
                additional_context={"resources": resources},
                install_signal_handlers=False,
                update_heartbeat_interval=STALLED_SECONDS / 3,
                stalled_worker_timeout=STALLED_SECONDS,
                **{**_worker_options(resources.settings), **options},
            )
