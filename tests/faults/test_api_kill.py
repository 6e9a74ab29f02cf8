"""kill -9 of the API process under many clients: what it acknowledged is there exactly once,
and what it did not can be sent again without duplicating anything."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter

import pytest

from rhythm.platform.settings import Settings
from tests.conftest import serving
from tests.faults.workload import Workload

pytestmark = pytest.mark.e2e

# What a replay of an unacknowledged write may answer. A heartbeat merges again into the same
# interval; a focus session is idempotent on its session_id (200 and the first answer); a
# night's clock-in or clock-out that did happen is refused as a conflict (409
# already-clocked-in, overlap or not-clocked-in), not stored twice.
REPLAY_ANSWERS = {
    "heartbeat": {202},
    "focus": {200, 201},
    "clock-in": {201, 409},
    "clock-out": {200, 409},
}


async def test_kill_9_under_many_clients_loses_and_duplicates_nothing(settings: Settings) -> None:
    with serving(settings) as (process, base):
        workload = await asyncio.to_thread(Workload.register, base, 16)
        stop = asyncio.Event()
        running = asyncio.create_task(workload.run(stop))
        while sum(w.acknowledged for w in workload.writes) < 300 and not running.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)  # mid-stream: some writes are in flight
        stop.set()
        await running
        await asyncio.to_thread(process.wait, 10)
    assert settings.database_url is not None
    acknowledged = workload.check_exactly_once(settings.database_url)
    assert set(acknowledged) == set(REPLAY_ANSWERS), acknowledged
    unanswered = [w for w in workload.writes if w.status is None]
    assert unanswered, "the kill landed after every write: nothing was in flight"
    assert all(w.status is None or w.acknowledged for w in workload.writes), Counter(
        w.status for w in workload.writes
    )

    with serving(settings) as (_, base):
        replays = await workload.replay_unacknowledged(base)
    assert replays
    print(
        f"acknowledged {acknowledged}; in flight at the kill {len(unanswered)}; replayed",
        Counter((r.kind, r.status) for r in replays),
    )
    for replay in replays:
        assert replay.status in REPLAY_ANSWERS[replay.kind], (replay, replay.problem)
    workload.writes.extend(replays)
    workload.check_exactly_once(settings.database_url)
