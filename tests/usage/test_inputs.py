"""Usage and ActivityWatch inputs outside their documented windows and caps: 422 problems, never
500s, and a refused timestamp leaves the source usable (issue 10, items 1, 2 and 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient

from rhythm.usage.schemas import MAX_AW_EVENTS
from tests.factories import create_user, problem
from tests.usage.test_usage_api import api_key

NOW = datetime.now(UTC).replace(microsecond=0)
OUT_OF_WINDOW = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "1969-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59Z",
]


def _field(body: dict) -> str:  # type: ignore[type-arg]
    field: str = body["errors"][0]["field"]
    return field


@pytest.mark.parametrize("timestamp", OUT_OF_WINDOW)
async def test_heartbeat_outside_the_window_is_refused_and_the_source_still_works(
    app, client: AsyncClient, timestamp: str
) -> None:
    user = await create_user(app, timezone="America/New_York")
    bad = {"timestamp": timestamp, "app": "Editor", "source": "laptop"}
    single = await client.post("/api/v1/usage/heartbeats", json=bad, headers=user.headers)
    assert _field(problem(single, 422)) == "timestamp"
    bulk = await client.post("/api/v1/usage/heartbeats/bulk", json=[bad], headers=user.headers)
    assert _field(problem(bulk, 422)) == "0.timestamp"
    good = {**bad, "timestamp": NOW.isoformat()}
    for path, body in (("", good), ("/bulk", [good])):
        sent = await client.post(f"/api/v1/usage/heartbeats{path}", json=body, headers=user.headers)
        assert sent.status_code == 202, sent.text
    listed = await client.get("/api/v1/usage/intervals", headers=user.headers)
    assert listed.status_code == 200 and len(listed.json()["data"]) == 1
    report = await client.get(
        "/api/v1/usage/report", params={"date": NOW.date().isoformat()}, headers=user.headers
    )
    assert report.status_code == 200, report.text


@pytest.mark.parametrize(
    "params",
    [
        {"date": "0001-01-01"},
        {"date": "9999-12-31"},
        {"date": "9999-12-31", "timezone": "Asia/Tokyo"},
        {"date": "1969-12-31"},
        {"date": "2026-01-01\n"},
        {"date": "\uff12\uff10\uff12\uff16-01-01"},
        {"from": "9999-12-30", "to": "9999-12-31"},
        {"date": "x" * 60_000},
    ],
)
async def test_report_dates_outside_the_window(app, client: AsyncClient, params: dict) -> None:  # type: ignore[type-arg]
    user = await create_user(app)
    response = await client.get("/api/v1/usage/report", params=params, headers=user.headers)
    assert _field(problem(response, 422)).startswith("query.")


@pytest.mark.parametrize(
    "params",
    [
        {"from": "0001-01-01T00:00:00Z"},
        {"to": "9999-12-31T23:59:59-01:00"},
        {"source": "s" * 257},
        {"source": "laptop\n"},
        {"cursor": "x" * 60_000},
        {"cursor": "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {"limit": "-1"},
        {"limit": "1e308"},
    ],
)
async def test_intervals_parameters(app, client: AsyncClient, params: dict) -> None:  # type: ignore[type-arg]
    user = await create_user(app)
    response = await client.get("/api/v1/usage/intervals", params=params, headers=user.headers)
    problem(response, 422)


async def _aw(app, client: AsyncClient) -> dict[str, str]:  # type: ignore[no-untyped-def]
    user = await create_user(app)
    headers = {"Authorization": f"Bearer {await api_key(client, user)}"}
    made = await client.post(
        "/api/0/buckets/w", json={"type": "currentwindow", "hostname": "h"}, headers=headers
    )
    assert made.status_code == 200, made.text
    return headers


@pytest.mark.parametrize("duration", ["1e300", "1e309", "Infinity", "NaN", "-1", "31622401"])
async def test_aw_durations(app, client: AsyncClient, duration: str) -> None:
    headers = {**await _aw(app, client), "Content-Type": "application/json"}
    event = f'{{"timestamp": "{NOW.isoformat()}", "duration": {duration}, "data": {{}}}}'
    beat = await client.post(
        "/api/0/buckets/w/heartbeat?pulsetime=5", content=event, headers=headers
    )
    assert _field(problem(beat, 422)) == "duration"
    for body in (event, f"[{event}]"):
        inserted = await client.post("/api/0/buckets/w/events", content=body, headers=headers)
        problem(inserted, 422)
    stored = await client.get("/api/0/buckets/w/events", headers=headers)
    assert stored.json() == []


@pytest.mark.parametrize("timestamp", OUT_OF_WINDOW)
async def test_aw_timestamps(app, client: AsyncClient, timestamp: str) -> None:
    headers = await _aw(app, client)
    event = {"timestamp": timestamp, "duration": 1, "data": {"app": "a"}}
    beat = await client.post("/api/0/buckets/w/heartbeat?pulsetime=5", json=event, headers=headers)
    assert _field(problem(beat, 422)) == "timestamp"
    inserted = await client.post("/api/0/buckets/w/events", json=[event], headers=headers)
    problem(inserted, 422)
    good = {**event, "timestamp": NOW.isoformat()}
    again = await client.post("/api/0/buckets/w/heartbeat?pulsetime=5", json=good, headers=headers)
    assert again.status_code == 200, again.text
    window = await client.get(
        "/api/0/buckets/w/events", params={"start": timestamp}, headers=headers
    )
    problem(window, 422)


@pytest.mark.parametrize("bucket", ["b" * 257, "b%0A", "b%00", "b%7F"])
async def test_aw_bucket_ids(app, client: AsyncClient, bucket: str) -> None:
    headers = await _aw(app, client)
    created = await client.post(
        f"/api/0/buckets/{bucket}", json={"type": "currentwindow"}, headers=headers
    )
    problem(created, 422)
    event = {"timestamp": NOW.isoformat(), "duration": 1, "data": {}}
    beat = await client.post(
        f"/api/0/buckets/{bucket}/heartbeat?pulsetime=5", json=event, headers=headers
    )
    assert _field(problem(beat, 422)) == "path.bucket_id"
    for method, path in (("POST", "events"), ("GET", "events"), ("GET", ""), ("DELETE", "")):
        answer = await client.request(
            method, f"/api/0/buckets/{bucket}/{path}".rstrip("/"), json=[event], headers=headers
        )
        problem(answer, 422)


@pytest.mark.parametrize(
    "query", ["pulsetime=1e309", "pulsetime=nan", "pulsetime=inf", "pulsetime=-1", "pulsetime=x"]
)
async def test_aw_pulsetime(app, client: AsyncClient, query: str) -> None:
    headers = await _aw(app, client)
    event = {"timestamp": NOW.isoformat(), "duration": 1, "data": {}}
    beat = await client.post(f"/api/0/buckets/w/heartbeat?{query}", json=event, headers=headers)
    assert _field(problem(beat, 422)) == "query.pulsetime"


async def test_aw_bucket_fields_and_event_ids(app, client: AsyncClient) -> None:
    headers = await _aw(app, client)
    for body in (
        {"type": "t\n"},
        {"type": "t", "hostname": "h" * 257},
        {"type": "t", "data": {"k": "\x00"}},
    ):
        made = await client.post("/api/0/buckets/other", json=body, headers=headers)
        problem(made, 422)
    nul = {"timestamp": NOW.isoformat(), "duration": 0, "data": {"title": "a\x00b"}}
    beat = await client.post("/api/0/buckets/w/heartbeat?pulsetime=5", json=nul, headers=headers)
    problem(beat, 422)
    gone = await client.delete("/api/0/buckets/w/events/99999999999999999999", headers=headers)
    problem(gone, 422)


async def test_aw_event_counts_are_capped(app, client: AsyncClient) -> None:
    headers = await _aw(app, client)
    start = NOW - timedelta(days=1)
    events = [
        {"timestamp": (start + timedelta(seconds=i)).isoformat(), "duration": 0.5, "data": {}}
        for i in range(3)
    ]
    inserted = await client.post("/api/0/buckets/w/events", json=events, headers=headers)
    assert inserted.status_code == 200, inserted.text
    # aw-client's default limit=-1 (and no limit) means up to the documented maximum.
    for params in ({"limit": "-1"}, {}):
        listed = await client.get("/api/0/buckets/w/events", params=params, headers=headers)
        assert listed.status_code == 200 and len(listed.json()) == 3
    for limit in (str(MAX_AW_EVENTS + 1), "-2", "99999999999999999999"):
        refused = await client.get(
            "/api/0/buckets/w/events", params={"limit": limit}, headers=headers
        )
        assert _field(problem(refused, 422)) == "query.limit"
    tiny = {"timestamp": (start - timedelta(days=1)).isoformat()}
    too_many = await client.post(
        "/api/0/buckets/w/events", json=[tiny] * (MAX_AW_EVENTS + 1), headers=headers
    )
    # 413 if the body-size limit refuses it first; never stored either way.
    assert too_many.status_code in (413, 422), too_many.text
    listed = await client.get("/api/0/buckets/w/events", headers=headers)
    assert len(listed.json()) == 3
