"""rhythm's /api/0 against the real ActivityWatch: aw-server side by side, and aw-client.

Both run from their own virtualenv (.venv-aw, created on first use from PyPI: aw-server pins
Flask < 3 and peewee < 3.17, and aw-core pins platformdirs 3, which rhythm's own venv cannot
take). The rhythm side is the real server process (live_server).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.usage.awserver import ensure_aw_venv, heartbeat_stream, replay, run_aw_server

AW_VENV = Path(__file__).resolve().parents[2] / ".venv-aw"


@pytest.fixture(scope="session")
def aw_python() -> Path:
    return ensure_aw_venv(AW_VENV)


def api_key_on(base: str) -> str:
    """A new account on the live server, and an API key of it."""
    account = httpx.post(
        base + "/api/v1/auth/register",
        json={
            "email": f"aw-{uuid.uuid4().hex[:10]}@example.com",
            "password": "aw-password-123",
            "name": "Watcher",
        },
    )
    assert account.status_code == 201, account.text
    token = account.json()["access_token"]
    key = httpx.post(
        base + "/api/v1/auth/api-keys",
        json={"name": "aw"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert key.status_code == 201, key.text
    secret: str = key.json()["key"]
    return secret


def shape(events: list[dict[str, Any]]) -> list[tuple[datetime, float, dict[str, Any]]]:
    return [(datetime.fromisoformat(e["timestamp"]), e["duration"], e["data"]) for e in events]


@pytest.mark.parametrize(("seed", "pulsetime"), [(7, 5.0), (11, 30.0)])
def test_merges_exactly_like_aw_server(
    live_server: str, aw_python: Path, seed: int, pulsetime: float
) -> None:
    """The same streams (random apps, gaps just under, at and over the pulsetime, bursts at one
    instant) give identical events: timestamp, duration and data."""
    stream = list(heartbeat_stream(seed, 2000, pulsetime=pulsetime, durations=False))
    bucket = f"difftest-{seed}"
    with run_aw_server(aw_python) as aw, httpx.Client(timeout=30) as client:
        expected = replay(aw, bucket, stream, pulsetime, client)
        got = replay(
            live_server, bucket, stream, pulsetime, client, auth=(api_key_on(live_server), "")
        )
    assert len(expected) > 100  # the stream does merge and does split
    assert shape(got) == shape(expected)


AW_CLIENT_SCRIPT = """
import json, sys
from datetime import datetime, timedelta, timezone
from aw_client import ActivityWatchClient
from aw_core.models import Event

port = int(sys.argv[1])
client = ActivityWatchClient("rhythm-itest", host="127.0.0.1", port=port)
client.create_bucket("aw-watcher-window_itest", event_type="currentwindow")
client.create_bucket("aw-watcher-window_itest", event_type="currentwindow")  # 304: exists
start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=2)
for i in range(6):
    event = Event(timestamp=start + timedelta(seconds=5 * i), data={"app": "Term", "title": "sh"})
    client.heartbeat("aw-watcher-window_itest", event, pulsetime=10)
client.heartbeat(
    "aw-watcher-window_itest",
    Event(timestamp=start + timedelta(seconds=30), data={"app": "Mail", "title": "Inbox"}),
    pulsetime=10,
)
events = client.get_events("aw-watcher-window_itest")
buckets = client.get_buckets()
print(json.dumps({
    "start": start.isoformat(),
    "events": [e.to_json_dict() for e in events],
    "buckets": list(buckets),
}, default=str))
"""


def test_unmodified_aw_client_authenticates_with_netrc(live_server: str, aw_python: Path) -> None:
    """aw-client sends no auth of its own: requests takes Basic credentials from ~/.netrc (here
    $NETRC), with the API key as the login."""
    key = api_key_on(live_server)
    port = live_server.rsplit(":", 1)[1]
    home = Path(tempfile.mkdtemp(prefix="aw-client-"))
    netrc = home / "netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin {key}\npassword x\n")
    netrc.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AW_", "XDG_"))}
    env.update(NETRC=str(netrc), XDG_CONFIG_HOME=str(home), XDG_DATA_HOME=str(home))
    run = subprocess.run(
        [str(aw_python), "-c", AW_CLIENT_SCRIPT, port],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert "aw-watcher-window_itest" in result["buckets"]
    events = sorted(result["events"], key=lambda e: e["timestamp"])
    assert [(e["data"]["app"], e["duration"]) for e in events] == [("Term", 25.0), ("Mail", 0.0)]
    # Without the netrc, the same client is refused.
    env.pop("NETRC")
    env["HOME"] = str(home)
    refused = subprocess.run(
        [str(aw_python), "-c", AW_CLIENT_SCRIPT, port],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0
    assert "401" in refused.stderr
