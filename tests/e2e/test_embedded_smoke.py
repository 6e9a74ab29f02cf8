"""`rhythm serve` with no URLs: embedded PostgreSQL and Redis boot, serve, and stop cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import free_port, wait_until_up

pytestmark = pytest.mark.e2e


def _processes_under(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(str(data_dir) in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
    env.update(
        RHYTHM_DATA_DIR=str(data_dir),
        RHYTHM_PORT=str(port),
        RHYTHM_WORKERS="2",
        RHYTHM_LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "rhythm", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(60)


def test_embedded_serve_boots_serves_and_stops_clean(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = _serve(data_dir, port)
    try:
        wait_until_up(base + "/ready", timeout=120, process=process)
        registered = httpx.post(
            base + "/api/v1/auth/register",
            json={"email": "smoke@example.com", "password": "smoke-password", "name": "Smoke"},
        )
        assert registered.status_code == 201, registered.text
        login = httpx.post(
            base + "/api/v1/auth/login",
            json={"email": "smoke@example.com", "password": "smoke-password"},
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        me = httpx.get(base + "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["email"] == "smoke@example.com"
    finally:
        _stop(process)
    assert process.returncode == 0, process.stderr.read().decode() if process.stderr else ""
    time.sleep(0.5)
    assert _processes_under(data_dir) == []

    # Data survives a restart, and the old token is still signed with the same key.
    process = _serve(data_dir, port)
    try:
        wait_until_up(base + "/ready", timeout=120, process=process)
        again = httpx.post(
            base + "/api/v1/auth/login",
            json={"email": "smoke@example.com", "password": "smoke-password"},
        )
        assert again.status_code == 200
        me = httpx.get(base + "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
    finally:
        _stop(process)
    time.sleep(0.5)
    assert _processes_under(data_dir) == []
