"""The procrastinate app: background jobs and periodic schedules, queued in PostgreSQL.

Each context declares its tasks on a Blueprint in its tasks.py; they are registered here under
the context's namespace, so task names read `context:verb`.
"""

from __future__ import annotations

from typing import Any

import procrastinate

from rhythm.catalog import tasks as catalog_tasks
from rhythm.db import libpq_url
from rhythm.identity import tasks as identity_tasks
from rhythm.resources import Resources
from rhythm.sleep import tasks as sleep_tasks

BLUEPRINTS = {
    "identity": identity_tasks.blueprint,
    "sleep": sleep_tasks.blueprint,
    "catalog": catalog_tasks.blueprint,
}


# Tasks are registered once per process, on one app: each task keeps a link to its app, so the
# periodic deferrer and retries must run on that very app (a copy made by the deprecated
# `with_connector` left the schedules on an app that was never opened: nothing periodic ran).
_tasks = procrastinate.App(connector=procrastinate.PsycopgConnector())
for _namespace, _blueprint in BLUEPRINTS.items():
    _tasks.add_tasks_from(_blueprint, namespace=_namespace)


def _connector(database_url: str) -> procrastinate.PsycopgConnector:
    return procrastinate.PsycopgConnector(conninfo=libpq_url(database_url), min_size=1, max_size=4)


async def run_worker(resources: Resources, **options: Any) -> None:
    """Run jobs and the periodic schedules until cancelled."""
    with _tasks.replace_connector(_connector(resources.database_url)) as app:
        async with app.open_async():
            await app.run_worker_async(
                additional_context={"resources": resources},
                install_signal_handlers=False,
                **options,
            )
