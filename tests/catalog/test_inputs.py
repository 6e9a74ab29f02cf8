"""Catalog search bounds outside their documented window: the provider contract's 400 on /search,
422 problems on /api/v1/events, never a 500 (issue 10)."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.factories import create_user, problem

BAD_BOUNDS = [
    "0001-01-01",
    "9999-12-31",
    "9999-12-31T23:59:59",
    "1969-12-31T23:00:00",
    "2026-01-01T00:00\n",
    "\uff12\uff10\uff12\uff16-01-01",
    "x" * 60_000,
]


@pytest.mark.parametrize("bound", BAD_BOUNDS)
@pytest.mark.parametrize("name", ["starts_at", "ends_at"])
async def test_bounds_outside_the_window(app, client: AsyncClient, name: str, bound: str) -> None:
    search = await client.get("/search", params={name: bound})
    assert search.status_code == 400, search.text
    assert search.json()["error"]["code"] == "invalid_parameter"
    assert len(search.text) < 1000  # a long value is not echoed back
    user = await create_user(app)
    events = await client.get("/api/v1/events", params={name: bound}, headers=user.headers)
    assert problem(events, 422)["errors"][0]["field"] == f"query.{name}"


async def test_bounds_at_the_edges_of_the_window(app, client: AsyncClient) -> None:
    answer = await client.get(
        "/search", params={"starts_at": "1970-01-01", "ends_at": "2199-12-31T23:59:59"}
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "params",
    [{"cursor": "x" * 60_000}, {"cursor": "AAAAAAAAAAAAAAAAAAAAAAAAAA"}, {"limit": "1e308"}],
)
async def test_event_pages(app, client: AsyncClient, params: dict) -> None:  # type: ignore[type-arg]
    user = await create_user(app)
    response = await client.get("/api/v1/events", params=params, headers=user.headers)
    problem(response, 422)
