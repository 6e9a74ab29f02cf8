"""Focus inputs outside their documented windows: 422 problems, never a 500 (issue 10, item 2)."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.factories import create_user, problem


@pytest.mark.parametrize(
    ("started", "ended"),
    [
        ("0001-01-01T00:00:00Z", "0001-01-01T05:00:00Z"),
        ("0001-01-01T00:00:00+01:00", "0001-01-01T05:00:00+01:00"),
        ("9999-12-31T20:00:00Z", "9999-12-31T23:00:00Z"),
        ("1969-12-31T20:00:00Z", "1969-12-31T23:00:00Z"),
    ],
)
async def test_sessions_outside_the_window(
    app, client: AsyncClient, started: str, ended: str
) -> None:
    user = await create_user(app, timezone="America/New_York")
    for zone in ("America/New_York", "Asia/Tokyo"):
        body = {"session_id": "s", "started_at": started, "ended_at": ended, "timezone": zone}
        response = await client.post("/api/v1/focus/sessions", json=body, headers=user.headers)
        assert problem(response, 422)["errors"][0]["field"] in ("started_at", "ended_at")
    listed = await client.get("/api/v1/focus/sessions", headers=user.headers)
    assert listed.json()["data"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"from": "9999-12-31", "to": "9999-12-31"},
        {"from": "0001-01-01", "to": "0001-01-01"},
        {"from": "1969-12-31", "to": "1970-01-01"},
        {"from": "2026-01-01\n", "to": "2026-01-02"},
        {"from": "2026-01-01", "to": "x" * 60_000},
    ],
)
async def test_days_outside_the_window(app, client: AsyncClient, params: dict) -> None:  # type: ignore[type-arg]
    user = await create_user(app)
    response = await client.get("/api/v1/focus/days", params=params, headers=user.headers)
    assert problem(response, 422)["errors"][0]["field"].startswith("query.")


async def test_days_at_the_edges_of_the_window(app, client: AsyncClient) -> None:
    user = await create_user(app, timezone="Pacific/Kiritimati")
    for first, last in (("1970-01-01", "1970-01-02"), ("2199-12-30", "2199-12-31")):
        response = await client.get(
            "/api/v1/focus/days", params={"from": first, "to": last}, headers=user.headers
        )
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/users/{x}/streak", {}),
        ("/api/v1/focus/leaderboard", {"cursor": "x" * 60_000}),
        ("/api/v1/focus/leaderboard", {"cursor": "AAAAAAAAAAAAAAAAAAAAAAAAAA"}),
        ("/api/v1/focus/leaderboard", {"limit": "1e308"}),
        ("/api/v1/focus/sessions", {"cursor": "AAAAAAAAAAAAAAAAAAAAAAAAAA"}),
        ("/api/v1/focus/sessions", {"limit": "-1"}),
    ],
)
async def test_ids_and_pages(app, client: AsyncClient, path: str, params: dict) -> None:  # type: ignore[type-arg]
    user = await create_user(app)
    for junk in ("x" * 1000, "%0A", "not-a-uuid"):
        response = await client.get(path.format(x=junk), params=params, headers=user.headers)
        problem(response, 422)
