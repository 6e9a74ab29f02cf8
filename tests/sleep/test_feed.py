"""The followings feed and the weekly ranking: contents, order, and freshness after changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from httpx import AsyncClient

from rhythm.platform.timeutil import iso_week, previous_week
from tests.factories import create_user, delete_account, problem

WEEK = "2026-W45"  # Monday 2 to Sunday 8 November 2026
MONDAY = datetime(2026, 11, 2, 22, 0, tzinfo=UTC)


async def night(client: AsyncClient, user, day: int, hours: float, start_hour: int = 22) -> str:  # type: ignore[no-untyped-def]
    start = MONDAY.replace(hour=start_hour) + timedelta(days=day)
    response = await client.post(
        "/api/v1/sleep/records",
        json={
            "sleep_at": start.isoformat(),
            "wake_at": (start + timedelta(hours=hours)).isoformat(),
            "sleep_timezone": "UTC",
        },
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    record_id: str = response.json()["record"]["id"]
    return record_id


async def follow(client: AsyncClient, viewer, other) -> None:  # type: ignore[no-untyped-def]
    response = await client.put(f"/api/v1/users/me/following/{other.id}", headers=viewer.headers)
    assert response.status_code in (200, 201)


async def feed(client: AsyncClient, viewer, **params) -> dict:  # type: ignore[no-untyped-def]
    response = await client.get(
        "/api/v1/sleep/following", params={"week": WEEK, **params}, headers=viewer.headers
    )
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


async def test_feed_lists_followees_nights_longest_first(app, client: AsyncClient) -> None:
    viewer = await create_user(app)
    alice = await create_user(app, name="Alice")
    bob = await create_user(app, name="Bob")
    stranger = await create_user(app)
    await follow(client, viewer, alice)
    await follow(client, viewer, bob)
    a1 = await night(client, alice, 0, 7)
    a2 = await night(client, alice, 1, 9)
    b1 = await night(client, bob, 0, 8)
    await night(client, bob, 8, 10)  # next week
    await night(client, stranger, 0, 12)  # not followed
    await night(client, viewer, 0, 11)  # the viewer's own nights are not in the feed
    await client.post("/api/v1/sleep/clock-in", json={}, headers=bob.headers)  # open: never shown
    body = await feed(client, viewer)
    assert [item["id"] for item in body["data"]] == [a2, b1, a1]
    assert [item["duration_seconds"] for item in body["data"]] == [9 * 3600, 8 * 3600, 7 * 3600]
    assert body["data"][0]["user"] == {"id": str(alice.id), "name": "Alice"}
    assert (body["week"], body["week_start"], body["week_end"]) == (
        WEEK,
        "2026-11-02",
        "2026-11-08",
    )
    assert body["next_cursor"] is None


async def test_feed_ties_are_broken_by_id_and_pages_are_stable(app, client: AsyncClient) -> None:
    viewer = await create_user(app)
    ids = []
    for i in range(5):
        friend = await create_user(app)
        await follow(client, viewer, friend)
        ids.append(await night(client, friend, i % 7, 8))
    collected: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await feed(client, viewer, **params)
        collected += [item["id"] for item in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert collected == sorted(ids)


async def test_feed_is_fresh_after_every_kind_of_change(app, client: AsyncClient) -> None:
    viewer = await create_user(app)
    alice = await create_user(app)
    bob = await create_user(app)
    a1 = await night(client, alice, 0, 7)
    b1 = await night(client, bob, 2, 6)
    assert (await feed(client, viewer))["data"] == []
    await follow(client, viewer, alice)
    assert [i["id"] for i in (await feed(client, viewer))["data"]] == [a1]
    await follow(client, viewer, bob)
    assert [i["id"] for i in (await feed(client, viewer))["data"]] == [a1, b1]
    # Backfill into this past week.
    a2 = await night(client, alice, 3, 10)
    assert [i["id"] for i in (await feed(client, viewer))["data"]] == [a2, a1, b1]
    # Delete.
    await client.delete(f"/api/v1/sleep/records/{a1}", headers=alice.headers)
    assert [i["id"] for i in (await feed(client, viewer))["data"]] == [a2, b1]
    # Unfollow.
    await client.delete(f"/api/v1/users/me/following/{alice.id}", headers=viewer.headers)
    assert [i["id"] for i in (await feed(client, viewer))["data"]] == [b1]
    # Account deletion.
    await delete_account(client, bob)
    assert (await feed(client, viewer))["data"] == []


async def test_clock_out_shows_up_in_the_current_week(app, client: AsyncClient) -> None:
    viewer = await create_user(app)
    friend = await create_user(app)
    await follow(client, viewer, friend)
    start = datetime.now(UTC) - timedelta(hours=6)
    await client.post(
        "/api/v1/sleep/clock-in", json={"at": start.isoformat()}, headers=friend.headers
    )
    week = iso_week(start.date())
    before = await client.get(
        "/api/v1/sleep/following", params={"week": week}, headers=viewer.headers
    )
    assert before.json()["data"] == []
    await client.post("/api/v1/sleep/clock-out", json={}, headers=friend.headers)
    after = await client.get(
        "/api/v1/sleep/following", params={"week": week}, headers=viewer.headers
    )
    assert len(after.json()["data"]) == 1


async def test_default_week_is_the_previous_week_in_the_viewers_zone(
    app, client: AsyncClient
) -> None:
    viewer = await create_user(app, timezone="Pacific/Kiritimati")
    body = (await client.get("/api/v1/sleep/following", headers=viewer.headers)).json()
    assert body["week"] == previous_week(datetime.now(UTC), "Pacific/Kiritimati")
    ranking = (await client.get("/api/v1/sleep/rankings/weekly", headers=viewer.headers)).json()
    assert ranking["week"] == body["week"]


async def test_invalid_weeks_are_422(app, client: AsyncClient) -> None:
    viewer = await create_user(app)
    for week in ["2026-W54", "2026-W00", "2026-46", "W46", "2021-W53", "x"]:
        for path in ["/api/v1/sleep/following", "/api/v1/sleep/rankings/weekly"]:
            problem(await client.get(path, params={"week": week}, headers=viewer.headers), 422)
    ok = await client.get(
        "/api/v1/sleep/following", params={"week": "2026-W53"}, headers=viewer.headers
    )
    assert ok.status_code == 200  # 2026 has 53 ISO weeks


async def test_weekly_ranking(app, client: AsyncClient) -> None:
    viewer = await create_user(app, name="Viewer")
    alice = await create_user(app, name="Alice")
    bob = await create_user(app, name="Bob")
    idle = await create_user(app, name="Idle")
    stranger = await create_user(app)
    for other in (alice, bob, idle):
        await follow(client, viewer, other)
    await night(client, alice, 0, 7)
    await night(client, alice, 1, 8)
    await night(client, bob, 0, 9)
    await night(client, viewer, 0, 6)
    await night(client, stranger, 0, 12)
    body = (
        await client.get(
            "/api/v1/sleep/rankings/weekly", params={"week": WEEK}, headers=viewer.headers
        )
    ).json()
    rows = body["data"]
    assert [(r["rank"], r["user"]["name"]) for r in rows] == [
        (1, "Alice"),
        (2, "Bob"),
        (3, "Viewer"),
    ]
    assert rows[0] == {
        "rank": 1,
        "user": {"id": str(alice.id), "name": "Alice"},
        "total_seconds": 15 * 3600,
        "nights": 2,
        "average_seconds": 15 * 3600 // 2,
        "longest_seconds": 8 * 3600,
    }
    assert (body["week_start"], body["week_end"]) == ("2026-11-02", "2026-11-08")
    # Equal totals share a rank.
    await night(client, bob, 2, 6)
    tied = (
        await client.get(
            "/api/v1/sleep/rankings/weekly", params={"week": WEEK}, headers=viewer.headers
        )
    ).json()["data"]
    assert [r["rank"] for r in tied] == [1, 1, 3]
