"""Focus sessions, days, streaks and leaderboards through the HTTP API."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from httpx import AsyncClient

from rhythm.platform.timeutil import local_date
from tests.factories import create_user, delete_account, problem

TODAY = datetime.now(UTC).date()


def at(day: date, hour: int, minute: int = 0, second: int = 0, zone: str = "UTC") -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=ZoneInfo(zone))


async def record(
    client: AsyncClient,
    user,  # type: ignore[no-untyped-def]
    start: datetime,
    end: datetime,
    zone: str = "UTC",
    session_id: str | None = None,
    expect: int = 201,
) -> dict:
    response = await client.post(
        "/api/v1/focus/sessions",
        json={
            "session_id": session_id or uuid.uuid4().hex,
            "started_at": start.isoformat(),
            "ended_at": end.isoformat(),
            "timezone": zone,
        },
        headers=user.headers,
    )
    assert response.status_code == expect, response.text
    body: dict = response.json()
    return body


async def focus_day(client: AsyncClient, user, minutes: float, day: date) -> dict:  # type: ignore[no-untyped-def]
    # 00:01 UTC is never more than an hour ahead, even today (a session may end later).
    start = at(day, 0, 1)
    return await record(client, user, start, start + timedelta(minutes=minutes))


async def streak(client: AsyncClient, viewer, user_id) -> dict:  # type: ignore[no-untyped-def]
    response = await client.get(f"/api/v1/users/{user_id}/streak", headers=viewer.headers)
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


async def days(client: AsyncClient, user, first: date, last: date) -> list[dict]:  # type: ignore[no-untyped-def]
    response = await client.get(
        "/api/v1/focus/days",
        params={"from": first.isoformat(), "to": last.isoformat()},
        headers=user.headers,
    )
    assert response.status_code == 200, response.text
    body: list[dict] = response.json()
    return body


async def test_a_session_is_recorded_and_an_identical_replay_gets_the_same_answer(
    app, client: AsyncClient
) -> None:
    user = await create_user(app)
    start = at(TODAY - timedelta(days=1), 9)
    body = {
        "session_id": "laptop:1",
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=45)).isoformat(),
        "timezone": "UTC",
    }
    first = await client.post("/api/v1/focus/sessions", json=body, headers=user.headers)
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["session"]["session_id"] == "laptop:1"
    assert created["session"]["duration_seconds"] == 2700
    assert created["streak"]["current_streak"] == 1
    assert created["streak"]["user_id"] == str(user.id)
    # Another session moves the streak on, but the replay still gets the first answer.
    await focus_day(client, user, 40, TODAY)
    replay = await client.post("/api/v1/focus/sessions", json=body, headers=user.headers)
    assert replay.status_code == 200
    assert replay.json() == created
    # The same instants written with another offset are the same body.
    moved = {**body, "started_at": start.astimezone(ZoneInfo("Asia/Tokyo")).isoformat()}
    assert (
        await client.post("/api/v1/focus/sessions", json=moved, headers=user.headers)
    ).status_code == 200
    for change in (
        {"ended_at": (start + timedelta(minutes=46)).isoformat()},
        {"timezone": "Europe/Paris"},
        {"started_at": (start + timedelta(seconds=1)).isoformat()},
    ):
        conflict = await client.post(
            "/api/v1/focus/sessions", json={**body, **change}, headers=user.headers
        )
        assert problem(conflict, 409)["type"].endswith("/idempotency-conflict")
    listed = (await client.get("/api/v1/focus/sessions", headers=user.headers)).json()
    assert len(listed["data"]) == 2


async def test_a_session_across_midnight_is_split_and_replays_cleanly(
    app, client: AsyncClient
) -> None:
    user = await create_user(app, timezone="Europe/Paris")
    day = TODAY - timedelta(days=3)
    start = at(day, 23, 30, zone="Europe/Paris")
    created = await record(client, user, start, start + timedelta(hours=1), "Europe/Paris", "night")
    shares = created["session"]["days"]
    assert [(s["date"], s["seconds"]) for s in shares] == [
        (day.isoformat(), 1800),
        ((day + timedelta(days=1)).isoformat(), 1800),
    ]
    replay = await record(
        client, user, start, start + timedelta(hours=1), "Europe/Paris", "night", expect=200
    )
    assert replay == created
    heat = await days(client, user, day, day + timedelta(days=1))
    assert [(d["minutes"], d["qualified"]) for d in heat] == [(30, True), (30, True)]
    # A multi-day session (22 h across two midnights in Tokyo) replays too.
    long_start = at(day - timedelta(days=5), 23, zone="Asia/Tokyo")
    multi = await record(
        client, user, long_start, long_start + timedelta(hours=22), "Asia/Tokyo", "long"
    )
    assert len(multi["session"]["days"]) == 2
    again = await record(
        client, user, long_start, long_start + timedelta(hours=22), "Asia/Tokyo", "long", 200
    )
    assert again == multi


async def test_invalid_sessions_are_422(app, client: AsyncClient) -> None:
    user = await create_user(app)
    start = at(TODAY - timedelta(days=1), 10)
    good = {
        "session_id": "s",
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(hours=1)).isoformat(),
        "timezone": "UTC",
    }
    now = datetime.now(UTC)
    cases = [
        {"ended_at": start.isoformat()},
        {"ended_at": (start - timedelta(minutes=1)).isoformat()},
        {"ended_at": (start + timedelta(hours=24, seconds=1)).isoformat()},
        {
            "started_at": (now + timedelta(minutes=61)).isoformat(),
            "ended_at": (now + timedelta(minutes=90)).isoformat(),
        },
        {"timezone": "Mars/Olympus"},
        {"timezone": ""},
        {"session_id": ""},
        {"session_id": "x" * 129},
        {"session_id": "a/b"},
        {"session_id": "tab\there"},
        {"session_id": 42},
        {"started_at": "2026-11-01T10:00:00"},  # no offset
        {"started_at": "yesterday"},
        {"extra": 1},
    ]
    for change in cases:
        response = await client.post(
            "/api/v1/focus/sessions", json={**good, **change}, headers=user.headers
        )
        problem(response, 422)
    # Exactly 24 hours, and a start just under an hour ahead, are fine.
    await record(client, user, start - timedelta(days=2), start - timedelta(days=1))
    soon = now + timedelta(minutes=59)
    await record(client, user, soon, soon + timedelta(minutes=5))
    assert (
        await client.post(
            "/api/v1/focus/sessions", json={**good, "session_id": "x" * 128}, headers=user.headers
        )
    ).status_code == 201
    problem(await client.post("/api/v1/focus/sessions", json=good), 401)


async def test_overlapping_sessions_count_once_and_the_threshold_is_exact(
    app, client: AsyncClient
) -> None:
    user = await create_user(app)
    day = TODAY - timedelta(days=2)
    # Two devices, 09:00-09:20 and 09:10-09:29:59: the union is 29:59, which does not qualify.
    await record(client, user, at(day, 9), at(day, 9, 20))
    await record(client, user, at(day, 9, 10), at(day, 9, 29, 59))
    (heat,) = await days(client, user, day, day)
    assert heat == {"date": day.isoformat(), "minutes": 29, "qualified": False, "frozen": False}
    assert (await streak(client, user, user.id))["qualified_days_count"] == 0
    # One more second makes exactly 30:00.
    await record(client, user, at(day, 9, 29, 59), at(day, 9, 30))
    (heat,) = await days(client, user, day, day)
    assert (heat["minutes"], heat["qualified"]) == (30, True)
    figures = await streak(client, user, user.id)
    assert figures["qualified_days_count"] == 1
    assert figures["last_qualified_date"] == day.isoformat()


async def test_late_data_joins_runs_and_deletes_recalculate(app, client: AsyncClient) -> None:
    user = await create_user(app)
    other = await create_user(app)
    d = [TODAY - timedelta(days=n) for n in range(12, -1, -1)]  # d[12] is today
    # Runs of 4 (d[0..3]) and 5 (d[8..12]), with a 4-day gap no freeze can cover.
    for i in [0, 1, 2, 3, 8, 9, 10, 11, 12]:
        await focus_day(client, user, 30, d[i])
    figures = await streak(client, other, user.id)
    assert (figures["current_streak"], figures["longest_streak"]) == (5, 5)
    assert figures["today_minutes"] == 30
    # Late sessions fill the gap: one run of 13.
    late = [await focus_day(client, user, 31, d[i]) for i in (4, 5, 6, 7)]
    figures = await streak(client, other, user.id)
    assert (figures["current_streak"], figures["longest_streak"]) == (13, 13)
    assert figures["qualified_days_count"] == 13
    assert figures["freezes_held"] == 1  # earned on the 7th day in a row, spent on none
    # Deleting d[5] splits the run again.
    gap = late[1]["session"]["session_id"]
    response = await client.delete(f"/api/v1/focus/sessions/{gap}", headers=user.headers)
    assert response.status_code == 204
    figures = await streak(client, other, user.id)
    # d[0..4] is 5 days (no freeze earned yet), so missing d[5] ends it; d[6..12] is 7.
    assert (figures["current_streak"], figures["longest_streak"]) == (7, 7)
    assert figures["qualified_days_count"] == 12
    # Deleting it again, or someone else deleting, is a 404.
    problem(await client.delete(f"/api/v1/focus/sessions/{gap}", headers=user.headers), 404)
    mine = late[0]["session"]["session_id"]
    problem(await client.delete(f"/api/v1/focus/sessions/{mine}", headers=other.headers), 404)


async def test_a_held_freeze_covers_a_missed_day(app, client: AsyncClient) -> None:
    user = await create_user(app)
    d = [TODAY - timedelta(days=n) for n in range(9, -1, -1)]  # d[9] is today
    for i in range(7):  # d[0..6]: 7 in a row earns a freeze
        await focus_day(client, user, 30, d[i])
    # d[7] missed, d[8] qualified: the freeze covers d[7] and the streak goes on.
    await focus_day(client, user, 30, d[8])
    figures = await streak(client, user, user.id)
    assert figures["current_streak"] == 9
    assert figures["qualified_days_count"] == 8
    assert figures["freezes_held"] == 0
    heat = await days(client, user, d[6], d[8])
    assert [h["frozen"] for h in heat] == [False, True, False]


async def test_streak_of_unknown_users_is_404_and_anyone_signed_in_may_look(
    app, client: AsyncClient
) -> None:
    user = await create_user(app)
    problem(await client.get(f"/api/v1/users/{uuid.uuid4()}/streak", headers=user.headers), 404)
    problem(await client.get("/api/v1/users/not-a-uuid/streak", headers=user.headers), 422)
    problem(await client.get(f"/api/v1/users/{user.id}/streak"), 401)
    stranger = await create_user(app)
    figures = await streak(client, stranger, user.id)
    assert figures == {
        "user_id": str(user.id),
        "current_streak": 0,
        "longest_streak": 0,
        "last_qualified_date": None,
        "qualified_days_count": 0,
        "freezes_held": 0,
        "today_minutes": 0,
        "threshold_minutes": 30,
    }
    # A deleted account's streak is gone.
    await focus_day(client, user, 30, TODAY)
    response = await delete_account(client, user)
    assert response.status_code == 204, response.text
    problem(await client.get(f"/api/v1/users/{user.id}/streak", headers=stranger.headers), 404)


async def test_today_is_the_owners_today(app, client: AsyncClient) -> None:
    """today_minutes and the current streak use the streak owner's profile timezone."""
    east = await create_user(app, timezone="Pacific/Kiritimati")  # UTC+14
    now = datetime.now(UTC)
    local_today = local_date(now, "Pacific/Kiritimati")
    start = datetime.combine(local_today, datetime.min.time(), ZoneInfo("Pacific/Kiritimati"))
    end = min(now, start + timedelta(minutes=45))
    if end - start >= timedelta(minutes=1):
        await record(client, east, start, end, "Pacific/Kiritimati")
        figures = await streak(client, east, east.id)
        assert figures["today_minutes"] == int((end - start).total_seconds() // 60)


async def test_days_range_rules(app, client: AsyncClient) -> None:
    user = await create_user(app)
    base = "/api/v1/focus/days"
    ok = await client.get(
        base, params={"from": "2025-01-01", "to": "2026-01-01"}, headers=user.headers
    )
    assert ok.status_code == 200 and len(ok.json()) == 366
    for params in (
        {"from": "2025-01-01", "to": "2026-01-02"},
        {"from": "2026-01-02", "to": "2026-01-01"},
        {"from": "2026-02-30", "to": "2026-03-01"},
        {"from": "2026-01-01"},
        {},
    ):
        problem(await client.get(base, params=params, headers=user.headers), 422)


async def test_concurrent_identical_posts_create_one_session(app, client: AsyncClient) -> None:
    user = await create_user(app)
    start = at(TODAY - timedelta(days=1), 23)
    body = {
        "session_id": "race",
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(hours=2)).isoformat(),
        "timezone": "UTC",
    }
    responses = await asyncio.gather(
        *[client.post("/api/v1/focus/sessions", json=body, headers=user.headers) for _ in range(10)]
    )
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.text for r in responses}) == 1
    # Concurrent different sessions of one user on one day: the union is exact.
    day = TODAY - timedelta(days=4)
    await asyncio.gather(
        *[record(client, user, at(day, 8, 5 * i), at(day, 8, 5 * i + 10)) for i in range(6)]
    )
    (heat,) = await days(client, user, day, day)
    assert heat["minutes"] == 35


