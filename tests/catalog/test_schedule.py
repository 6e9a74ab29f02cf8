"""The scheduled sync: once per interval however many workers run, and silent when disabled."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import text

from rhythm.catalog import tasks
from rhythm.jobs import run_worker
from rhythm.platform.resources import Resources


async def test_two_workers_defer_one_sync_per_interval(app) -> None:  # type: ignore[no-untyped-def]
    # Two workers starting one after the other (one process runs one worker at a time): both
    # deferrers reach the same interval.
    for _ in range(2):
        await run_worker(app.state.services[Resources], wait=False, queues=["nothing"])
    async with app.state.services[Resources].engine.begin() as conn:
        deferred = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'catalog:sync_feed'"
                )
            )
        ).scalar_one()
    assert deferred == 1


class _Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    def warning(self, event: str, **_: object) -> None:
        self.events.append(event)

    info = warning


async def test_without_a_provider_url_the_sync_says_so_once(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert app.state.services[Resources].settings.catalog_provider_url is None
    recorder = _Recorder()
    monkeypatch.setattr(tasks, "log", recorder)
    monkeypatch.setattr(tasks, "_said_disabled", False)
    # What the task reads of its job context: the worker's resources.
    context: Any = SimpleNamespace(additional_context={"resources": app.state.services[Resources]})
    first = await tasks.sync_feed.func(context, timestamp=0)
    second = await tasks.sync_feed.func(context, timestamp=300)
    assert (first, second) == ("disabled", "disabled")
    assert recorder.events == ["catalog_sync_disabled"]
