"""Schemathesis over the whole OpenAPI schema of the live server, signed in.

Examples, coverage and fuzzing phases; every response must be a non-5xx that conforms to the
schema (status code, content type, headers and body). Operations that end the caller's
session or account get a fresh account per case, so the rest keep a valid token.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

DESTRUCTIVE = {
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/logout-all"),
    ("DELETE", "/api/v1/users/me"),
    ("POST", "/api/v1/users/me/password"),
}


class Accounts:
    """Signs up accounts on the live server for schemathesis to use."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.shared: str | None = None

    def sign_up(self) -> str:
        response = httpx.post(
            self.base + "/api/v1/auth/register",
            json={
                "email": f"fuzz-{uuid.uuid4().hex}@example.com",
                "password": "fuzzing-password",
                "name": "Fuzz",
            },
            timeout=10,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def token_for(self, case: Any) -> str:
        if (case.method.upper(), case.path) in DESTRUCTIVE:
            return self.sign_up()
        if self.shared is None or not self._works(self.shared):
            self.shared = self.sign_up()
        return self.shared

    def _works(self, token: str) -> bool:
        me = httpx.get(self.base + "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        return me.status_code == 200


@pytest.fixture(scope="session")
def api_schema(live_server: str) -> Any:
    accounts = Accounts(live_server)

    @schemathesis.auth(refresh_interval=None)
    class LiveAuth:
        def get(self, case: Any, context: Any) -> str:
            return accounts.token_for(case)

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return schemathesis.openapi.from_url(live_server + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")

# A request the schema allows may still be refused for good reason (404 for a random id,
# 409 for a duplicate), so positive data is not required to succeed.
EXCLUDED = [positive_data_acceptance]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: Any, app: Any) -> None:
    case.call_and_validate(excluded_checks=EXCLUDED, timeout=30)
