"""An acknowledged heartbeat survives `kill -9` of the server right after its 202."""

from __future__ import annotations

import os
import signal
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from rhythm.platform.settings import Settings
from tests.conftest import serving


def test_heartbeats_acknowledged_before_a_kill_9_are_there_after_restart(
    settings: Settings,
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    with serving(settings) as (process, base):
        account = httpx.post(
            base + "/api/v1/auth/register",
            json={
                "email": f"kill9-{uuid.uuid4().hex[:8]}@example.com",
                "password": "kill-nine-123",
                "name": "Kill",
            },
        ).json()
        headers = {"Authorization": f"Bearer {account['access_token']}"}
        acknowledged = []
        for i in range(20):
            beat = {"timestamp": (start + timedelta(seconds=i * 60)).isoformat(), "app": f"A{i}"}
            answer = httpx.post(base + "/api/v1/usage/heartbeats", json=beat, headers=headers)
            assert answer.status_code == 202
            acknowledged.append(beat["app"])
        bulk = [
            {"timestamp": (start + timedelta(seconds=1200 + i)).isoformat(), "app": "Bulk"}
            for i in range(500)
        ]
        answer = httpx.post(base + "/api/v1/usage/heartbeats/bulk", json=bulk, headers=headers)
        assert answer.status_code == 202
        os.killpg(process.pid, signal.SIGKILL)  # the very moment after the last 202
        process.wait(10)
    with serving(settings) as (_, base):
        found = httpx.get(
            base + "/api/v1/usage/intervals", params={"limit": 100}, headers=headers
        ).json()["data"]
    apps = {i["data"]["app"]: i for i in found}
    assert set(acknowledged) | {"Bulk"} <= set(apps)
    assert apps["Bulk"]["duration_seconds"] == 499.0
