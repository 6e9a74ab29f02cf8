"""The real legacy wakatime-cli (PyPI `wakatime==13.1.0`, Python 3.9) against the real server.

It lives in its own virtualenv (.venv-wakatime, created on first use from the package index;
the test is skipped, saying why, when Python 3.9 or the index is missing). Its ~/.wakatime.cfg
is written in a temporary HOME. It sends heartbeats for a file; one is sent while the server is
down, kept in the CLI's offline queue (~/.wakatime.db) and flushed by the next send once the
server is back. The time is then read back as editor status bars and dashboards read it.
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from rhythm.platform.settings import Settings
from tests.conftest import serving
from tests.editors.test_wakatime_api import basic, uuid_key
from tests.factories import create_user

WAKATIME = "wakatime==13.1.0"
VENV = Path(__file__).resolve().parents[2] / ".venv-wakatime"
PLUGIN = "vim/9.0.0 vim-wakatime/9.0.1"
API = "/api/compat/wakatime/v1"


def _python39() -> str | None:
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    return found[-1] if found else shutil.which("python3.9")


def ensure_wakatime_venv(path: Path) -> Path:
    """Create (once) a Python 3.9 virtualenv at `path` with the legacy CLI; return its script."""
    script = path / "bin" / "wakatime"
    stamp = path / ".rhythm-wakatime-stamp"
    if stamp.is_file() and stamp.read_text() == WAKATIME and script.exists():
        return script
    python = _python39()
    if python is None:
        pytest.skip("the legacy wakatime-cli needs Python 3.9, and none was found")
    path.mkdir(parents=True, exist_ok=True)
    (path / ".gitignore").write_text("*\n")
    with open(path / ".rhythm-wakatime.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers may race here
        if stamp.is_file() and stamp.read_text() == WAKATIME and script.exists():
            return script
        if not (path / "bin" / "python").exists():
            subprocess.run([python, "-m", "venv", str(path)], check=True)
        pip = [str(path / "bin" / "python"), "-m", "pip", "install", "-q"]
        installed = subprocess.run(
            [*pip, "--disable-pip-version-check", WAKATIME],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if installed.returncode != 0:
            pytest.skip(
                f"could not install {WAKATIME} from the package index: "
                f"{installed.stderr.strip()[-500:]}"
            )
        stamp.write_text(WAKATIME)
    return script


@pytest.fixture(scope="session")
def wakatime_cli() -> Path:
    return ensure_wakatime_venv(VENV)


class Cli:
    """wakatime-cli with its own HOME: ~/.wakatime.cfg, its offline queue and its log."""

    def __init__(self, script: Path, home: Path, key: str) -> None:
        self.script, self.home, self.key = script, home, key

    def point_at(self, base: str) -> None:
        # The legacy CLI posts to api_url as given: the bulk route, in full.
        (self.home / ".wakatime.cfg").write_text(
            "[settings]\n"
            f"api_key = {self.key}\n"
            f"api_url = {base}{API}/users/current/heartbeats.bulk\n"
            "offline = true\n"
        )

    def send(self, entity: Path, at: float, *extra: str) -> int:
        argv = [str(self.script), "--entity", str(entity), "--time", repr(at)]
        argv += ["--plugin", PLUGIN, "--project", "demo", "--hostname", "testbox", *extra]
        env = {"HOME": str(self.home), "PATH": os.environ.get("PATH", "")}
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        return done.returncode

    def queued(self) -> int:
        """Heartbeats waiting in the CLI's offline queue (sqlite)."""
        import sqlite3

        db = self.home / ".wakatime.db"
        if not db.exists():
            return 0
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM heartbeat_2").fetchone()[0])


@pytest.fixture
def cli_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    yield home


async def test_the_legacy_cli_sends_queues_offline_and_reads_back(
    app: FastAPI, client: AsyncClient, settings: Settings, wakatime_cli: Path, cli_home: Path
) -> None:
    user = await create_user(app)
    key = await uuid_key(client, user)
    cli = Cli(wakatime_cli, cli_home, key)
    source = cli_home / "project" / "app.py"
    source.parent.mkdir()
    source.write_text("print('hello')\n")
    now = time.time()
    times = [now - 300, now - 200, now - 100]

    with serving(settings) as (_, base):
        cli.point_at(base)
        assert cli.send(source, times[0]) == 0
    # The server is down: the CLI keeps the heartbeat in its offline queue.
    assert cli.send(source, times[1], "--write") != 0
    assert cli.queued() == 1
    with serving(settings) as (_, base):
        cli.point_at(base)
        # The next heartbeat is sent, then the queue is flushed.
        assert cli.send(source, times[2], "--lineno", "1", "--cursorpos", "5") == 0
        assert cli.queued() == 0
        headers = basic(key)
        async with httpx.AsyncClient(base_url=base + API, headers=headers) as http:
            statusbar = (await http.get("/users/current/statusbar/today")).json()["data"]
            window = {"start": "yesterday", "end": "today"}
            summaries = (await http.get("/users/current/summaries", params=window)).json()
            projects = (await http.get("/users/current/projects")).json()["data"]
    # Three heartbeats 100 s apart: 200 s, whichever side of midnight they fell.
    assert summaries["cumulative_total"]["seconds"] == pytest.approx(200, abs=0.01)
    today = summaries["data"][-1]
    assert statusbar["grand_total"]["total_seconds"] == today["grand_total"]["total_seconds"]
    assert statusbar["grand_total"]["text"] == today["grand_total"]["text"]
    days = [d for d in summaries["data"] if d["grand_total"]["total_seconds"] > 0]
    for day in days:
        assert [p["name"] for p in day["projects"]] == ["demo"]
        assert [e["name"] for e in day["editors"]] == ["Vim"]
        assert [m["name"] for m in day["machines"]] == ["testbox"]
        assert [lang["name"] for lang in day["languages"]] == ["Python"]
        assert [c["name"] for c in day["categories"]] == ["Coding"]
    assert [p["name"] for p in projects] == ["demo"]
