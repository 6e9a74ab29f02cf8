"""A day's backlog of three watchers replayed at once: 24 h x 3 watchers x 1 Hz = 259,200
heartbeats from one user, each watcher sending its queue one request at a time as fast as the
server answers (aw-client's queued mode), against Granian with 2 workers and the default limits
(RHYTHM_RATE_LIMIT_DEFAULT 1200/minute, the heartbeat pace 1000/s after a burst of 50,000).

`python bench/run.py backlog` (takes several minutes). Prints the figure for
docs/benchmarks.md: time, heartbeats/s, non-2xx answers (must be 0) and rows stored.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from bench.harness import bench_database, granian, rhythm_env

WATCHERS = 3
SECONDS = 86_400
T0 = datetime(2026, 11, 1, tzinfo=UTC)
DEFAULT_LIMITS = {
    "RHYTHM_RATE_LIMIT_DEFAULT": "1200/minute",
    "RHYTHM_RATE_LIMIT_HEARTBEATS": "1000/second",
    "RHYTHM_RATE_LIMIT_HEARTBEATS_BURST": "50000",
    "RHYTHM_RATE_LIMIT_HEARTBEATS_MAX_WAIT": "2",
}


def account(api: str) -> tuple[str, str]:
    """A new account and an API key of it: (bearer token, key)."""
    made = httpx.post(
        api + "/api/v1/auth/register",
        json={
            "email": f"backlog-{uuid.uuid4().hex[:10]}@example.com",
            "password": "backlog-password-123",
            "name": "Backlog",
        },
    )
    assert made.status_code == 201, made.text
    token = made.json()["access_token"]
    key = httpx.post(
        api + "/api/v1/auth/api-keys",
        json={"name": "watchers"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert key.status_code == 201, key.text
    return token, key.json()["key"]


async def watcher(api: str, key: str, index: int, statuses: dict[int, int]) -> None:
    bucket = f"{api}/api/0/buckets/backlog-{index}"
    async with httpx.AsyncClient(auth=(key, ""), timeout=60) as client:
        created = await client.post(
            bucket, json={"client": "bench", "type": "currentwindow", "hostname": "bench"}
        )
        assert created.status_code in (200, 304), created.text
        for second in range(SECONDS):
            body = {
                "timestamp": (T0 + timedelta(seconds=second)).isoformat(),
                "duration": 0,
                # A window switch every heartbeat: each is its own event, the worst case.
                "data": {"app": f"app{second % 3}", "title": f"w{index}"},
            }
            sent = await client.post(bucket + "/heartbeat", params={"pulsetime": 2}, json=body)
            statuses[sent.status_code] = statuses.get(sent.status_code, 0) + 1


def run(rounds: int = 1, seconds: int = 0, processes: list[int] | None = None) -> None:
    from rhythm.migrations import upgrade

    with bench_database() as (database_url, redis_url):
        upgrade(database_url)
        env = rhythm_env(database_url, redis_url, **DEFAULT_LIMITS)
        with granian("rhythm.app:create_app", env) as api:
            _, key = account(api)
            statuses: dict[int, int] = {}
            began = time.monotonic()
            asyncio.run(_replay(api, key, statuses))
            elapsed = time.monotonic() - began
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM usage_events e JOIN usage_buckets b ON b.id = e.bucket_pk"
                " JOIN api_keys k ON k.user_id = b.user_id"
                " WHERE k.key_hash = sha256(%s::bytea)",
                (key.encode(),),
            ).fetchone()
    sent = sum(statuses.values())
    non_2xx = sum(n for status, n in statuses.items() if not 200 <= status < 300)
    print("| heartbeats | seconds | heartbeats/s | non-2xx | events stored |")
    print("|---|---|---|---|---|")
    stored = row[0] if row else "?"
    print(f"| {sent:,} | {elapsed:.0f} | {sent / elapsed:,.0f} | {non_2xx} | {stored:,} |")
    print(f"\nstatuses: {statuses}")


async def _replay(api: str, key: str, statuses: dict[int, int]) -> None:
    await asyncio.gather(*(watcher(api, key, i, statuses) for i in range(WATCHERS)))
