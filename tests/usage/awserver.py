"""The real ActivityWatch server (aw-server, Python, from PyPI) for differential tests.

aw-server lives in its own virtualenv: its Flask < 3 and peewee pins must not touch rhythm's.
peewee 4 breaks it (every bucket read raises iso8601.ParseError), hence peewee 3.16.
Storage is peewee/SQLite (WAL) under $XDG_DATA_HOME; events persist across restarts.
"""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from rhythm.platform.process import spawn_child

AW_REQUIREMENTS: tuple[str, ...] = (
    "aw-server==0.12.0",
    "aw-core==0.5.18",
    "aw-client==0.5.15",
    "peewee==3.16.3",
    "Flask==2.3.3",
    "Werkzeug==2.3.8",
    "flask-restx==1.3.2",
)
BUCKET = {"client": "rhythm-difftest", "type": "currentwindow", "hostname": "difftest"}
Heartbeat = dict[str, Any]
Auth = httpx.Auth | tuple[str, str] | None


def ensure_aw_venv(path: Path) -> Path:
    """Create (once) a virtualenv at `path` with aw-server installed; return its python."""
    python = path / "bin" / "python"
    stamp = path / ".rhythm-aw-stamp"
    wanted = "\n".join(AW_REQUIREMENTS)
    if stamp.is_file() and stamp.read_text() == wanted and python.exists():
        return python
    path.mkdir(parents=True, exist_ok=True)
    (path / ".gitignore").write_text("*\n")  # keeps the venv out of git wherever it lies
    with open(path / ".rhythm-aw.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers may race here
        if stamp.is_file() and stamp.read_text() == wanted and python.exists():
            return python
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, *AW_REQUIREMENTS], check=True)
        subprocess.run([str(python), "-c", "import aw_server.main"], check=True)
        stamp.write_text(wanted)
    return python


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)  # its own session: the group is it and its children
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def run_aw_server(
    venv: Path, *, testing: bool = True, log_level: str = "WARNING", timeout: float = 60.0
) -> Iterator[str]:
    """Serve aw-server on a free loopback port with throwaway XDG dirs; yield its base URL.

    `venv` is the virtualenv directory (or its bin/python, as ensure_aw_venv returns).
    In testing mode errors are Werkzeug debugger HTML pages and JSON is pretty-printed;
    without it errors are {"message": ...} and DELETE of a bucket needs ?force=1.
    """
    root = venv.parent.parent if venv.is_file() else venv
    home = Path(tempfile.mkdtemp(prefix="aw-server-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AW_", "XDG_"))}
    for name in ("DATA", "CONFIG", "CACHE", "STATE"):
        env[f"XDG_{name}_HOME"] = str(home / name.lower())
    env["LOG_LEVEL"] = log_level
    port = _free_port()
    argv = [str(root / "bin" / "python"), "-m", "aw_server", "--host", "127.0.0.1"]
    argv += ["--port", str(port), *(["--testing"] if testing else [])]
    log_path = home / "aw-server.log"
    with open(log_path, "wb") as log:
        process = spawn_child(
            argv,
            env=env,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"aw-server exited with {process.returncode}:\n{tail}")
            try:
                if httpx.get(base + "/api/0/info", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"aw-server did not answer on {base} within {timeout} s")
            time.sleep(0.1)
        yield base
    finally:
        _stop(process)
        shutil.rmtree(home, ignore_errors=True)


def replay(
    base_url: str,
    bucket_id: str,
    heartbeats: Iterable[Heartbeat],
    pulsetime: float,
    client: httpx.Client,
    auth: Auth = None,
) -> list[dict[str, Any]]:
    """Create `bucket_id`, send every heartbeat in order, return all its events, oldest first."""
    extra: dict[str, Any] = {} if auth is None else {"auth": auth}
    bucket_url = f"{base_url}/api/0/buckets/{bucket_id}"
    created = client.post(bucket_url, json=BUCKET, **extra)
    if created.status_code >= 400:  # aw-server: 200 when created, 304 when it existed
        created.raise_for_status()
    params = {"pulsetime": repr(float(pulsetime))}
    for heartbeat in heartbeats:
        sent = client.post(bucket_url + "/heartbeat", params=params, json=heartbeat, **extra)
        sent.raise_for_status()
    # limit: absent or any negative value means "no limit"; 0 returns [].
    got = client.get(bucket_url + "/events", params={"limit": "-1"}, **extra)
    got.raise_for_status()
    events: list[dict[str, Any]] = got.json()
    # aw-server answers newest first; ties on timestamp come highest id first.
    return sorted(events, key=lambda e: (datetime.fromisoformat(e["timestamp"]), e.get("id") or 0))


_APPS: dict[str, tuple[str, ...]] = {
    "firefox": ("Inbox - Mail", "rhythm/issues", "Python docs"),
    "code": ("awserver.py - rhythm", "app.py - rhythm"),
    "Slack": ("#general", "#dev"),
    "gnome-terminal": ("pytest", "~"),
}
_START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def heartbeat_stream(
    seed: int,
    n: int,
    *,
    pulsetime: float = 5.0,
    submillisecond: bool = False,
    null_id: bool = True,
    durations: bool = True,
) -> Iterator[Heartbeat]:
    """`n` heartbeats shaped as aw-client 0.5 sends them; timestamps never go back.

    aw-client posts Event.to_json_dict(): {"id": null, "timestamp": UTC isoformat() with
    microseconds only when non-zero, "duration": float seconds, "data": {...}}, its timestamps
    cut to milliseconds (aw-server cuts them too, on input). `submillisecond=True` adds
    sub-millisecond noise to probe that cut. Gaps fall around `pulsetime` (1-50 ms under,
    exactly on, 1-50 ms over), with bursts at the same or nearly the same instant.
    `durations=False` sends every heartbeat with duration 0, as the window watchers do: with
    durations, a heartbeat can start inside the previous event, where aw-server lets events
    overlap and rhythm does not.
    """
    rng = random.Random(seed)
    pulse_us = round(pulsetime * 1_000_000)
    t_us = rng.randrange(0, 3_600_000) * 1000
    app = rng.choice(list(_APPS))
    title = rng.choice(_APPS[app])
    for _ in range(n):
        kind = rng.choices(
            ("burst", "normal", "under", "equal", "over", "gap"), (15, 40, 12, 10, 13, 10)
        )[0]
        if kind == "burst":
            t_us += rng.choice((0, 0, 1, 2)) * 1000
        elif kind == "normal":
            t_us += rng.randrange(500, max(501, pulse_us // 1000 - 500)) * 1000
        elif kind == "under":
            t_us += max(0, pulse_us - rng.randint(1, 50) * 1000)
        elif kind == "equal":
            t_us += pulse_us
        elif kind == "over":
            t_us += pulse_us + rng.randint(1, 50) * 1000
        else:
            t_us += rng.randint(2 * pulse_us // 1000, max(2 * pulse_us // 1000, 600_000)) * 1000
        if rng.random() < 0.2:  # switch window (sometimes to the same app, another title)
            app = rng.choice(list(_APPS)) if rng.random() < 0.7 else app
            title = rng.choice(_APPS[app])
        if submillisecond and rng.random() < 0.3:
            t_us += rng.randrange(1000)
        ts = _START + timedelta(microseconds=t_us)
        duration = 0.0 if not durations or rng.random() < 0.8 else rng.randint(1, 3000) / 1000
        heartbeat: Heartbeat = {"id": None} if null_id else {}
        heartbeat["timestamp"] = ts.isoformat()
        heartbeat["duration"] = duration
        heartbeat["data"] = {"app": app, "title": title}
        yield heartbeat
