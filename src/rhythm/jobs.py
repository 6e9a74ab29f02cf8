"""The procrastinate app: background jobs and periodic schedules, queued in PostgreSQL.

Each context declares its tasks on a Blueprint in its tasks.py; they are registered here under
the context's namespace, so task names read `context:verb`.
"""

from __future__ import annotations

from typing import Any

import procrastinate

from rhythm.db import libpq_url
from rhythm.identity import tasks as identity_tasks
from rhythm.resources import Resources

BLUEPRINTS = {"identity": identity_tasks.blueprint}


def create_job_app(database_url: str) -> procrastinate.App:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=libpq_url(database_url), min_size=1, max_size=4
        )
    )
    for namespace, blueprint in BLUEPRINTS.items():
        app.add_tasks_from(blueprint, namespace=namespace)
    return app


async def run_worker(resources: Resources, **options: Any) -> None:
    """Run jobs and the periodic schedules until cancelled."""
    app = create_job_app(resources.database_url)
    async with app.open_async():
        await app.run_worker_async(
            additional_context={"resources": resources},
            install_signal_handlers=False,
            **options,
        )
