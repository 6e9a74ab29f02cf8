"""Many clients writing heartbeats, focus sessions and nights at once, with a ledger of what
was acknowledged, so that a test can break something under them and then prove that every
acknowledged write is stored exactly once, and that replaying the others duplicates nothing.

Every write carries its own identity: a heartbeat its own app name (one interval each), a focus
session its session_id, a night its bedtime and wake time (`at` given, never "now").
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

# A request not answered in this time counts as hanging (the test fails on it).
CLIENT_TIMEOUT = 10.0


@dataclass
class Write:
    user: int
    kind: str  # heartbeat | focus | clock-in | clock-out
    key: str  # the app name, the session_id, or the night's instant
    path: str
    body: dict[str, Any]
    status: int | None = None  # None: no answer (connection lost)
    problem: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    attempt: int = 1  # 2 and more: sent again after a 503

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Client:
    index: int
    user_id: str
    headers: dict[str, str]


@dataclass
class Workload:
    base: str
    clients: list[Client]
    writes: list[Write] = field(default_factory=list)
    # Nights and heartbeats are placed from here on, far from each other and from now.
    origin: datetime = field(
        default_factory=lambda: (
            datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1100)
        )
    )

    @classmethod
    def register(cls, base: str, count: int) -> Workload:
        clients = []
        for index in range(count):
            answer = httpx.post(
                base + "/api/v1/auth/register",
                json={
                    "email": f"faults-{uuid.uuid4().hex[:10]}@example.com",
                    "password": "faults-password-123",
                    "name": f"Client {index}",
                },
                timeout=CLIENT_TIMEOUT,
            )
            assert answer.status_code == 201, answer.text
            body = answer.json()
            headers = {"Authorization": f"Bearer {body['access_token']}"}
            clients.append(Client(index, body["user"]["id"], headers))
        return cls(base, clients)

    def plan(self, client: Client, step: int) -> list[Write]:
        """The writes of one step of one client: a heartbeat, a focus session, a night."""
        user = client.index
        hour = self.origin + timedelta(days=step, hours=user % 12)
        bed = self.origin + timedelta(days=step, hours=20)
        wake = bed + timedelta(hours=7)
        app = f"hb-{user}-{step}"
        session = f"fs-{user}-{step}"
        return [
            Write(
                user,
                "heartbeat",
                app,
                "/api/v1/usage/heartbeats",
                {"timestamp": hour.isoformat(), "duration": 5, "app": app, "source": "faults"},
            ),
            Write(
                user,
                "focus",
                session,
                "/api/v1/focus/sessions",
                {
                    "session_id": session,
                    "started_at": (hour + timedelta(minutes=10)).isoformat(),
                    "ended_at": (hour + timedelta(minutes=50)).isoformat(),
                    "timezone": "UTC",
                },
            ),
            Write(
                user, "clock-in", bed.isoformat(), "/api/v1/sleep/clock-in", {"at": bed.isoformat()}
            ),
            Write(
                user,
                "clock-out",
                wake.isoformat(),
                "/api/v1/sleep/clock-out",
                {"at": wake.isoformat()},
            ),
        ]

    async def send(self, http: httpx.AsyncClient, client: Client, write: Write) -> Write:
        started = time.monotonic()
        try:
            answer = await http.post(
                self.base + write.path, json=write.body, headers=client.headers
            )
        except httpx.TimeoutException:
            raise AssertionError(f"{write.kind} {write.key} hung for {CLIENT_TIMEOUT} s") from None
        except httpx.TransportError:
            write.status = None  # the server went away: unacknowledged
        else:
            write.status = answer.status_code
            write.headers = dict(answer.headers)
            if answer.headers.get("content-type", "").startswith("application/problem+json"):
                write.problem = answer.json()
        write.seconds = time.monotonic() - started
        return write

    async def run(self, until: asyncio.Event, steps: int = 60) -> None:
        """Every client sends its steps one write at a time until `until` is set, or its
        server is gone. A write answered 503 is sent again, as a client honouring
        Retry-After would (sooner, to keep the test short), until it has a final answer."""

        async def one(client: Client) -> None:
            async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as http:
                for step in range(steps):
                    for planned in self.plan(client, step):
                        write = planned
                        while not until.is_set():
                            self.writes.append(await self.send(http, client, write))
                            if write.status != 503:
                                break
                            await asyncio.sleep(0.2)
                            write = replace(write, status=None, problem=None, headers={})
                            write.attempt += 1
                        if until.is_set() or write.status is None:
                            return

        await asyncio.gather(*(one(c) for c in self.clients))

    def stored(self, database_url: str) -> dict[tuple[int, str, str], int]:
        """How many times each write's effect is stored, read straight from PostgreSQL:
        (user, kind, key) -> rows."""
        ids = {c.user_id: c.index for c in self.clients}
        counts: dict[tuple[int, str, str], int] = {}
        with psycopg.connect(database_url) as conn:
            for user_id, app, n in conn.execute(
                "SELECT user_id::text, app, count(*) FROM usage_events"
                " WHERE user_id = ANY(%s::uuid[]) GROUP BY 1, 2",
                (list(ids),),
            ):
                counts[(ids[user_id], "heartbeat", app)] = n
            for user_id, session, n in conn.execute(
                "SELECT user_id::text, session_id, count(*) FROM focus_sessions"
                " WHERE user_id = ANY(%s::uuid[]) GROUP BY 1, 2",
                (list(ids),),
            ):
                counts[(ids[user_id], "focus", session)] = n
            for user_id, sleep_at, wake_at in conn.execute(
                "SELECT user_id::text, sleep_at, wake_at FROM sleep_records"
                " WHERE user_id = ANY(%s::uuid[])",
                (list(ids),),
            ):
                key = (ids[user_id], "clock-in", sleep_at.astimezone(UTC).isoformat())
                counts[key] = counts.get(key, 0) + 1
                if wake_at is not None:
                    key = (ids[user_id], "clock-out", wake_at.astimezone(UTC).isoformat())
                    counts[key] = counts.get(key, 0) + 1
        return counts

    def check_exactly_once(self, database_url: str) -> dict[str, int]:
        """Every acknowledged write stored exactly once, nothing stored twice, nothing stored
        that was never sent; the number of acknowledged writes per kind."""
        stored = self.stored(database_url)
        sent = {(w.user, w.kind, w.key) for w in self.writes}
        assert set(stored) <= sent, set(stored) - sent
        assert all(n == 1 for n in stored.values()), {k: n for k, n in stored.items() if n != 1}
        lost = [w for w in self.writes if w.acknowledged and (w.user, w.kind, w.key) not in stored]
        assert lost == [], lost
        acknowledged: dict[str, int] = {}
        for w in self.writes:
            if w.acknowledged:
                acknowledged[w.kind] = acknowledged.get(w.kind, 0) + 1
        return acknowledged

    async def replay_unacknowledged(self, base: str) -> list[Write]:
        """Send every unacknowledged write again, in its client's order, to `base`; the
        answers."""
        self.base = base
        replays: list[Write] = []
        async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as http:
            for write in self.writes:
                if write.acknowledged:
                    continue
                again = Write(write.user, write.kind, write.key, write.path, write.body)
                replays.append(await self.send(http, self.clients[write.user], again))
        return replays
