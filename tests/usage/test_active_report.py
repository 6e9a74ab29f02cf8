"""Active time through the v1 API (issue 12, part 1): hosts on heartbeats, AFK status at
POST /usage/afk, and reports that count active time by default (`count=all`: every second)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from httpx import AsyncClient

from tests.factories import create_user, problem
from tests.usage.test_usage_api import report, send

DAY = date(2026, 11, 10)
T0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


async def afk(client: AsyncClient, headers: dict, **body) -> None:  # type: ignore[no-untyped-def]
    sent = await client.post("/api/v1/usage/afk", json=body, headers=headers)
    assert sent.status_code == 202, sent.text
    assert sent.json() == {"accepted": 1}


async def test_window_time_counts_only_while_its_host_is_not_afk(app, client: AsyncClient) -> None:
    user = await create_user(app)
    # The editor on host "laptop", a heartbeat every 10 s for 20 minutes (pulsetime 30).
    await send(
        client,
        user.headers,
        *(
            {"timestamp": at(t), "app": "Editor", "source": "editor", "host": "laptop"}
            for t in range(0, 1201, 10)
        ),
    )
    # Another source with no host is its own host ("phone"), which has no AFK status.
    await send(
        client,
        user.headers,
        *({"timestamp": at(t), "app": "Reader", "source": "phone"} for t in range(0, 601, 10)),
    )
    # laptop: not AFK for 5 minutes, AFK for 10, not AFK again for the last 5.
    for t in range(0, 301, 30):
        await afk(client, user.headers, timestamp=at(t), status="not-afk", host="laptop")
    for t in range(300, 901, 30):
        await afk(client, user.headers, timestamp=at(t), status="afk", host="laptop")
    for t in range(900, 1201, 30):
        await afk(client, user.headers, timestamp=at(t), status="not-afk", host="laptop")

    active = await report(client, user, date=DAY.isoformat(), timezone="UTC")
    items = {i["key"]: i["seconds"] for i in active["items"]}
    assert items == {"Editor": 600.0, "Reader": 600.0}
    assert active["total_seconds"] == 900.0  # both hosts: the union of their active time

    everything = await report(client, user, date=DAY.isoformat(), timezone="UTC", count="all")
    assert {i["key"]: i["seconds"] for i in everything["items"]} == {
        "Editor": 1200.0,
        "Reader": 600.0,
    }
    assert everything["total_seconds"] == 1200.0

    # The AFK source is a bucket of its own, as aw-watcher-afk's is.
    listed = await client.get(
        "/api/v1/usage/intervals", params={"source": "aw-watcher-afk_laptop"}, headers=user.headers
    )
    spans = [(i["data"]["status"], i["duration_seconds"]) for i in listed.json()["data"]]
    assert spans == [("not-afk", 300.0), ("afk", 600.0), ("not-afk", 300.0)][::-1]


async def test_domains_count_browser_time_afk_or_not(app, client: AsyncClient) -> None:
    user = await create_user(app)
    await send(
        client,
        user.headers,
        *(
            {
                "timestamp": at(t),
                "app": "Firefox",
                "url": "https://www.example.org/a",
                "source": "browser",
                "host": "desk",
            }
            for t in range(0, 601, 10)
        ),
    )
    await afk(client, user.headers, timestamp=at(0), duration=300, status="not-afk", host="desk")
    await afk(client, user.headers, timestamp=at(300), duration=300, status="afk", host="desk")
    apps = await report(client, user, date=DAY.isoformat(), timezone="UTC")
    assert apps["items"] == [{"key": "Firefox", "seconds": 300.0}]
    domains = await report(client, user, date=DAY.isoformat(), timezone="UTC", group_by="domain")
    assert domains["items"] == [{"key": "example.org", "seconds": 600.0}]
    assert domains["total_seconds"] == 300.0  # the day's active window time


async def test_a_range_report_splits_active_time_at_local_midnight(
    app, client: AsyncClient
) -> None:
    user = await create_user(app, timezone="Europe/Paris")
    start = datetime(2026, 11, 10, 22, 50, tzinfo=UTC)  # 23:50 in Paris
    beats = [
        {"timestamp": (start + timedelta(seconds=t)).isoformat(), "app": "Editor", "host": "pc"}
        for t in range(0, 1201, 10)
    ]
    await send(client, user.headers, *beats)
    sent = await client.post(
        "/api/v1/usage/afk",
        json={"timestamp": start.isoformat(), "duration": 1200, "status": "not-afk", "host": "pc"},
        headers=user.headers,
    )
    assert sent.status_code == 202
    body = await report(client, user, **{"from": "2026-11-10", "to": "2026-11-11"})
    assert [(d["date"], d["total_seconds"]) for d in body["days"]] == [
        ("2026-11-10", 600.0),
        ("2026-11-11", 600.0),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "away"}, "status"),
        ({"status": "afk", "duration": 86_401}, "duration"),
        ({"status": "afk", "duration": -1}, "duration"),
        ({"status": "afk", "duration": "1"}, "duration"),
        ({"status": "afk", "host": ""}, "host"),
        ({"status": "afk", "host": "h" * 241}, "host"),
        ({"status": "afk", "host": "a\nb"}, "host"),
        ({"status": "afk", "pulsetime": 601}, "pulsetime"),
        ({"status": "afk", "timestamp": "2999-01-01T00:00:00Z"}, "timestamp"),
        ({"status": "afk", "timestamp": "1969-12-31T23:59:59Z"}, "timestamp"),
        ({"status": "afk", "extra": 1}, "extra"),
    ],
)
async def test_afk_inputs_outside_their_bounds_are_422_problems(
    app, client: AsyncClient, body: dict, field: str
) -> None:
    user = await create_user(app)
    sent = await client.post(
        "/api/v1/usage/afk",
        json={"timestamp": datetime.now(UTC).isoformat(), **body},
        headers=user.headers,
    )
    errors = problem(sent, 422)["errors"]
    assert errors[0]["field"] == field, errors


async def test_afk_bodies_that_are_not_json_numbers_are_refused(app, client: AsyncClient) -> None:
    user = await create_user(app)
    now = datetime.now(UTC).isoformat()
    for raw in (
        f'{{"timestamp": "{now}", "status": "afk", "duration": NaN}}',
        f'{{"timestamp": "{now}", "status": "afk", "duration": 1e999}}',
    ):
        sent = await client.post(
            "/api/v1/usage/afk",
            content=raw,
            headers={**user.headers, "content-type": "application/json"},
        )
        assert sent.status_code == 422, sent.text


async def test_heartbeat_host_is_bounded(app, client: AsyncClient) -> None:
    user = await create_user(app)
    beat = {"timestamp": datetime.now(UTC).isoformat(), "app": "Editor", "host": "h" * 241}
    single = await client.post("/api/v1/usage/heartbeats", json=beat, headers=user.headers)
    assert problem(single, 422)["errors"][0]["field"] == "host"
    bulk = await client.post("/api/v1/usage/heartbeats/bulk", json=[beat], headers=user.headers)
    assert problem(bulk, 422)["errors"][0]["field"] == "0.host"


async def test_report_count_is_active_or_all(app, client: AsyncClient) -> None:
    user = await create_user(app)
    refused = await client.get(
        "/api/v1/usage/report",
        params={"date": DAY.isoformat(), "count": "some"},
        headers=user.headers,
    )
    assert problem(refused, 422)["errors"][0]["field"] == "query.count"
