"""Usage through the HTTP API: ingestion, merging, reports, intervals and ActivityWatch's routes."""

from __future__ import annotations

import asyncio
import base64
import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from httpx import AsyncClient

from tests.factories import create_user, problem

DAY = date(2026, 11, 10)
T0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


async def api_key(client: AsyncClient, user) -> str:  # type: ignore[no-untyped-def]
    response = await client.post(
        "/api/v1/auth/api-keys", json={"name": "tracker"}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def hb(at: datetime, app: str = "Editor", **extra) -> dict:  # type: ignore[no-untyped-def]
    return {"timestamp": at.isoformat(), "app": app, **extra}


async def send(client: AsyncClient, headers: dict, *beats: dict) -> None:
    response = await client.post("/api/v1/usage/heartbeats/bulk", json=list(beats), headers=headers)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": len(beats)}


async def report(client: AsyncClient, user, **params) -> dict:  # type: ignore[no-untyped-def]
    response = await client.get("/api/v1/usage/report", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


async def intervals(client: AsyncClient, user, **params) -> list[dict]:  # type: ignore[no-untyped-def]
    response = await client.get("/api/v1/usage/intervals", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    data: list[dict] = response.json()["data"]
    return data


async def test_heartbeats_merge_into_intervals(app, client: AsyncClient) -> None:
    user = await create_user(app)
    one = await client.post(
        "/api/v1/usage/heartbeats", json=hb(T0, "  Editor  "), headers=user.headers
    )
    assert one.status_code == 202 and one.json() == {"accepted": 1}
    # Every 10 s with pulsetime 30: one interval; then another app; then a gap of 31 s.
    await send(
        client,
        user.headers,
        *[hb(T0 + timedelta(seconds=10 * i)) for i in range(1, 7)],
        hb(T0 + timedelta(seconds=60), "Browser", url="https://www.Example.com/x"),
        hb(T0 + timedelta(seconds=70), "Browser", url="https://www.Example.com/x"),
        hb(T0 + timedelta(seconds=101), "Browser", url="https://www.Example.com/x"),
    )
    found = sorted(await intervals(client, user), key=lambda i: i["start"])
    assert [(i["data"]["app"], i["duration_seconds"]) for i in found] == [
        ("Editor", 60.0),
        ("Browser", 10.0),
        ("Browser", 0.0),
    ]
    assert found[0]["source"] == "default"
    # An exact retry of merged heartbeats changes nothing.
    await send(client, user.headers, hb(T0 + timedelta(seconds=20)), hb(T0))
    assert sorted(await intervals(client, user), key=lambda i: i["start"]) == found
    usage = await report(client, user, date=DAY.isoformat(), timezone="UTC", group_by="domain")
    assert usage["items"] == [{"key": "example.com", "seconds": 10.0}]
    assert usage["total_seconds"] == 70.0


async def test_two_devices_count_once_and_midnight_splits(app, client: AsyncClient) -> None:
    user = await create_user(app, timezone="Europe/Paris")
    # Laptop and desktop both active 23:50-00:10 Paris time, on the same app.
    start = datetime(2026, 11, 10, 23, 50, tzinfo=ZoneInfo("Europe/Paris"))
    for source in ("laptop", "desktop"):
        await send(
            client,
            user.headers,
            *[
                hb(start + timedelta(minutes=m), "Editor", source=source, pulsetime=120)
                for m in range(0, 21)
            ],
        )
    first = await report(client, user, date="2026-11-10")
    assert first["timezone"] == "Europe/Paris"
    assert first["total_seconds"] == 600.0  # 23:50-24:00, once for two devices
    assert first["items"] == [{"key": "Editor", "seconds": 600.0}]
    second = await report(client, user, date="2026-11-11", group_by="app")
    assert second["total_seconds"] == 600.0
    ranged = await report(client, user, **{"from": "2026-11-09", "to": "2026-11-11"})
    assert [d["total_seconds"] for d in ranged["days"]] == [0.0, 600.0, 600.0]
    # In UTC the same usage is one day.
    utc = await report(client, user, date="2026-11-10", timezone="UTC")
    assert utc["total_seconds"] == 1200.0


async def test_bad_heartbeats_are_422_and_name_their_index(app, client: AsyncClient) -> None:
    user = await create_user(app)
    future = datetime.now(UTC) + timedelta(minutes=6)
    response = await client.post(
        "/api/v1/usage/heartbeats/bulk",
        json=[hb(T0), hb(future), hb(T0, "   "), {"app": "x"}, hb(T0, pulsetime=601)],
        headers=user.headers,
    )
    body = problem(response, 422)
    fields = {e["field"] for e in body["errors"]}
    assert {"1.timestamp", "2.app", "3.timestamp", "4.pulsetime"} <= fields
    assert "0.timestamp" not in fields
    assert await intervals(client, user) == []  # all or nothing
    problem(
        await client.post("/api/v1/usage/heartbeats", json=hb(future), headers=user.headers), 422
    )
    problem(
        await client.post(
            "/api/v1/usage/heartbeats/bulk", json=[hb(T0)] * 1001, headers=user.headers
        ),
        422,
    )
    problem(await client.post("/api/v1/usage/heartbeats/bulk", json=[], headers=user.headers), 422)
    for params in (
        {"date": "2026-02-30"},
        {"date": "2026-11-10", "timezone": "Mars/Base"},
        {"from": "2026-01-01", "to": "2026-04-03"},
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"date": "2026-11-10", "group_by": "color"},
        {},
    ):
        problem(await client.get("/api/v1/usage/report", params=params, headers=user.headers), 422)


async def test_api_keys_authenticate_ingestion(app, client: AsyncClient) -> None:
    user = await create_user(app)
    key = await api_key(client, user)
    response = await client.post(
        "/api/v1/usage/heartbeats", json=hb(T0), headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 202
    assert len(await intervals(client, user)) == 1
    other = await create_user(app)
    assert await intervals(client, other) == []


async def test_concurrent_heartbeats_of_one_source_merge_exactly(app, client: AsyncClient) -> None:
    user = await create_user(app)
    await asyncio.gather(
        *[
            client.post(
                "/api/v1/usage/heartbeats",
                json=hb(T0 + timedelta(seconds=i)),
                headers=user.headers,
            )
            for i in range(30)
        ]
    )
    found = await intervals(client, user)
    # Whatever order they arrived in, no two intervals overlap and the span is covered.
    spans = sorted((i["start"], i["end"]) for i in found)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start
    assert spans[0][0] == T0.isoformat().replace("+00:00", "Z")


async def test_late_heartbeats_fill_gaps_without_breaking_intervals(
    app, client: AsyncClient
) -> None:
    user = await create_user(app)
    await send(
        client,
        user.headers,
        hb(T0),
        hb(T0 + timedelta(seconds=20)),
        hb(T0 + timedelta(seconds=100), "Mail"),
        hb(T0 + timedelta(seconds=120), "Mail"),
    )
    # Late, in order: inside Editor with other data (dropped); right after Editor with equal
    # data (extends it, but never into Mail); inside the extended Editor (dropped).
    await send(
        client,
        user.headers,
        hb(T0 + timedelta(seconds=10), "Chat"),
        hb(T0 + timedelta(seconds=30), "Editor", duration=200),
        hb(T0 + timedelta(seconds=90), "Chat", duration=5),
    )
    found = sorted(
        (i["data"]["app"], i["start"][11:19], i["end"][11:19])
        for i in await intervals(client, user)
    )
    assert found == [("Editor", "09:00:00", "09:01:40"), ("Mail", "09:01:40", "09:02:00")]
    # A late heartbeat alone in a gap becomes its own interval, clipped at the next one.
    await send(client, user.headers, hb(T0 - timedelta(seconds=50), "Chat", duration=80))
    found = sorted(
        (i["data"]["app"], i["start"][11:19], i["end"][11:19])
        for i in await intervals(client, user)
    )
    assert sorted(found, key=lambda x: x[1])[0] == ("Chat", "08:59:10", "09:00:00")


async def test_activitywatch_routes(app, client: AsyncClient) -> None:
    user = await create_user(app)
    key = await api_key(client, user)
    basic = base64.b64encode(f"{key}:".encode()).decode()
    headers = {"Authorization": f"Basic {basic}"}
    problem(await client.get("/api/0/info"), 401)
    problem(await client.get("/api/0/info", headers=user.headers), 401)  # a token is not a key
    info = await client.get("/api/0/info", headers=headers)
    assert info.status_code == 200 and "version" in info.json()
    bucket = {"client": "aw-watcher-window", "type": "currentwindow", "hostname": "box"}
    created = await client.post("/api/0/buckets/win_box", json=bucket, headers=headers)
    assert created.status_code == 200
    again = await client.post("/api/0/buckets/win_box", json=bucket, headers=headers)
    assert again.status_code == 304
    listed = (await client.get("/api/0/buckets/", headers=headers)).json()
    assert listed["win_box"]["type"] == "currentwindow"
    # Heartbeats: pulsetime required; merged events come back.
    event = {"timestamp": T0.isoformat(), "duration": 0, "data": {"app": "Term", "title": "sh"}}
    missing = await client.post("/api/0/buckets/win_box/heartbeat", json=event, headers=headers)
    assert missing.status_code == 400
    first = await client.post(
        "/api/0/buckets/win_box/heartbeat", params={"pulsetime": 10}, json=event, headers=headers
    )
    assert first.status_code == 200, first.text
    later = {**event, "timestamp": (T0 + timedelta(seconds=5)).isoformat()}
    merged = await client.post(
        "/api/0/buckets/win_box/heartbeat", params={"pulsetime": 10}, json=later, headers=headers
    )
    assert merged.json()["id"] == first.json()["id"]
    assert merged.json()["duration"] == 5.0
    problem(
        await client.post(
            "/api/0/buckets/nope/heartbeat", params={"pulsetime": 10}, json=event, headers=headers
        ),
        404,
    )
    # Events: insert, list newest first, delete.
    inserted = await client.post(
        "/api/0/buckets/win_box/events",
        json=[
            {
                "timestamp": (T0 + timedelta(minutes=5)).isoformat(),
                "duration": 60,
                "data": {"app": "X"},
            }
        ],
        headers=headers,
    )
    assert inserted.status_code == 200, inserted.text
    events = (await client.get("/api/0/buckets/win_box/events", headers=headers)).json()
    assert [e["data"]["app"] for e in events] == ["X", "Term"]
    limited = await client.get(
        "/api/0/buckets/win_box/events", params={"limit": 1}, headers=headers
    )
    assert len(limited.json()) == 1
    overlap = await client.post(
        "/api/0/buckets/win_box/events",
        json={
            "timestamp": (T0 + timedelta(minutes=5, seconds=30)).isoformat(),
            "duration": 5,
            "data": {},
        },
        headers=headers,
    )
    problem(overlap, 409)
    gone = await client.delete(f"/api/0/buckets/win_box/events/{events[0]['id']}", headers=headers)
    assert gone.status_code == 200
    problem(
        await client.delete(f"/api/0/buckets/win_box/events/{events[0]['id']}", headers=headers),
        404,
    )
    # The bucket feeds the reports of its owner.
    usage = await report(client, user, date=DAY.isoformat(), timezone="UTC")
    assert usage["items"] == [{"key": "Term", "seconds": 5.0}]
    # Another user's key sees none of it.
    stranger = await create_user(app)
    stranger_key = await api_key(client, stranger)
    problem(
        await client.get(
            "/api/0/buckets/win_box", headers={"Authorization": f"Bearer {stranger_key}"}
        ),
        404,
    )
    assert (await client.delete("/api/0/buckets/win_box", headers=headers)).status_code == 200
    problem(await client.get("/api/0/buckets/win_box", headers=headers), 404)


async def test_single_heartbeat_errors_match_the_documented_route(app, client: AsyncClient) -> None:
    """POST /usage/heartbeats is served on the fast lane: its errors are the same problems."""
    user = await create_user(app)
    url = "/api/v1/usage/heartbeats"
    body = problem(await client.post(url, content=b"{not json", headers=user.headers), 422)
    assert body["errors"]
    body = problem(await client.post(url, json={"app": "x"}, headers=user.headers), 422)
    assert [e["field"] for e in body["errors"]] == ["timestamp"]
    body = problem(
        await client.post(url, json={**hb(T0), "pulsetime": "30"}, headers=user.headers), 422
    )
    assert [e["field"] for e in body["errors"]] == ["pulsetime"]
    problem(await client.post(url, json=hb(T0)), 401)
    problem(await client.post(url, json=[hb(T0)], headers=user.headers), 422)


async def test_two_processes_creating_one_source_at_once(app, settings) -> None:  # type: ignore[no-untyped-def]
    """Two API processes (two writers) see a user's new source at the same moment: both
    requests are accepted and one bucket exists."""
    from rhythm.app import create_app
    from tests.conftest import client_for, started

    first = app
    async for second in started(create_app(settings)):
        user = await create_user(first)
        for round_ in range(5):
            source = f"device-{round_}"
            async with client_for(first) as a, client_for(second) as b:
                answers = await asyncio.gather(
                    *[
                        c.post(
                            "/api/v1/usage/heartbeats",
                            json=hb(T0 + timedelta(seconds=i), source=source),
                            headers=user.headers,
                        )
                        for i, c in enumerate([a, b] * 4)
                    ]
                )
            assert [r.status_code for r in answers] == [202] * 8
        async with client_for(first) as a:
            found = await intervals(a, user)
        assert {i["source"] for i in found} == {f"device-{r}" for r in range(5)}


async def test_activitywatch_heartbeat_rejects_bad_input(app, client: AsyncClient) -> None:
    user = await create_user(app)
    key = await api_key(client, user)
    headers = {"Authorization": f"Bearer {key}"}
    bucket = {"client": "w", "type": "currentwindow", "hostname": "h"}
    assert (await client.post("/api/0/buckets/b", json=bucket, headers=headers)).status_code == 200
    url = "/api/0/buckets/b/heartbeat"
    event = {"timestamp": T0.isoformat(), "duration": 0, "data": {"app": "x"}}
    for pulsetime in ("abc", "-1", "86401"):
        problem(
            await client.post(url, params={"pulsetime": pulsetime}, json=event, headers=headers),
            422,
        )
    problem(await client.post(url, params={"pulsetime": 5}, content=b"{", headers=headers), 422)
    problem(
        await client.post(
            url, params={"pulsetime": 5}, json={**event, "duration": -1}, headers=headers
        ),
        422,
    )
    problem(await client.post(url, params={"pulsetime": 5}, json=event), 401)
    ok = await client.post(url, params={"pulsetime": 5}, json=event, headers=headers)
    assert ok.status_code == 200 and ok.json()["data"] == {"app": "x"}
