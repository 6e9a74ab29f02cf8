"""PostgreSQL restarted under load: the API answers 503 problems quickly instead of 500s or
hanging, /ready names the database, service comes back by itself, and every acknowledged write
is there afterwards.

The server runs on a private PostgreSQL (tests/faults/postgres.py), never the shared one.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from rhythm.migrations import upgrade
from tests.conftest import make_settings, serving
from tests.faults.servers import PrivatePostgres
from tests.faults.workload import CLIENT_TIMEOUT, Workload

pytestmark = pytest.mark.e2e


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres().init()
    try:
        server.start()
        upgrade(server.url)
        yield server
    finally:
        server.destroy()


async def _probe_reads(base: str, headers: dict[str, str], answers: list[httpx.Response]) -> None:
    """Reads on both lanes, and /ready, while the writers run."""
    paths = [
        "/api/v1/usage/report?date=2026-01-01",  # FastAPI, a DbSession
        "/api/v1/sleep/records",
        "/api/v1/focus/sessions",
        "/ready",
    ]
    async with httpx.AsyncClient(base_url=base, timeout=CLIENT_TIMEOUT) as http:
        while True:
            for path in paths:
                try:
                    answers.append(await http.get(path, headers=headers))
                except httpx.TimeoutException:
                    raise AssertionError(f"GET {path} hung") from None
            await asyncio.sleep(0.05)


async def test_postgres_restart_under_load_is_503_then_recovers_losing_nothing(
    private_postgres: PrivatePostgres, redis_url: str
) -> None:
    settings = make_settings(private_postgres.url, redis_url)
    with serving(settings) as (_, base):
        workload = await asyncio.to_thread(Workload.register, base, 8)
        stop = asyncio.Event()
        writers = asyncio.create_task(workload.run(stop, steps=1000))
        reads: list[httpx.Response] = []
        readers = asyncio.create_task(_probe_reads(base, workload.clients[0].headers, reads))
        await asyncio.sleep(1.0)
        for mode in ("fast", "immediate"):
            await asyncio.to_thread(private_postgres.stop, mode)
            await asyncio.sleep(1.5)  # down: connections are refused
            await asyncio.to_thread(private_postgres.start)
            await asyncio.sleep(1.0)
        # Back by itself: no restart of the API, /ready is green again within seconds.
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=base, timeout=CLIENT_TIMEOUT) as http:
            while (await http.get("/ready")).status_code != 200:
                assert time.monotonic() < deadline, "never ready again"
                await asyncio.sleep(0.2)
        settled = len(workload.writes)
        await asyncio.sleep(1.5)
        stop.set()
        readers.cancel()
        await writers
        recovered = workload.writes[settled + len(workload.clients) :]

    outage = [w for w in workload.writes if not w.acknowledged]
    print(
        "writes", Counter((w.kind, w.status) for w in workload.writes),
        "slowest", sorted((round(w.seconds, 2), w.kind, w.status) for w in workload.writes)[-8:],
        "reads", Counter((r.url.path, r.status_code) for r in reads),
    )  # fmt: skip
    # Every write was answered (none hung), each a success or a 503 problem.
    assert outage, "the restarts did not touch any request"
    for write in outage:
        if write.status == 409 and write.attempt > 1:
            # A night's clock-in or clock-out sent again after a 503 that it had outlived:
            # PostgreSQL committed it just before the connection was lost.
            assert write.kind in {"clock-in", "clock-out"}, write
            continue
        assert write.status == 503, (write.kind, write.status, write.problem)
        assert write.problem is not None
        assert write.problem["type"].endswith("/database-unavailable"), write.problem
        assert write.headers["retry-after"] == "2"
    # Reads too; /ready says which dependency is failing.
    failing = [r for r in reads if r.status_code != 200]
    assert failing
    for answer in failing:
        assert answer.status_code == 503, answer.text
        problem = answer.json()
        if answer.url.path == "/ready":
            assert problem["checks"]["postgres"].startswith("failing")
            assert problem["checks"]["redis"] == "ok"
            assert problem["detail"].startswith("Unavailable: postgres")
        else:
            assert problem["type"].endswith("/database-unavailable"), problem
    # Service came back: the writes after recovery all succeeded.
    assert recovered and all(w.acknowledged for w in recovered)
    # Nothing acknowledged was lost, nothing stored twice; what failed can be sent again.
    workload.check_exactly_once(private_postgres.url)
