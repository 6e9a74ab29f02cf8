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
from contextlib import nullcontext
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


# Three watchers in queued mode, as aw-watcher-window and its kin run: each heartbeat goes to
# aw-client's persistent queue (pre-merged as aw-client does), and its thread sends them one
# by one once the server answers. Any answer but 2xx drops the heartbeat for good.
BACKLOG_SCRIPT = """
import json, sys, time
from datetime import datetime, timedelta, timezone
from aw_client import ActivityWatchClient
from aw_core.models import Event

port, per_watcher = int(sys.argv[1]), int(sys.argv[2])
start = datetime(2024, 3, 4, 8, 0, tzinfo=timezone.utc)
clients = []
for w in range(3):
    client = ActivityWatchClient(f"backlog-watcher-{w}", host="127.0.0.1", port=port)
    bucket = f"backlog-{w}"
    client.create_bucket(bucket, "currentwindow", queued=True)
    client.connect()  # the server is down: the queue thread retries every 10 s
    for i in range(per_watcher):  # a day's watcher at 1 Hz, switching windows often
        title = f"window {(i * 7 + w) % 5 if i % 3 else (i // 3) % 2}"
        event = Event(timestamp=start + timedelta(seconds=i), data={"app": "app", "title": title})
        client.heartbeat(bucket, event, pulsetime=2.0, queued=True)
    clients.append(client)
queued = sum(c.request_queue._persistqueue.qsize() for c in clients)
print(json.dumps({"queued": queued}), flush=True)
sys.stdin.readline()  # the server is up
deadline = time.monotonic() + 240
while time.monotonic() < deadline:
    if all(c.request_queue._persistqueue.qsize() == 0 and c.request_queue._current is None
           for c in clients):
        break
    time.sleep(0.2)
for c in clients:
    c.disconnect()
print(json.dumps({"left": sum(c.request_queue._persistqueue.qsize() for c in clients)}))
"""


def drain_backlog(aw_python: Path, home: Path, port: int, per_watcher: int, up: Any) -> int:
    """Queue three watchers' heartbeats while nothing listens on `port`, call `up()` (which
    starts the server and returns a context to keep it up), let the queues drain; the number
    of heartbeat requests that were queued."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AW_", "XDG_"))}
    env.update(
        NETRC=str(home / "netrc"), XDG_CONFIG_HOME=str(home), XDG_DATA_HOME=str(home / "data")
    )
    env["XDG_CACHE_HOME"] = str(home / "cache")
    process = subprocess.Popen(
        [str(aw_python), "-c", BACKLOG_SCRIPT, str(port), str(per_watcher)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    line = process.stdout.readline()
    assert line, process.communicate()[1][-3000:]
    queued: int = json.loads(line)["queued"]
    with up():
        out, err = process.communicate("up\n", timeout=300)
    assert process.returncode == 0, err[-3000:]
    assert json.loads(out.strip().splitlines()[-1]) == {"left": 0}
    return queued


def test_aw_client_backlog_arrives_whole(live_server: str, aw_python: Path, settings: Any) -> None:
    """A backlog queued by unmodified aw-client while rhythm was down: three watchers, 3,000
    heartbeats pre-merged into about 2,600 requests, replayed in well under a minute: over the
    per-user request limit (1,200/minute here, the default; before heartbeats had their own
    pace, 5,999 queued became 1,198 stored) and over the heartbeat burst (so the pace makes
    them wait). Every one arrives: rhythm's events are aw-server's for the same stream."""
    from tests.conftest import free_port, serving

    key = api_key_on(live_server)
    per_watcher = 1000
    home = Path(tempfile.mkdtemp(prefix="aw-backlog-"))
    netrc = home / "netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin {key}\npassword x\n")
    netrc.chmod(0o600)
    paced = settings.model_copy(
        update={
            "rate_limit_default": "1200/minute",
            "rate_limit_heartbeats": "300/second",
            "rate_limit_heartbeats_burst": 500,
        }
    )
    port = free_port()
    queued = drain_backlog(aw_python, home, port, per_watcher, lambda: serving(paced, port))
    assert queued > 1200 + 500  # more than the request limit lets in a minute, and the burst
    rhythm_base = live_server
    aw_home = Path(tempfile.mkdtemp(prefix="aw-backlog-aw-"))
    (aw_home / "netrc").write_text("")
    expected: dict[str, list[Any]] = {}
    with run_aw_server(aw_python) as aw:
        aw_port = int(aw.rsplit(":", 1)[1])
        # aw-server is up from the start; the queued stream is the same (pre-merging depends
        # only on the events), and its queue thread connects at once.
        drain_backlog(aw_python, aw_home, aw_port, per_watcher, nullcontext)
        for w in range(3):
            got = httpx.get(f"{aw}/api/0/buckets/backlog-{w}/events", params={"limit": -1})
            expected[f"backlog-{w}"] = got.json()
    for bucket, events in expected.items():
        got = httpx.get(
            f"{rhythm_base}/api/0/buckets/{bucket}/events",
            params={"limit": -1},
            auth=(key, ""),
        )
        assert got.status_code == 200, got.text
        assert len(events) > 500
        assert shape(sorted(got.json(), key=_start)) == shape(sorted(events, key=_start))


def _start(event: dict[str, Any]) -> str:
    return str(event["timestamp"])