async def test_leaderboard_ranks_the_viewer_and_followees(app, client: AsyncClient, redis) -> None:
    viewer = await create_user(app, name="Viewer")
    alice = await create_user(app, name="Alice")
    bob = await create_user(app, name="Bob")
    stranger = await create_user(app, name="Stranger")
    monday = TODAY - timedelta(days=TODAY.weekday())
    for user in (alice, bob):
        assert (
            await client.put(f"/api/v1/users/me/following/{user.id}", headers=viewer.headers)
        ).status_code in (200, 201)
    await focus_day(client, alice, 50, TODAY)
    await focus_day(client, alice, 30, TODAY - timedelta(days=1))
    await focus_day(client, bob, 90, TODAY)
    await focus_day(client, stranger, 500, TODAY)

    async def board(by: str) -> list[tuple[int, str, int, int]]:
        response = await client.get(
            "/api/v1/focus/leaderboard", params={"by": by}, headers=viewer.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["week_start"] == monday.isoformat()
        return [
            (r["rank"], r["user"]["name"], r["current_streak"], r["week_minutes"])
            for r in body["data"]
        ]

    week_minutes_alice = 50 + (30 if TODAY - timedelta(days=1) >= monday else 0)
    streaks = await board("current_streak")
    assert streaks[0] == (1, "Alice", 2, week_minutes_alice)
    assert streaks[1] == (2, "Bob", 1, 90)
    assert streaks[2] == (3, "Viewer", 0, 0)
    minutes = await board("week_minutes")
    assert [r[1] for r in minutes][-1] == "Viewer"
    assert {r[1] for r in minutes} == {"Alice", "Bob", "Viewer"}
    # The next request sees a new session, an unfollow, and a Redis flush changes nothing.
    await focus_day(client, viewer, 200, TODAY)
    assert (await board("week_minutes"))[0] == (1, "Viewer", 1, 200)
    await client.delete(f"/api/v1/users/me/following/{bob.id}", headers=viewer.headers)
    before = await board("week_minutes")
    assert "Bob" not in {r[1] for r in before}
    await redis.flushdb()
    assert await board("week_minutes") == before
    assert await board("week_minutes") == before
    problem(
        await client.get(
            "/api/v1/focus/leaderboard", params={"by": "nights"}, headers=viewer.headers
        ),
        422,
    )


async def test_leaderboard_pages(app, client: AsyncClient) -> None:
    viewer = await create_user(app)
    for minutes in (40, 50, 60, 70):
        friend = await create_user(app)
        await client.put(f"/api/v1/users/me/following/{friend.id}", headers=viewer.headers)
        await focus_day(client, friend, minutes, TODAY)
    url = "/api/v1/focus/leaderboard"
    first = (
        await client.get(url, params={"by": "week_minutes", "limit": 3}, headers=viewer.headers)
    ).json()
    assert [r["week_minutes"] for r in first["data"]] == [70, 60, 50]
    rest = (
        await client.get(
            url,
            params={"by": "week_minutes", "limit": 3, "cursor": first["next_cursor"]},
            headers=viewer.headers,
        )
    ).json()
    assert [(r["rank"], r["week_minutes"]) for r in rest["data"]] == [(4, 40), (5, 0)]
    assert rest["next_cursor"] is None
    # A cursor of the other ranking is refused.
    problem(
        await client.get(
            url,
            params={"by": "current_streak", "cursor": first["next_cursor"]},
            headers=viewer.headers,
        ),
        422,
    )


async def test_concurrent_posts_of_one_session_id_with_two_bodies(app, client: AsyncClient) -> None:
    """Whichever body wins is created once; its twins replay it and the others conflict."""
    user = await create_user(app)
    start = at(TODAY - timedelta(days=2), 7)
    bodies = [
        {
            "session_id": "contested",
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(minutes=minutes)).isoformat(),
            "timezone": "UTC",
        }
        for minutes in (20, 40)
    ]
    responses = await asyncio.gather(
        *[
            client.post("/api/v1/focus/sessions", json=bodies[i % 2], headers=user.headers)
            for i in range(10)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 4 + [201] + [409] * 5
    winner = next(r for r in responses if r.status_code == 201)
    for response in responses:
        if response.status_code == 200:
            assert response.text == winner.text
        elif response.status_code == 409:
            assert problem(response, 409)["type"].endswith("/idempotency-conflict")
    listed = (await client.get("/api/v1/focus/sessions", headers=user.headers)).json()["data"]
    assert len(listed) == 1


def later(start: datetime, hours: float) -> datetime:
    """Real elapsed time (an aware datetime plus a timedelta moves the wall clock instead)."""
    return start.astimezone(UTC) + timedelta(hours=hours)


async def test_dst_days_and_new_years_eve_through_the_api(app, client: AsyncClient) -> None:
    user = await create_user(app, timezone="America/New_York")
    # New York, spring forward (2026-03-08 is 23 h) and fall back (2026-11-01 is 25 h).
    spring = datetime(2026, 3, 7, 23, 30, tzinfo=ZoneInfo("America/New_York"))
    await record(client, user, spring, later(spring, 24), "America/New_York")
    heat = await days(client, user, date(2026, 3, 7), date(2026, 3, 9))
    assert [d["minutes"] for d in heat] == [30, 23 * 60, 30]
    fall = datetime(2026, 11, 1, 0, 0, tzinfo=ZoneInfo("America/New_York"))
    await record(client, user, fall, later(fall, 24), "America/New_York")
    heat = await days(client, user, date(2026, 11, 1), date(2026, 11, 1))
    assert heat[0]["minutes"] == 24 * 60  # the 25-hour day's first 24 hours
    # Lord Howe: 2026-10-04 is 23.5 hours long.
    howe = datetime(2026, 10, 4, 0, 0, tzinfo=ZoneInfo("Australia/Lord_Howe"))
    await record(client, user, howe, later(howe, 24), "Australia/Lord_Howe")
    heat = await days(client, user, date(2026, 10, 4), date(2026, 10, 5))
    assert [d["minutes"] for d in heat] == [23 * 60 + 30, 30]
    # New Year's Eve in Paris.
    eve = datetime(2025, 12, 31, 23, 0, tzinfo=ZoneInfo("Europe/Paris"))
    created = await record(client, user, eve, later(eve, 2), "Europe/Paris")
    assert [(d["date"], d["seconds"]) for d in created["session"]["days"]] == [
        ("2025-12-31", 3600),
        ("2026-01-01", 3600),
    ]


async def test_a_year_of_daily_sessions_in_any_order(app, client: AsyncClient) -> None:
    """365 daily sessions, sent in a shuffled order: the streak is the same as in order."""
    import random

    user = await create_user(app)
    dates = [TODAY - timedelta(days=n) for n in range(365)]
    random.Random(4).shuffle(dates)
    for day in dates:
        await focus_day(client, user, 30, day)
    figures = await streak(client, user, user.id)
    assert figures["current_streak"] == 365
    assert figures["longest_streak"] == 365
    assert figures["qualified_days_count"] == 365
    assert figures["freezes_held"] == 2
    assert figures["last_qualified_date"] == TODAY.isoformat()
