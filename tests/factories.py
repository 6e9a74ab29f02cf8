"""Plain async factories: users with open sessions, straight through the services."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from rhythm.identity import repository, service
from rhythm.identity.passwords import hash_password
from rhythm.platform.database import commit
from rhythm.platform.resources import Resources

_counter = itertools.count(1)
_password_hash: str | None = None
PASSWORD = "correct horse battery"


@dataclass
class TestUser:
    id: uuid.UUID
    email: str
    name: str
    timezone: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def create_user(
    app: FastAPI,
    *,
    name: str | None = None,
    email: str | None = None,
    timezone: str = "UTC",
    device_name: str = "pytest",
) -> TestUser:
    """A user with PASSWORD as password and one open device session."""
    global _password_hash
    if _password_hash is None:
        _password_hash = await hash_password(PASSWORD)
    n = next(_counter)
    email = email or f"user{n}-{uuid.uuid4().hex[:8]}@example.com"
    name = name or f"User {n}"
    async with app.state.services[Resources].session_factory() as session:
        user = await repository.insert_user(
            session, email=email, password_hash=_password_hash, name=name, timezone=timezone
        )
        assert user is not None
        tokens = await service.open_session(
            session, app.state.services[service.TokenIssuer], user.id, device_name
        )
        await commit(session)
    return TestUser(user.id, email, name, timezone, tokens.access_token, tokens.refresh_token)


def problem(response: Any, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem response with the given status; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    assert "Traceback" not in response.text
    return body


async def delete_account(client: Any, user: TestUser) -> Any:
    """DELETE /users/me as `user`, with the password it needs again."""
    return await client.request(
        "DELETE", "/api/v1/users/me", json={"password": PASSWORD}, headers=user.headers
    )


def zone_at_hour(hour: int) -> str:
    """A fixed-offset zone (Etc/GMT±N) whose wall clock now reads `hour` o'clock: a test in it
    knows where its local midnight is, whenever it runs."""
    offset = (hour - datetime.now(UTC).hour + 12) % 24 - 12  # -12 to +11: all are Etc/GMT zones
    # Etc/GMT's sign is POSIX's: Etc/GMT-3 is three hours ahead of UTC.
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def today_at(zone: str, hour: int, minute: int = 0) -> datetime:
    """Today at hour:minute on the zone's wall clock."""
    day = datetime.now(ZoneInfo(zone)).date()
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(zone))
