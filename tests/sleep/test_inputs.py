"""Sleep inputs outside their documented windows: 422 problems on both lanes, never a 500, and
nothing written to Redis for a refused week (issue 10, items 2 and 3)."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.factories import create_user, problem

BAD_WEEKS = [
    "2026-W01\n",
    "2026-W01 ",
    "\uff12\uff10\uff12\uff16-W01",  # fullwidth digits: \d would take them
    "9999-W52",
    "0001-W01",
    "1969-W52",
    "2021-W53",
    "2026-W00",
    "x" * 60_000,
    "2026-W01\x00",
]
VIEWS = ["/api/v1/sleep/following", "/api/v1/sleep/rankings/weekly"]


@pytest.mark.parametrize("view", VIEWS)
async def test_bad_weeks_are_422_and_write_nothing(
    app, client: AsyncClient, redis, view: str
) -> None:
    user = await create_user(app)
    warm = await client.get(view, params={"week": "2026-W01"}, headers=user.headers)
    assert warm.status_code == 200, warm.text
    keys = sorted(await redis.keys("sleep:*"))
    for week in BAD_WEEKS:
        response = await client.get(view, params={"week": week}, headers=user.headers)
        body = problem(response, 422)
        assert body["errors"][0]["field"] == "query.week"
    assert sorted(await redis.keys("sleep:*")) == keys


async def test_both_lanes_give_the_same_problem(app, client: AsyncClient) -> None:
    """The fast lane (GET) and its FastAPI twin (HEAD goes to FastAPI) share one validator."""
    user = await create_user(app)
    for week in ("2026-W01\n", "9999-W52"):
        fast = await client.get(VIEWS[0], params={"week": week}, headers=user.headers)
        ranked = await client.get(VIEWS[1], params={"week": week}, headers=user.headers)
        assert problem(fast, 422)["errors"] == problem(ranked, 422)["errors"]


@pytest.mark.parametrize(
    "params",
    [{"cursor": "x" * 60_000}, {"cursor": "AAAAAAAAAAAAAAAAAAAAAAAAAA"}, {"cursor": "a\x00"}]
    + [{"limit": v} for v in ("-1", "0", "101", "1e308", "99999999999999999999999")],
)
@pytest.mark.parametrize("view", [*VIEWS, "/api/v1/sleep/records"])
async def test_page_parameters(app, client: AsyncClient, view: str, params: dict) -> None:  # type: ignore[type-arg]
    user = await create_user(app)
    response = await client.get(view, params=params, headers=user.headers)
    problem(response, 422)


@pytest.mark.parametrize(
    "at", ["0001-01-01T00:00:00Z", "0001-01-01T05:00:00+01:00", "9999-12-31T20:00:00Z"]
)
async def test_year_1_and_9999_nights(app, client: AsyncClient, at: str) -> None:
    user = await create_user(app, timezone="America/New_York")
    backfill = await client.post(
        "/api/v1/sleep/records",
        json={"sleep_at": at, "wake_at": at.replace("T", "T").replace(":00:00", ":30:00", 1)},
        headers=user.headers,
    )
    assert problem(backfill, 422)["errors"][0]["field"] in ("sleep_at", "wake_at")
    clock_in = await client.post("/api/v1/sleep/clock-in", json={"at": at}, headers=user.headers)
    assert problem(clock_in, 422)["errors"][0]["field"] == "at"
    for zone in ("Asia/Tokyo", "America/New_York"):
        backfill = await client.post(
            "/api/v1/sleep/records",
            json={
                "sleep_at": "9999-12-31T20:00:00Z",
                "wake_at": "9999-12-31T23:00:00Z",
                "sleep_timezone": zone,
            },
            headers=user.headers,
        )
        problem(backfill, 422)
    # Nothing was stored, and the user can still clock in.
    records = await client.get("/api/v1/sleep/records", headers=user.headers)
    assert records.json()["data"] == []
    now = await client.post("/api/v1/sleep/clock-in", json={}, headers=user.headers)
    assert now.status_code == 201, now.text
