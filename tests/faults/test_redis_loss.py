"""Redis killed (kill -9), then back empty: rhythm keeps answering from PostgreSQL, rate limits
fail open while Redis is away, and every read answers afterwards exactly as it did before.

The server process runs on a Redis of its own (tests/faults/servers.py), never the shared one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from rhythm.platform.timeutil import iso_week
from tests.conftest import make_settings, serving
from tests.faults.servers import PrivateRedis

pytestmark = pytest.mark.e2e

LIMIT = 30  # requests a minute, per user and per anonymous IP, in this test
CATALOG_FILE = Path(__file__).resolve().parent.parent / "catalog/samples/provider_response_1.xml"


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


def _register(http: httpx.Client, name: str) -> tuple[str, dict[str, str]]:
    answer = http.post(
        "/api/v1/auth/register",
        json={
            "email": f"redis-{uuid.uuid4().hex[:10]}@example.com",
            "password": "redis-loss-123",
            "name": name,
        },
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["user"]["id"], {"Authorization": f"Bearer {body['access_token']}"}


def _ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, (answer.request.url, answer.text)
    return answer.json()


def test_redis_killed_and_back_empty_changes_no_answer(
    private_redis: PrivateRedis, database_url: str
) -> None:
    settings = make_settings(
        database_url,
        private_redis.url,
        rate_limit_default=f"{LIMIT}/minute",
        rate_limit_anonymous=f"{LIMIT}/minute",
    )
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    bed = now.replace(hour=23) - timedelta(days=9)
    week = iso_week(bed.date())
    with serving(settings) as (_, base), httpx.Client(base_url=base, timeout=10) as http:
        reader, headers = _register(http, "Reader")
        sleepers = [_register(http, f"Sleeper {i}") for i in range(3)]
        for i, (user_id, their) in enumerate(sleepers):
            _ok(http.put(f"/api/v1/users/me/following/{user_id}", headers=headers), 201)
            night = {
                "sleep_at": (bed + timedelta(minutes=17 * i)).isoformat(),
                "wake_at": (bed + timedelta(hours=7, minutes=40 * i)).isoformat(),
            }
            _ok(http.post("/api/v1/sleep/records", json=night, headers=their), 201)
        session = {
            "session_id": "before",
            "started_at": (now - timedelta(hours=3)).isoformat(),
            "ended_at": (now - timedelta(hours=2)).isoformat(),
            "timezone": "UTC",
        }
        _ok(http.post("/api/v1/focus/sessions", json=session, headers=headers), 201)
        beat = {"timestamp": (now - timedelta(hours=1)).isoformat(), "app": "Edit", "duration": 60}
        _ok(http.post("/api/v1/usage/heartbeats", json=beat, headers=headers), 202)
        catalog = subprocess.run(
            [sys.executable, "-m", "rhythm", "catalog", "sync", "--file", str(CATALOG_FILE)],
            env={
                **os.environ,
                "RHYTHM_DATABASE_URL": database_url,
                "RHYTHM_REDIS_URL": private_redis.url,
            },
            capture_output=True,
        )
        assert catalog.returncode == 0, catalog.stderr

        reads: list[tuple[str, dict[str, str] | None]] = [
            (f"/api/v1/sleep/following?week={week}", headers),
            (f"/api/v1/sleep/following?week={week}&limit=2", headers),
            (f"/api/v1/sleep/rankings/weekly?week={week}", headers),
            (f"/api/v1/users/{reader}/streak", headers),
            ("/api/v1/focus/leaderboard?by=week_minutes", headers),
            ("/api/v1/focus/sessions", headers),
            (f"/api/v1/usage/report?date={(now - timedelta(hours=1)).date()}", headers),
            ("/api/v1/users/me", headers),
            (f"/api/v1/users/{sleepers[0][0]}", headers),
            ("/search?starts_at=2021-01-01T00:00:00", None),
        ]

        def answers() -> dict[str, Any]:
            return {path: _ok(http.get(path, headers=who)) for path, who in reads}

        before = answers()
        assert answers() == before  # the second time, from the caches
        assert len(before[f"/api/v1/sleep/following?week={week}"]["data"]) == 3
        assert before["/search?starts_at=2021-01-01T00:00:00"]["data"]["events"]

        # The limits are live while Redis is up.
        _, limited = _register(http, "Limited")
        statuses = [http.get("/api/v1/users/me", headers=limited).status_code for _ in range(40)]
        assert 429 in statuses

        private_redis.kill()

        # Reads and writes work without Redis, and change none of the recorded answers.
        assert answers() == before
        _, flooder = _register(http, "Flooder")
        for i in range(LIMIT + 10):  # over the limit: not refused, the limit fails open
            beat = {"timestamp": (now - timedelta(minutes=50 - i)).isoformat(), "app": "Flood"}
            _ok(http.post("/api/v1/usage/heartbeats", json=beat, headers=flooder), 202)
        for _ in range(LIMIT + 10):
            _ok(http.get("/search?starts_at=2021-01-01T00:00:00"))
        later = bed + timedelta(days=7)
        night = {"sleep_at": later.isoformat(), "wake_at": (later + timedelta(hours=8)).isoformat()}
        _ok(http.post("/api/v1/sleep/records", json=night, headers=sleepers[0][1]), 201)
        session = {**session, "session_id": "meanwhile"}
        session["started_at"] = (now - timedelta(days=30)).isoformat()
        session["ended_at"] = (now - timedelta(days=30) + timedelta(minutes=5)).isoformat()
        _ok(http.post("/api/v1/focus/sessions", json=session, headers=sleepers[1][1]), 201)
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["postgres"] == "ok"
        assert ready.json()["detail"].startswith("Unavailable: redis")

        private_redis.start()
        redis.Redis.from_url(private_redis.url).flushall()
        assert _ok(http.get("/ready"))["checks"] == {"postgres": "ok", "redis": "ok"}

        assert answers() == before
        assert answers() == before  # and again, from the rebuilt caches
        # What was written while Redis was away is there.
        next_week = _ok(
            http.get(f"/api/v1/sleep/following?week={iso_week(later.date())}", headers=headers)
        )
        assert [item["user"]["id"] for item in next_week["data"]] == [sleepers[0][0]]
