"""GET /api/v1/usage/timeline through HTTP: a local day's window intervals and AFK periods per
host, cut to the day in the asked zone, bounded, and only the caller's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient

from rhythm.usage.schemas import MAX_TIMELINE_INTERVALS, TIMELINE_TITLE_MAX
from tests.factories import TestUser, create_user, problem
from tests.usage.test_usage_api import api_key

PARIS = ZoneInfo("Europe/Paris")
EVENING = datetime(2026, 11, 9, 23, 50, tzinfo=PARIS)  # ten minutes before 2026-11-10, Paris


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 10, hour, minute, tzinfo=PARIS)


async def window(
    client: AsyncClient, user: TestUser, start: datetime, seconds: float, **data: Any
) -> None:
    beat = {"timestamp": start.isoformat(), "duration": seconds, **data}
    sent = await client.post("/api/v1/usage/heartbeats", json=beat, headers=user.headers)
    assert sent.status_code == 202, sent.text


async def afk(
    client: AsyncClient, user: TestUser, start: datetime, seconds: float, status: str
) -> None:
    beat = {"timestamp": start.isoformat(), "duration": seconds, "status": status, "host": "laptop"}
    sent = await client.post("/api/v1/usage/afk", json=beat, headers=user.headers)
    assert sent.status_code == 202, sent.text


async def timeline(client: AsyncClient, user: TestUser, **params: str) -> dict[str, Any]:
    response = await client.get("/api/v1/usage/timeline", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def test_each_host_s_intervals_and_afk_periods_cut_to_the_local_day(
    app, client: AsyncClient
) -> None:
    user = await create_user(app, timezone="Europe/Paris")
    # The laptop: an editor from 23:50 the evening before to 00:10, a browser at 09:00; its
    # AFK watcher: used until 00:10, then away for an hour. The desktop: a terminal at 10:00.
    await window(client, user, EVENING, 1200, app="Editor", source="laptop-window", host="laptop")
    await window(
        client,
        user,
        at(9),
        300,
        app="Browser",
        title="Docs " + "x" * 300,
        source="laptop-window",
        host="laptop",
    )
    await window(client, user, at(10), 60, app="Terminal", source="desktop")
    await afk(client, user, EVENING, 1200, "not-afk")
    await afk(client, user, at(0, 10), 3600, "afk")
    # A lone heartbeat (no length yet) covers nothing; another day's intervals are not this
    # day's.
    await window(client, user, at(12), 0, app="Blip", source="desktop")
    await window(client, user, at(23, 59) + timedelta(minutes=2), 60, app="Late", source="desktop")

    day = await timeline(client, user, date="2026-11-10")
    assert day["date"] == "2026-11-10" and day["timezone"] == "Europe/Paris"
    assert utc(day["start"]) == at(0) and utc(day["end"]) == at(0) + timedelta(days=1)
    assert (day["truncated"], day["max_intervals"]) == (False, MAX_TIMELINE_INTERVALS)
    assert (day["windows_total"], day["afk_total"]) == (3, 2)
    assert [h["host"] for h in day["hosts"]] == ["desktop", "laptop"]
    desktop, laptop = day["hosts"]
    assert [(w["app"], utc(w["start"]), utc(w["end"])) for w in desktop["windows"]] == [
        ("Terminal", at(10), at(10, 1))
    ]
    assert desktop["afk"] == []
    assert [(w["app"], utc(w["start"]), utc(w["end"])) for w in laptop["windows"]] == [
        ("Editor", at(0), at(0, 10)),
        ("Browser", at(9), at(9, 5)),
    ]
    assert laptop["windows"][0]["title"] is None
    assert laptop["windows"][1]["title"] == ("Docs " + "x" * 300)[:TIMELINE_TITLE_MAX]
    assert [(a["status"], utc(a["start"]), utc(a["end"])) for a in laptop["afk"]] == [
        ("not-afk", at(0), at(0, 10)),
        ("afk", at(0, 10), at(1, 10)),
    ]

    # The day before, in Paris: the evening's ten minutes.
    before = await timeline(client, user, date="2026-11-09")
    ((host,),) = [before["hosts"]]
    assert [(w["app"], utc(w["start"])) for w in host["windows"]] == [("Editor", EVENING)]
    # Another zone's day is cut at its own midnight: in UTC, 2026-11-09 ends at 01:00 Paris.
    other = await timeline(client, user, date="2026-11-09", timezone="UTC")
    assert other["timezone"] == "UTC"
    laptop = next(h for h in other["hosts"] if h["host"] == "laptop")
    assert [(w["app"], utc(w["start"]), utc(w["end"])) for w in laptop["windows"]] == [
        ("Editor", EVENING, at(0, 10))
    ]
    assert [(a["status"], utc(a["end"])) for a in laptop["afk"]] == [
        ("not-afk", at(0, 10)),
        ("afk", at(1)),
    ]
    # Nothing that day: no hosts.
    empty = await timeline(client, user, date="2026-11-12")
    assert (empty["hosts"], empty["windows_total"], empty["truncated"]) == ([], 0, False)


async def test_a_day_with_more_intervals_than_the_cap_lists_the_longest(
    app, client: AsyncClient
) -> None:
    user = await create_user(app)
    headers = {"Authorization": f"Bearer {await api_key(client, user)}"}
    start = datetime(2026, 11, 10, 1, tzinfo=UTC)
    count = MAX_TIMELINE_INTERVALS + 1
    shortest = 1000  # every event lasts 2 s but this one, 1 s
    events = [
        {
            "timestamp": (start + timedelta(seconds=3 * i)).isoformat(),
            "duration": 1 if i == shortest else 2,
            "data": {"app": f"app{i % 5}", "title": "t"},
        }
        for i in range(count)
    ]
    for name, kind in (
        ("aw-watcher-window_desk", "currentwindow"),
        ("aw-watcher-afk_desk", "afkstatus"),
    ):
        made = await client.post(
            f"/api/0/buckets/{name}", json={"type": kind, "hostname": "desk"}, headers=headers
        )
        assert made.status_code == 200, made.text
    sent = await client.post(
        "/api/0/buckets/aw-watcher-window_desk/events", json=events, headers=headers
    )
    assert sent.status_code == 200, sent.text
    away = [
        {
            "timestamp": (start + timedelta(hours=2)).isoformat(),
            "duration": 60,
            "data": {"status": "afk"},
        },
        # An AFK bucket's event of another status is not a period of either kind.
        {
            "timestamp": (start + timedelta(hours=3)).isoformat(),
            "duration": 60,
            "data": {"status": "?"},
        },
    ]
    sent = await client.post(
        "/api/0/buckets/aw-watcher-afk_desk/events", json=away, headers=headers
    )
    assert sent.status_code == 200, sent.text

    day = await timeline(client, user, date="2026-11-10")
    assert (day["windows_total"], day["afk_total"], day["truncated"]) == (count, 1, True)
    ((desk,),) = [day["hosts"]]
    assert len(desk["windows"]) == MAX_TIMELINE_INTERVALS
    starts = [utc(w["start"]) for w in desk["windows"]]
    assert starts == sorted(starts)
    assert start + timedelta(seconds=3 * shortest) not in starts
    assert [a["status"] for a in desk["afk"]] == ["afk"]


async def test_only_the_caller_s_days_and_bounded_inputs(app, client: AsyncClient) -> None:
    user = await create_user(app)
    other = await create_user(app)
    await window(client, other, at(9), 60, app="Theirs")
    assert (await timeline(client, user, date="2026-11-10"))["hosts"] == []
    assert len((await timeline(client, other, date="2026-11-10"))["hosts"]) == 1

    async def refused(**params: str) -> dict[str, Any]:
        response = await client.get("/api/v1/usage/timeline", params=params, headers=user.headers)
        return problem(response, 422)

    fields = {
        e["field"] for e in (await refused(date="2026-11-10", timezone="Mars/Base"))["errors"]
    }
    assert fields == {"query.timezone"}
    assert {e["field"] for e in (await refused())["errors"]} == {"query.date"}
    assert {e["field"] for e in (await refused(date="2200-01-01"))["errors"]} == {"query.date"}
    assert {e["field"] for e in (await refused(date="20261110"))["errors"]} == {"query.date"}
    anonymous = await client.get("/api/v1/usage/timeline", params={"date": "2026-11-10"})
    problem(anonymous, 401)
