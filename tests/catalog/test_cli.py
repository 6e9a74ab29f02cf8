"""`rhythm catalog sync --file` and `rhythm users promote`, as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from rhythm.platform.settings import Settings

SAMPLES = Path(__file__).resolve().parent / "samples"


def rhythm(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RHYTHM_DATABASE_URL": settings.database_url or "",
        "RHYTHM_REDIS_URL": settings.redis_url or "",
        "RHYTHM_SECRET_KEY": "live-server-secret-key-0123456789-abcdef",
        "RHYTHM_LOG_LEVEL": "ERROR",
    }
    return subprocess.run(
        [sys.executable, "-m", "rhythm", *args], env=env, capture_output=True, text=True
    )


def test_operator_syncs_a_file_and_promotes_an_admin(settings: Settings, live_server: str) -> None:
    synced = rhythm(settings, "catalog", "sync", "--file", str(SAMPLES / "provider_response_1.xml"))
    assert synced.returncode == 0, synced.stderr
    assert "succeeded" in synced.stdout
    bad = rhythm(settings, "catalog", "sync", "--file", str(SAMPLES / "missing.xml"))
    assert bad.returncode != 0
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    account = httpx.post(
        live_server + "/api/v1/auth/register",
        json={"email": email, "password": "operator-123", "name": "Ops"},
    ).json()
    headers = {"Authorization": f"Bearer {account['access_token']}"}
    assert (
        httpx.get(live_server + "/api/v1/admin/catalog/syncs", headers=headers).status_code == 403
    )
    promoted = rhythm(settings, "users", "promote", email)
    assert promoted.returncode == 0, promoted.stderr
    runs = httpx.get(live_server + "/api/v1/admin/catalog/syncs", headers=headers)
    assert runs.status_code == 200
    assert any(r["source"].endswith("provider_response_1.xml") for r in runs.json()["data"])
    assert rhythm(settings, "users", "promote", "nobody@example.com").returncode == 1
    events = httpx.get(live_server + "/search").json()["data"]["events"]
    assert {e["title"] for e in events} >= {"Camela en concierto", "Pantomima Full"}
