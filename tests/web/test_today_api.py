"""GET /api/v1/me/today through the HTTP API: each part (sleep, focus, screen time, friends'
nights) against the routes it summarises, on today's date in the zone asked for."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from httpx import AsyncClient

from tests import factories
from tests.factories import create_user, problem, today_at, zone_at_hour

TODAY = "/api/v1/me/today"


async def today(client: AsyncClient, user: factories.TestUser, **params: str) -> dict[str, Any]:
    response = await client.get(TODAY, params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def backfill(
    client: AsyncClient, user: factories.TestUser, sleep_at: datetime, wake_at: datetime
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/sleep/records",
        json={"sleep_at": sleep_at.isoformat(), "wake_at": wake_at.isoformat()},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()["record"]
    return record


async def follow(
    client: AsyncClient, follower: factories.TestUser, followee: factories.TestUser
) -> None:
    response = await client.put(
        f"/api/v1/users/me/following/{followee.id}", headers=follower.headers
    )
    assert response.status_code in {200, 201}, response.text


async def test_an_empty_account(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app, timezone="Asia/Tokyo")
    body = await today(client, user)
    assert body["timezone"] == "Asia/Tokyo"
    assert body["date"] == datetime.now(ZoneInfo("Asia/Tokyo")).date().isoformat()
    assert body["sleep"] is None
    focus = body["focus"]
    assert focus["user_id"] == str(user.id)
    assert (focus["today_minutes"], focus["current_streak"], focus["longest_streak"]) == (0, 0, 0)
    assert focus["freezes_held"] == 0
    assert body["screen_time"] == {"total_seconds": 0.0, "top_apps": [], "top_categories": []}
    assert body["friends_nights"] == []
    assert body["more_friends_nights"] is False


# One per app, in order: (app, seconds). Five of them make the top; the categories come from
# the default rules (vim: Work > Programming, Slack: Comms > IM, ...).
APPS = [
    ("vim", 600),
    ("Slack", 500),
    ("Spotify", 400),
    ("Gmail", 300),
    ("GIMP", 200),
    ("Blender", 100),
    ("Minecraft", 50),
]


async def test_an_account_with_data_on_each_part(app: FastAPI, client: AsyncClient) -> None:
    zone = zone_at_hour(12)
    user = await create_user(app, timezone=zone)
    night = await backfill(client, user, today_at(zone, 3), today_at(zone, 10, 30))

    focus = await client.post(
        "/api/v1/focus/sessions",
        json={
            "session_id": "morning",
            "started_at": today_at(zone, 10, 15).isoformat(),
            "ended_at": today_at(zone, 11).isoformat(),
            "timezone": zone,
        },
        headers=user.headers,
    )
    assert focus.status_code == 201, focus.text

    beats, at = [], today_at(zone, 10)
    for app_name, seconds in APPS:
        beats.append({"timestamp": at.isoformat(), "duration": float(seconds), "app": app_name})
        at += timedelta(seconds=seconds + 60)
    sent = await client.post("/api/v1/usage/heartbeats/bulk", json=beats, headers=user.headers)
    assert sent.status_code == 202, sent.text

    body = await today(client, user)
    assert body["timezone"] == zone
    assert body["sleep"] == night
    assert body["sleep"]["duration_seconds"] == 7.5 * 3600
    streak = body["focus"]
    assert streak["today_minutes"] == 45
    assert (streak["current_streak"], streak["longest_streak"], streak["freezes_held"]) == (1, 1, 0)
    streak_route = await client.get(f"/api/v1/users/{user.id}/streak", headers=user.headers)
    assert streak == streak_route.json()

    screen = body["screen_time"]
    assert screen["total_seconds"] == sum(seconds for _, seconds in APPS)
    assert [item["key"] for item in screen["top_apps"]] == [a for a, _ in APPS[:5]]
    assert screen["top_categories"][:3] == [
        {"key": "Work", "seconds": 900.0},
        {"key": "Comms", "seconds": 800.0},
        {"key": "Work > Programming", "seconds": 600.0},
    ]
    # Exactly what the usage report counts, cut to five.
    day = body["date"]
    for group_by, key in (("app", "top_apps"), ("category", "top_categories")):
        report = await client.get(
            "/api/v1/usage/report",
            params={"date": day, "timezone": zone, "group_by": group_by},
            headers=user.headers,
        )
        assert report.json()["total_seconds"] == screen["total_seconds"]
        assert report.json()["items"][:5] == screen[key]
        assert len(report.json()["items"]) > 5

    # In bed again: last night is now the ongoing one.
    clock_in = await client.post("/api/v1/sleep/clock-in", json={}, headers=user.headers)
    assert clock_in.status_code == 201, clock_in.text
    ongoing = (await today(client, user))["sleep"]
    assert ongoing["status"] == "sleeping"
    assert ongoing["id"] == clock_in.json()["record"]["id"]


async def test_a_followed_friends_night(app: FastAPI, client: AsyncClient) -> None:
    zone = zone_at_hour(12)
    viewer = await create_user(app, timezone=zone)
    friend = await create_user(app, name="Grace", timezone="America/New_York")
    stranger = await create_user(app, name="Stranger")
    early = await create_user(app, name="Early")
    await follow(client, viewer, friend)
    await follow(client, viewer, early)
    await follow(client, friend, viewer)  # following back shows the viewer nothing more

    nights = {
        "friend": await backfill(client, friend, today_at(zone, 1), today_at(zone, 9)),
        "stranger": await backfill(client, stranger, today_at(zone, 1), today_at(zone, 9)),
        # Ended yesterday in the viewer's zone: not last night's.
        "early": await backfill(
            client,
            early,
            today_at(zone, 14) - timedelta(days=1),
            today_at(zone, 23) - timedelta(days=1),
        ),
        "viewer": await backfill(client, viewer, today_at(zone, 2), today_at(zone, 8)),
    }
    body = await today(client, viewer)
    assert body["sleep"] == nights["viewer"]
    (night,) = body["friends_nights"]
    assert night["user"] == {"id": str(friend.id), "name": "Grace"}
    assert night["id"] == nights["friend"]["id"]
    assert night["duration_seconds"] == 8 * 3600
    assert (night["sleep_at"], night["wake_at"]) == (
        nights["friend"]["sleep_at"],
        nights["friend"]["wake_at"],
    )
    assert body["more_friends_nights"] is False
    # The item is the followings feed's, for the same night.
    feed = await client.get(
        "/api/v1/sleep/following", params={"week": night["week"]}, headers=viewer.headers
    )
    assert night in feed.json()["data"]


async def test_friends_nights_are_bounded_longest_first(app: FastAPI, client: AsyncClient) -> None:
    zone = zone_at_hour(12)
    viewer = await create_user(app, timezone=zone)
    friends = [await create_user(app, timezone=zone) for _ in range(51)]
    for minutes, friend in enumerate(friends):
        await follow(client, viewer, friend)
        await backfill(client, friend, today_at(zone, 1), today_at(zone, 9, minutes))
    body = await today(client, viewer)
    assert body["more_friends_nights"] is True
    listed = body["friends_nights"]
    assert len(listed) == 50
    durations = [n["duration_seconds"] for n in listed]
    assert durations == sorted(durations, reverse=True)
    assert listed[-1]["user"]["id"] == str(friends[1].id)  # the shortest one is left out


async def test_the_timezone_decides_which_night_ended_today(
    app: FastAPI, client: AsyncClient
) -> None:
    # Three hours ago it was this morning where it is now noon, and yesterday evening where it
    # is now one in the morning.
    noon, one_am = zone_at_hour(12), zone_at_hour(1)
    woke = datetime.now(UTC) - timedelta(hours=3)
    sleeper = await create_user(app, timezone=noon)
    viewer = await create_user(app, timezone=one_am)
    await follow(client, viewer, sleeper)
    night = await backfill(client, sleeper, woke - timedelta(hours=7), woke)

    mine = await today(client, sleeper, timezone=noon)
    assert (mine["date"], mine["sleep"]) == (
        woke.astimezone(ZoneInfo(noon)).date().isoformat(),
        night,
    )
    theirs = await today(client, viewer, timezone=noon)
    assert [n["id"] for n in theirs["friends_nights"]] == [night["id"]]

    yesterday = await today(client, sleeper, timezone=one_am)
    assert yesterday["timezone"] == one_am
    assert yesterday["date"] == datetime.now(ZoneInfo(one_am)).date().isoformat()
    assert yesterday["sleep"] is None
    # The viewer's own zone is the default.
    assert (await today(client, viewer))["friends_nights"] == []
    assert (await today(client, viewer))["timezone"] == one_am


async def test_a_bad_zone_is_a_422(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app)
    for zone in ("Mars/Olympus_Mons", "", "Europe/" + "x" * 60, "utc\x00"):
        response = await client.get(TODAY, params={"timezone": zone}, headers=user.headers)
        body = problem(response, 422)
        assert [e["field"] for e in body["errors"]] == ["query.timezone"], body


async def test_without_credentials_it_is_a_401(client: AsyncClient) -> None:
    problem(await client.get(TODAY), 401)
    problem(await client.get(TODAY, headers={"Authorization": f"Bearer {uuid.uuid4()}"}), 401)
