"""PATCH /api/v1/sleep/records/{id}: correcting a night's times under the rules of creation,
closing a forgotten open night, and the feeds and rankings exact on the very next request."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from httpx import AsyncClient, Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rhythm.platform.timeutil import iso_week
from rhythm.sleep.feed_cache import feed_key, item_key, pending_key
from tests import factories
from tests.factories import create_user, problem
from tests.sleep.test_feed import MONDAY, WEEK, feed, follow, night
from tests.sleep.test_feed_cache import drain

RECORDS = "/api/v1/sleep/records"
RANKING = "/api/v1/sleep/rankings/weekly"


async def edit(
    client: AsyncClient, user: factories.TestUser, record_id: str, **body: Any
) -> Response:
    return await client.patch(f"{RECORDS}/{record_id}", json=body, headers=user.headers)


async def edited(
    client: AsyncClient, user: factories.TestUser, record_id: str, **body: Any
) -> dict:  # type: ignore[type-arg]
    response = await edit(client, user, record_id, **body)
    assert response.status_code == 200, response.text
    record: dict = response.json()["record"]  # type: ignore[type-arg]
    return record


async def read(client: AsyncClient, user: factories.TestUser, record_id: str) -> dict:  # type: ignore[type-arg]
    response = await client.get(f"{RECORDS}/{record_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict = response.json()  # type: ignore[type-arg]
    return body


async def test_a_completed_night_moves_with_its_zones(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app, timezone="Europe/Paris")
    record_id = await night(client, user, 0, 7)  # Monday 22:00 UTC, 7 h
    record = await edited(
        client,
        user,
        record_id,
        sleep_at="2026-11-03T07:30:00+09:00",
        sleep_timezone="Asia/Tokyo",
        wake_at="2026-11-02T20:15:00-05:00",
        wake_timezone="America/New_York",
    )
    assert record["id"] == record_id
    assert record["sleep_at"] == "2026-11-02T22:30:00Z"
    assert record["wake_at"] == "2026-11-03T01:15:00Z"
    assert record["sleep_at_local"] == "2026-11-03T07:30:00+09:00"
    assert record["wake_at_local"] == "2026-11-02T20:15:00-05:00"
    assert (record["sleep_timezone"], record["wake_timezone"]) == ("Asia/Tokyo", "America/New_York")
    assert record["duration_seconds"] == 2 * 3600 + 45 * 60
    assert record["week"] == WEEK  # Tuesday in Tokyo
    assert await read(client, user, record_id) == record
    # Omitted fields are kept: only the wake time moves.
    later = await edited(client, user, record_id, wake_at="2026-11-03T06:30:00Z")
    assert later["sleep_at"] == record["sleep_at"]
    assert later["sleep_timezone"] == "Asia/Tokyo"
    assert later["wake_timezone"] == "America/New_York"
    assert later["wake_at_local"] == "2026-11-03T01:30:00-05:00"
    assert later["duration_seconds"] == 8 * 3600
    # A zone alone moves the week: Sunday 23:00 in Paris is Monday 07:00 in Tokyo.
    sunday = await night(client, user, 6, 8, start_hour=22)  # Sunday 8 November, 22:00 UTC
    assert (await read(client, user, sunday))["week"] == WEEK
    moved = await edited(client, user, sunday, sleep_timezone="Asia/Tokyo")
    assert moved["week"] == "2026-W46"
    assert moved["sleep_at_local"] == "2026-11-09T07:00:00+09:00"
    assert moved["duration_seconds"] == 8 * 3600


async def test_the_rules_of_creation_apply(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app)
    first = await night(client, user, 0, 8)  # Mon 22:00 to Tue 06:00
    second = await night(client, user, 1, 8)  # Tue 22:00 to Wed 06:00
    before = await read(client, user, second)
    tuesday = MONDAY + timedelta(days=1)

    def at(hours: float) -> str:
        return (tuesday + timedelta(hours=hours - 22)).isoformat()

    # Moved onto the other night: 409 overlap.
    body = problem(await edit(client, user, second, sleep_at=at(5), wake_at=at(12)), 409)
    assert body["type"].endswith("/overlap")
    problem(await edit(client, user, first, sleep_at=at(20), wake_at=at(23)), 409)
    # Touching end to start is not an overlap; and exactly 24 hours is a night.
    assert (await edited(client, user, second, sleep_at=at(6)))["duration_seconds"] == 24 * 3600
    # Wake at or before bedtime: 422, on the field that was sent.
    for wake in (at(6), at(5)):
        body = problem(await edit(client, user, second, wake_at=wake), 422)
        assert body["type"].endswith("/invalid-night")
        assert body["errors"][0]["field"] == "wake_at"
    body = problem(await edit(client, user, second, sleep_at=at(31)), 422)
    assert body["errors"][0]["field"] == "sleep_at"
    # More than 24 hours, by either end.
    late = (tuesday + timedelta(hours=8, seconds=1)).isoformat()
    body = problem(await edit(client, user, second, wake_at=late), 422)
    assert "24 hours" in body["detail"]
    body = problem(await edit(client, user, first, sleep_at=at(-19)), 422)
    assert (body["errors"][0]["field"], "24 hours" in body["detail"]) == ("sleep_at", True)
    # Not in the future (5 minutes of tolerance, as on creation).
    now = datetime.now(UTC)
    ahead = (now + timedelta(minutes=6)).isoformat()
    body = problem(
        await edit(
            client, user, second, sleep_at=(now - timedelta(hours=7)).isoformat(), wake_at=ahead
        ),
        422,
    )
    assert body["errors"][0]["field"] == "wake_at"
    # Null is not a time, and only known fields are taken.
    for bad in (
        {"sleep_at": None},
        {"wake_at": None},
        {"sleep_timezone": None},
        {"wake_timezone": None},
    ):
        problem(await edit(client, user, second, **bad), 422)
    problem(await edit(client, user, second, duration_seconds=1), 422)
    problem(await edit(client, user, second, wake_timezone="Moon/Base"), 422)
    problem(await edit(client, user, second, sleep_at="2026-11-03T23:00:00"), 422)  # no offset
    problem(await edit(client, user, second, sleep_at="9999-12-31T20:00:00Z"), 422)
    # The refusals changed nothing.
    after = await read(client, user, second)
    assert after["sleep_at"] == at(6).replace("+00:00", "Z")
    assert (after["wake_at"], after["duration_seconds"]) == (before["wake_at"], 24 * 3600)
    # Exactly 24 hours is a night.
    assert (await read(client, user, first))["duration_seconds"] == 8 * 3600


async def test_an_open_night_is_closed_at_the_given_time(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app, timezone="America/Sao_Paulo")
    bedtime = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=30)
    opened = await client.post(
        "/api/v1/sleep/clock-in",
        json={"at": bedtime.isoformat(), "timezone": "Europe/Lisbon"},
        headers=user.headers,
    )
    record_id = opened.json()["record"]["id"]
    # A zone without a wake time would leave the night half closed.
    assert (
        problem(await edit(client, user, record_id, wake_timezone="UTC"), 422)["errors"][0]["field"]
        == "wake_timezone"
    )
    # The rules of clock-out: after bedtime, at most a day, not in the future.
    problem(await edit(client, user, record_id, wake_at=bedtime.isoformat()), 422)
    problem(
        await edit(client, user, record_id, wake_at=(bedtime + timedelta(hours=25)).isoformat()),
        422,
    )
    problem(
        await edit(
            client, user, record_id, wake_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()
        ),
        422,
    )
    # Moving the bedtime of an open night keeps it open (and not in the future either).
    problem(
        await edit(
            client, user, record_id, sleep_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()
        ),
        422,
    )
    earlier = await edited(
        client, user, record_id, sleep_at=(bedtime - timedelta(hours=1)).isoformat()
    )
    assert (earlier["status"], earlier["wake_at"], earlier["duration_seconds"]) == (
        "sleeping",
        None,
        None,
    )
    closed = await edited(
        client, user, record_id, wake_at=(bedtime + timedelta(hours=7)).isoformat()
    )
    assert closed["status"] == "completed"
    assert closed["duration_seconds"] == 8 * 3600
    assert closed["sleep_timezone"] == "Europe/Lisbon"
    assert closed["wake_timezone"] == "America/Sao_Paulo"  # the user's, as clock-out takes it
    # Nothing is open any more: clock-out refuses, clock-in starts a new night.
    problem(await client.post("/api/v1/sleep/clock-out", json={}, headers=user.headers), 409)
    again = await client.post("/api/v1/sleep/clock-in", json={}, headers=user.headers)
    assert again.status_code == 201, again.text
    # An open night cannot be moved onto a completed one (it runs on until it is closed).
    problem(
        await edit(
            client,
            user,
            again.json()["record"]["id"],
            sleep_at=(bedtime + timedelta(hours=2)).isoformat(),
        ),
        409,
    )


async def test_closing_with_its_zone(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app)
    bedtime = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=9)
    opened = await client.post(
        "/api/v1/sleep/clock-in", json={"at": bedtime.isoformat()}, headers=user.headers
    )
    record_id = opened.json()["record"]["id"]
    closed = await edited(
        client,
        user,
        record_id,
        wake_at=(bedtime + timedelta(hours=8)).isoformat(),
        wake_timezone="Asia/Kolkata",
    )
    assert closed["wake_timezone"] == "Asia/Kolkata"
    assert closed["wake_at_local"].endswith("+05:30")


async def test_another_users_night_is_404(app: FastAPI, client: AsyncClient) -> None:
    owner = await create_user(app)
    other = await create_user(app)
    completed = await night(client, owner, 0, 7)
    opened = await client.post("/api/v1/sleep/clock-in", json={}, headers=owner.headers)
    open_id = opened.json()["record"]["id"]
    for record_id, body in [
        (completed, {"wake_at": (MONDAY + timedelta(hours=5)).isoformat()}),
        (completed, {"rating": 1}),
        (open_id, {"wake_at": datetime.now(UTC).isoformat()}),
        (str(uuid.uuid4()), {"rating": 1}),
    ]:
        problem(await edit(client, other, record_id, **body), 404)
    assert (await read(client, owner, completed))["duration_seconds"] == 7 * 3600
    assert (await read(client, owner, completed))["rating"] is None
    assert (await read(client, owner, open_id))["status"] == "sleeping"
    problem(await client.patch(f"{RECORDS}/{completed}", json={"rating": 2}), 401)
    problem(
        await client.patch(f"{RECORDS}/not-an-id", json={"rating": 2}, headers=owner.headers), 422
    )


async def ranking(client: AsyncClient, viewer: factories.TestUser, week: str = WEEK) -> list[dict]:  # type: ignore[type-arg]
    response = await client.get(RANKING, params={"week": week}, headers=viewer.headers)
    assert response.status_code == 200, response.text
    rows: list[dict] = response.json()["data"]  # type: ignore[type-arg]
    return rows


def durations(page: dict) -> list[tuple[str, int]]:  # type: ignore[type-arg]
    return [(item["id"], item["duration_seconds"]) for item in page["data"]]


async def test_feed_and_ranking_are_exact_on_the_next_request(
    app: FastAPI, client: AsyncClient, redis: Any
) -> None:
    viewer = await create_user(app)
    friend = await create_user(app, name="Friend")
    other = await create_user(app, name="Other")
    await follow(client, viewer, friend)
    await follow(client, viewer, other)
    mine = await night(client, friend, 0, 7)
    theirs = await night(client, other, 1, 8)
    await drain(app)
    # Served from Redis, items cached.
    assert durations(await feed(client, viewer)) == [(theirs, 8 * 3600), (mine, 7 * 3600)]
    assert durations(await feed(client, viewer)) == [(theirs, 8 * 3600), (mine, 7 * 3600)]
    assert await redis.exists(feed_key(viewer.id, WEEK), item_key(mine)) == 2
    assert [(r["user"]["name"], r["total_seconds"]) for r in await ranking(client, viewer)] == [
        ("Other", 8 * 3600),
        ("Friend", 7 * 3600),
    ]

    wake = MONDAY + timedelta(hours=9, minutes=30)
    await edited(client, friend, mine, wake_at=wake.isoformat())
    # The very next request, with the fan-out still queued...
    assert await redis.zcard(pending_key(WEEK)) == 2  # the night as it was leaves, and arrives
    page = await feed(client, viewer)
    assert durations(page) == [(mine, 9.5 * 3600), (theirs, 8 * 3600)]
    assert page["data"][0]["wake_at"] == wake.isoformat().replace("+00:00", "Z")
    assert [(r["user"]["name"], r["total_seconds"]) for r in await ranking(client, viewer)] == [
        ("Friend", 9.5 * 3600),
        ("Other", 8 * 3600),
    ]
    # ...and once it has run, from Redis again, with the night's new JSON.
    await drain(app)
    assert await redis.zcard(pending_key(WEEK)) == 0
    for _ in range(2):
        page = await feed(client, viewer)
        assert durations(page) == [(mine, 9.5 * 3600), (theirs, 8 * 3600)]
        assert page["data"][0]["wake_at"] == wake.isoformat().replace("+00:00", "Z")
    members = await redis.zrange(feed_key(viewer.id, WEEK), 0, -1)
    assert len([m for m in members if mine.encode() in m]) == 1  # the old member left

    # Moved into the next week: it leaves this week's feed and ranking, and joins the next.
    nine_days = MONDAY + timedelta(days=7)
    await edited(
        client,
        friend,
        mine,
        sleep_at=nine_days.isoformat(),
        wake_at=(nine_days + timedelta(hours=6)).isoformat(),
    )
    assert durations(await feed(client, viewer)) == [(theirs, 8 * 3600)]
    assert durations(await feed(client, viewer, week="2026-W46")) == [(mine, 6 * 3600)]
    assert [r["user"]["name"] for r in await ranking(client, viewer)] == ["Other"]
    assert [r["total_seconds"] for r in await ranking(client, viewer, "2026-W46")] == [6 * 3600]
    await drain(app)
    assert durations(await feed(client, viewer)) == [(theirs, 8 * 3600)]
    assert durations(await feed(client, viewer, week="2026-W46")) == [(mine, 6 * 3600)]

    # A change of the notes alone moves nothing in the feeds.
    await edited(client, friend, mine, rating=5, note="slept like a log")
    assert await redis.zcard(pending_key("2026-W46")) == 0


async def test_a_night_closed_by_patch_joins_the_feed(app: FastAPI, client: AsyncClient) -> None:
    viewer = await create_user(app)
    friend = await create_user(app)
    await follow(client, viewer, friend)
    bedtime = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)
    opened = await client.post(
        "/api/v1/sleep/clock-in", json={"at": bedtime.isoformat()}, headers=friend.headers
    )
    record_id = opened.json()["record"]["id"]
    week = iso_week(bedtime.date())
    await drain(app)
    assert (await feed(client, viewer, week=week))["data"] == []
    await edited(client, friend, record_id, wake_at=(bedtime + timedelta(hours=8)).isoformat())
    assert durations(await feed(client, viewer, week=week)) == [(record_id, 8 * 3600)]
    await drain(app)
    assert durations(await feed(client, viewer, week=week)) == [(record_id, 8 * 3600)]


# Zones with daylight saving time on both hemispheres and an odd offset, and their 2025
# changes: nights are drawn around them, in one zone for bedtime and another for waking.
DST_ZONES = [
    "America/New_York",
    "Europe/Paris",
    "Australia/Sydney",
    "America/Santiago",
    "Asia/Kolkata",
]
CHANGES = [
    datetime(2025, 3, 9, 7, tzinfo=UTC),  # New York springs forward
    datetime(2025, 3, 30, 1, tzinfo=UTC),  # Paris springs forward
    datetime(2025, 4, 5, 16, tzinfo=UTC),  # Sydney falls back
    datetime(2025, 4, 6, 3, tzinfo=UTC),  # Santiago falls back
    datetime(2025, 10, 4, 16, tzinfo=UTC),  # Sydney springs forward
    datetime(2025, 10, 26, 1, tzinfo=UTC),  # Paris falls back
    datetime(2025, 11, 2, 6, tzinfo=UTC),  # New York falls back
]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    change=st.sampled_from(CHANGES),
    bed_minutes=st.integers(-20 * 60, 20 * 60),
    night_minutes=st.integers(1, 24 * 60),
    sleep_zone=st.sampled_from(DST_ZONES),
    wake_zone=st.sampled_from(DST_ZONES),
)
async def test_local_times_across_dst_changes(
    app: FastAPI,
    client: AsyncClient,
    change: datetime,
    bed_minutes: int,
    night_minutes: int,
    sleep_zone: str,
    wake_zone: str,
) -> None:
    user = await create_user(app)
    created = await client.post(
        RECORDS,
        json={"sleep_at": "2024-01-01T22:00:00Z", "wake_at": "2024-01-02T06:00:00Z"},
        headers=user.headers,
    )
    record_id = created.json()["record"]["id"]
    sleep_at = change + timedelta(minutes=bed_minutes)
    wake_at = sleep_at + timedelta(minutes=night_minutes)
    # Sent as the wall clock of each zone, with that moment's offset.
    bed_local = sleep_at.astimezone(ZoneInfo(sleep_zone))
    wake_local = wake_at.astimezone(ZoneInfo(wake_zone))
    record = await edited(
        client,
        user,
        record_id,
        sleep_at=bed_local.isoformat(),
        sleep_timezone=sleep_zone,
        wake_at=wake_local.isoformat(),
        wake_timezone=wake_zone,
    )
    assert record["duration_seconds"] == night_minutes * 60  # real elapsed time, DST included
    assert record["sleep_at_local"] == bed_local.isoformat()
    assert record["wake_at_local"] == wake_local.isoformat()
    assert record["week"] == iso_week(bed_local.date())
    assert datetime.fromisoformat(record["sleep_at"]) == sleep_at
    assert datetime.fromisoformat(record["wake_at"]) == wake_at
    # Moving only the bedtime's zone keeps the instant and the duration; the wall clock follows.
    rezoned = await edited(client, user, record_id, sleep_timezone=wake_zone)
    assert rezoned["duration_seconds"] == night_minutes * 60
    assert rezoned["sleep_at_local"] == sleep_at.astimezone(ZoneInfo(wake_zone)).isoformat()
    assert rezoned["week"] == iso_week(sleep_at.astimezone(ZoneInfo(wake_zone)).date())


async def test_feeds_equal_postgresql_under_random_edits(
    app: FastAPI, client: AsyncClient, redis: Any
) -> None:
    """Nights edited at random (longer, shorter, into the next week and back), with the fan-out
    run at random: after every step, each viewer's feed, JSON included and read through the
    cache, equals the nights as their owners read them."""
    rng = random.Random(14)
    viewers = [await create_user(app) for _ in range(2)]
    friends = [await create_user(app) for _ in range(3)]
    nights: list[tuple[factories.TestUser, str, int]] = []
    for friend in friends:
        for viewer in viewers:
            await follow(client, viewer, friend)
        for day in range(4):
            nights.append((friend, await night(client, friend, day, rng.choice([6, 7, 8])), day))
    await drain(app)
    for step in range(30):
        if rng.random() < 0.3:
            await drain(app)
        else:
            friend, record_id, day = rng.choice(nights)
            bedtime = MONDAY + timedelta(days=day + rng.choice([0, 0, 0, 7]))
            hours = rng.choice([5, 6, 7, 8, 9])
            await edited(
                client,
                friend,
                record_id,
                sleep_at=bedtime.isoformat(),
                wake_at=(bedtime + timedelta(hours=hours)).isoformat(),
            )
        expected = []
        for friend in friends:
            listed = await client.get(RECORDS, params={"limit": 100}, headers=friend.headers)
            expected += [r for r in listed.json()["data"] if r["week"] == WEEK]
        expected.sort(key=lambda r: (-r["duration_seconds"], r["id"]))
        for viewer in viewers:
            items = (await feed(client, viewer, limit=100))["data"]
            shown = [{k: v for k, v in item.items() if k != "user"} for item in items]
            private = ("rating", "tags", "note")
            assert shown == [{k: v for k, v in r.items() if k not in private} for r in expected], (
                f"step {step}"
            )
    assert await redis.exists(*(feed_key(v.id, WEEK) for v in viewers)) == len(viewers)
