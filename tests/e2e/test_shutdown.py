"""SIGTERM to `rhythm serve` under load: no request the server took is lost.

Eight clients send reads and writes as fast as they can; `rhythm serve` (its supervisor and
Granian with 2 workers, on the test database and Redis) gets SIGTERM mid-stream. Each client
behaves as RFC 9110 (9.2.2) allows for idempotent requests: a request whose connection closed
before any answer is sent once more on a new connection. Every request must then end with its
normal answer or with "connection refused"; every acknowledged write must be in PostgreSQL, and
no write may be there for a request that got no answer (the server never drops a request it
has begun). Focus sessions are idempotent on `session_id`, so a resent one is safe.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest

from rhythm.platform.database import libpq_url
from rhythm.platform.settings import Settings
from tests.conftest import free_port, wait_until_up

pytestmark = pytest.mark.e2e

CLIENTS = 8


@dataclass
class Tally:
    answered: dict[int, int] = field(default_factory=dict)
    refused: int = 0
    resent: int = 0
    acknowledged: set[str] = field(default_factory=set)
    unanswered_writes: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    answered_after_signal: int = 0


def _serve(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
    env.update(
        RHYTHM_ENV="test",
        RHYTHM_DATABASE_URL=settings.database_url or "",
        RHYTHM_REDIS_URL=settings.redis_url or "",
        RHYTHM_SECRET_KEY="shutdown-test-secret-key-0123456789-abcdef",
        RHYTHM_RATE_LIMIT_DEFAULT="1000000/minute",
        RHYTHM_RATE_LIMIT_ANONYMOUS="1000000/minute",
        RHYTHM_RATE_LIMIT_AUTH="1000000/minute",
        RHYTHM_LOG_LEVEL="ERROR",
        RHYTHM_PORT=str(port),
        RHYTHM_WORKERS="2",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "rhythm", "serve"], env=env, start_new_session=True
    )


async def _client(
    base: str, token: str, index: int, signalled: list[float], stop: asyncio.Event, tally: Tally
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        n = 0
        while not stop.is_set():
            n += 1
            session_id = f"c{index}-{n}" if n % 2 == 0 else None
            sent_at = time.monotonic()
            for attempt in range(2):
                try:
                    if session_id is None:
                        path = "/api/v1/users/me" if n % 4 == 1 else "/api/v1/focus/sessions"
                        response = await client.get(path, headers=headers)
                        expected = {200}
                    else:
                        start = f"2026-01-{1 + n % 28:02d}T{index:02d}:{n % 60:02d}:00Z"
                        response = await client.post(
                            "/api/v1/focus/sessions",
                            headers=headers,
                            json={
                                "session_id": session_id,
                                "started_at": start,
                                "ended_at": start.replace(":00Z", ":30Z"),
                                "timezone": "UTC",
                            },
                        )
                        expected = {200, 201}
                except httpx.ConnectError:
                    tally.refused += 1
                    if session_id:
                        tally.unanswered_writes.add(session_id)
                    await asyncio.sleep(0.05)
                    break
                except (httpx.RemoteProtocolError, httpx.ReadError):
                    # Closed before any answer: the one case a client may resend.
                    if attempt == 0:
                        tally.resent += 1
                        continue
                    tally.failures.append(f"closed twice: {session_id or path}")
                    if session_id:
                        tally.unanswered_writes.add(session_id)
                    break
                tally.answered[response.status_code] = (
                    tally.answered.get(response.status_code, 0) + 1
                )
                if response.status_code not in expected:
                    tally.failures.append(f"{response.status_code}: {response.text[:200]}")
                elif session_id:
                    tally.acknowledged.add(session_id)
                if signalled and sent_at < signalled[0]:
                    tally.answered_after_signal += 1
                break


async def _load(base: str, process: subprocess.Popen[bytes], tally: Tally) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        registered = await client.post(
            "/api/v1/auth/register",
            json={"email": "shutdown@example.com", "password": "password-123", "name": "S"},
        )
        assert registered.status_code == 201, registered.text
    token = registered.json()["access_token"]
    stop = asyncio.Event()
    signalled: list[float] = []
    clients = [
        asyncio.create_task(_client(base, token, i, signalled, stop, tally)) for i in range(CLIENTS)
    ]
    # Well under way: writes acknowledged (however slow the machine), then the signal.
    for _ in range(600):
        if len(tally.acknowledged) >= 20 or any(task.done() for task in clients):
            break
        await asyncio.sleep(0.1)
    signalled.append(time.monotonic())
    process.send_signal(signal.SIGTERM)
    await asyncio.to_thread(process.wait, 60)
    await asyncio.sleep(0.5)  # the clients now meet a closed port
    stop.set()
    await asyncio.gather(*clients)


def test_sigterm_under_load_loses_no_request(settings: Settings, app: object) -> None:
    # `app` is asked for so that conftest's _clean empties the tables afterwards, on the event
    # loop: a TRUNCATE from this synchronous test would wait forever on a lock that the app's
    # touch writer holds while the loop is paused for this test.
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = _serve(settings, port)
    tally = Tally()
    try:
        wait_until_up(base + "/ready", process=process)
        asyncio.run(_load(base, process, tally))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0
    assert tally.failures == []
    assert tally.refused > 0, "the clients never met the closed port"
    # With 8 clients always sending, some were in flight when the signal came: answered.
    assert tally.answered_after_signal > 0
    assert sum(tally.answered.values()) > 0
    assert tally.acknowledged
    with psycopg.connect(libpq_url(settings.database_url or "")) as conn:
        stored = {
            row[0]
            for row in conn.execute(
                "SELECT session_id FROM focus_sessions WHERE session_id = ANY(%s)",
                (sorted(tally.acknowledged | tally.unanswered_writes),),
            )
        }
    assert tally.acknowledged <= stored
    assert not (tally.unanswered_writes - tally.acknowledged) & stored
