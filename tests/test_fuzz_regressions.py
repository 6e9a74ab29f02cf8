"""Regressions for the 5xx the fuzzer found (docs/reliability.md, "Found by the fuzzer")."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient

from tests.factories import create_user, problem


async def _api_key(client: AsyncClient, app: FastAPI) -> dict[str, str]:
    user = await create_user(app)
    key = await client.post("/api/v1/auth/api-keys", json={"name": "aw"}, headers=user.headers)
    return {"Authorization": f"Bearer {key.json()['key']}"}


async def test_a_nul_in_an_aw_bucket_field_is_a_422(client: AsyncClient, app: FastAPI) -> None:
    """POST /api/0/buckets/{id} writes through the raw asyncpg connection, whose error for an
    unstorable NUL is not wrapped by SQLAlchemy: it was a 500."""
    headers = await _api_key(client, app)
    for field in ("type", "hostname", "client"):
        body = {"type": "currentwindow", field: "a\u0000b"}
        response = await client.post("/api/0/buckets/nul-test", json=body, headers=headers)
        problem(response, 422)
    # Nothing was stored, and the bucket can still be made with clean text.
    listed = await client.get("/api/0/buckets/", headers=headers)
    assert listed.json() == {}
    made = await client.post(
        "/api/0/buckets/nul-test", json={"type": "currentwindow"}, headers=headers
    )
    assert made.status_code == 200
