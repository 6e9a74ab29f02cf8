"""GET /api/v1/editors/summary through HTTP: a range of local days' editor time by project and
language, for a device session (the dashboard) as for an API key; the same seconds as
WakaTime's summaries; bounded; only the caller's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient

from tests.editors.test_wakatime_api import BASE, basic, beat, send, uuid_key
from tests.factories import create_user, problem

SUMMARY = "/api/v1/editors/summary"


async def summary(client: AsyncClient, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = await client.get(SUMMARY, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_range_s_time_by_project_and_language(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app, timezone="Europe/Paris")  # UTC+1 in November
    raw = await uuid_key(client, user)
    key = basic(raw)
    # 2026-11-09 23:50 to 2026-11-10 00:20 Paris time, a beat every 10 minutes (Python, on
    # rhythm); then, after a 20-minute gap (not counted), 10 minutes of Go on bench and 10 more
    # to the next beat, which has no project or language; then 5 minutes of that.
    midnight = datetime(2026, 11, 9, 23, 0, tzinfo=UTC).timestamp()
    beats = [beat(midnight - 600 + i * 600) for i in range(4)]
    beats += [beat(midnight + 2400 + i * 300, project="bench", language="Go") for i in range(3)]
    beats += [beat(midnight + 3600 + i * 300, project=None, language=None) for i in range(2)]
    await send(client, key, *beats)

    both = await summary(client, user.headers, **{"from": "2026-11-09", "to": "2026-11-10"})
    assert both["from"] == "2026-11-09" and both["to"] == "2026-11-10"
    assert both["timezone"] == "Europe/Paris"
    # The gap from bench's last beat to the next beat (without a project) counts for bench,
    # as WakaTime counts it.
    assert both["total_seconds"] == 1800 + 1200 + 300
    assert both["projects"] == [
        {"name": "rhythm", "seconds": 1800},
        {"name": "bench", "seconds": 1200},
        {"name": "Unknown", "seconds": 300},
    ]
    assert both["languages"] == [
        {"name": "Python", "seconds": 1800},
        {"name": "Go", "seconds": 1200},
        {"name": "Unknown", "seconds": 300},
    ]
    # The same seconds as WakaTime's summaries of those days.
    waka = await client.get(
        BASE + "/summaries", params={"start": "2026-11-09", "end": "2026-11-10"}, headers=key
    )
    assert waka.json()["cumulative_total"]["seconds"] == both["total_seconds"]
    # One day, in the profile's zone and in another: days end at their own midnight.
    first = await summary(client, user.headers, **{"from": "2026-11-09", "to": "2026-11-09"})
    assert first["total_seconds"] == 600 and first["projects"] == [
        {"name": "rhythm", "seconds": 600}
    ]
    utc = await summary(
        client, user.headers, **{"from": "2026-11-09", "to": "2026-11-09", "timezone": "UTC"}
    )
    assert utc["timezone"] == "UTC" and utc["total_seconds"] == 3000
    # An API key with the read scope reads it too; nobody else sees it.
    bearer = {"Authorization": f"Bearer {raw}"}
    assert (await summary(client, bearer, **{"from": "2026-11-09", "to": "2026-11-10"})) == both
    other = await create_user(app)
    theirs = await summary(client, other.headers, **{"from": "2026-11-09", "to": "2026-11-10"})
    assert (theirs["total_seconds"], theirs["projects"], theirs["languages"]) == (0, [], [])


async def test_ranges_are_bounded(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app)
    year = await summary(client, user.headers, **{"from": "2025-01-01", "to": "2025-12-31"})
    assert year["total_seconds"] == 0
    for params, field in (
        ({"from": "2024-01-01", "to": "2025-01-02"}, "query.to"),  # 368 days
        ({"from": "2026-11-10", "to": "2026-11-09"}, "query.to"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "query.from"),
        ({"from": "1969-12-31", "to": "1970-01-01"}, "query.from"),
        ({"from": "2199-12-31", "to": "2200-01-01"}, "query.to"),
        ({"from": "today", "to": "2026-11-10"}, "query.from"),
        ({"from": "2026-11-10"}, "query.to"),
        ({"from": "2026-11-10", "to": "2026-11-10", "timezone": "Mars/Olympus"}, "query.timezone"),
    ):
        body = problem(await client.get(SUMMARY, params=params, headers=user.headers), 422)
        assert field in {e["field"] for e in body["errors"]}, (params, body)
    problem(await client.get(SUMMARY, params={"from": "2026-11-10", "to": "2026-11-10"}), 401)
