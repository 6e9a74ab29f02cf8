"""Sleep records through the HTTP API: clock in/out, backfill, reading and deleting."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient

from tests.factories import create_user, problem


def iso(dt: datetime) -> str:
    return dt.isoformat()


async def test_clock_in_then_out(app, client: AsyncClient) -> None:
    user = await create_user(app, timezone="Europe/Paris")
    bedtime = datetime.now(UTC) - timedelta(hours=8)
    response = await client.post(
        "/api/v1/sleep/clock-in", json={"at": iso(bedtime)}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    record = body["record"]
    assert record["status"] == "sleeping" and record["wake_at"] is None
    assert record["sleep_timezone"] == "Europe/Paris"
    assert record["duration_seconds"] is None
    assert [r["id"] for r in body["records"]] == [record["id"]]
    assert body["next_cursor"] is None
    out = await client.post("/api/v1/sleep/clock-out", json={}, headers=user.headers)
    assert out.status_code == 200, out.text
    done = out.json()["record"]
    assert done["status"] == "completed"
    assert abs(done["duration_seconds"] - 8 * 3600) < 5
    assert done["wake_timezone"] == "Europe/Paris"


async def test_record_shape(app, client: AsyncClient) -> None:
    user = await create_user(app)
    response = await client.post(
        "/api/v1/sleep/records",
        json={
            "sleep_at": "2026-11-01T22:30:00Z",
            "wake_at": "2026-11-02T06:45:00Z",
            "sleep_timezone": "Asia/Tokyo",
            "wake_timezone": "America/New_York",
        },
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    record = response.json()["record"]
    assert set(record) == {
        "id",
        "user_id",
        "sleep_at",
        "wake_at",
        "sleep_timezone",
        "wake_timezone",
        "sleep_at_local",
        "wake_at_local",
        "duration_seconds",
        "status",
        "week",
        "created_at",
        "rating",
        "tags",
        "note",
    }
    assert (record["rating"], record["tags"], record["note"]) == (None, [], None)
    assert record["sleep_at_local"] == "2026-11-02T07:30:00+09:00"
    assert record["wake_at_local"] == "2026-11-02T01:45:00-05:00"
    assert record["duration_seconds"] == 8 * 3600 + 15 * 60
    # Bedtime is Monday 2 November on Tokyo's calendar: ISO week 45.
    assert record["week"] == "2026-W45"
    assert record["user_id"] == str(user.id)


async def test_double_clock_in_is_409_with_open_record_id(app, client: AsyncClient) -> None:
    user = await create_user(app)
    first = await client.post("/api/v1/sleep/clock-in", json={}, headers=user.headers)
    second = await client.post("/api/v1/sleep/clock-in", json={}, headers=user.headers)
    body = problem(second, 409)
    assert body["type"].endswith("/already-clocked-in")
    assert body["record_id"] == first.json()["record"]["id"]


async def test_concurrent_clock_ins_create_one_open_record(app, client: AsyncClient) -> None:
    user = await create_user(app)
    responses = await asyncio.gather(
        *[client.post("/api/v1/sleep/clock-in", json={}, headers=user.headers) for _ in range(10)]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == 9, statuses
    listed = (await client.get("/api/v1/sleep/records", headers=user.headers)).json()["data"]
    assert len([r for r in listed if r["status"] == "sleeping"]) == 1


async def test_clock_in_rules(app, client: AsyncClient) -> None:
    user = await create_user(app)
    future = datetime.now(UTC) + timedelta(minutes=6)
    problem(
        await client.post("/api/v1/sleep/clock-in", json={"at": iso(future)}, headers=user.headers),
        422,
    )
    near_future = datetime.now(UTC) + timedelta(minutes=4)
    ok = await client.post(
        "/api/v1/sleep/clock-in", json={"at": iso(near_future)}, headers=user.headers
    )
    assert ok.status_code == 201
    problem(
        await client.post("/api/v1/sleep/clock-in", json={"at": "yesterday"}, headers=user.headers),
        422,
    )
    problem(
        await client.post(
            "/api/v1/sleep/clock-in", json={"at": "2026-11-01T22:00:00"}, headers=user.headers
        ),
        422,
    )  # no offset
    problem(
        await client.post(
            "/api/v1/sleep/clock-in", json={"timezone": "Moon/Base"}, headers=user.headers
        ),
        422,
    )


async def test_clock_in_before_latest_wake_is_overlap(app, client: AsyncClient) -> None:
    user = await create_user(app)
    now = datetime.now(UTC)
    await client.post(
        "/api/v1/sleep/records",
        json={"sleep_at": iso(now - timedelta(hours=10)), "wake_at": iso(now - timedelta(hours=2))},
        headers=user.headers,
    )
    response = await client.post(
        "/api/v1/sleep/clock-in", json={"at": iso(now - timedelta(hours=3))}, headers=user.headers
    )
    assert problem(response, 409)["type"].endswith("/overlap")


async def test_clock_out_rules(app, client: AsyncClient) -> None:
    user = await create_user(app)
    assert problem(
        await client.post("/api/v1/sleep/clock-out", json={}, headers=user.headers), 409
    )["type"].endswith("/not-clocked-in")
    bedtime = datetime.now(UTC) - timedelta(hours=30)
    await client.post("/api/v1/sleep/clock-in", json={"at": iso(bedtime)}, headers=user.headers)
    for at in [bedtime, bedtime - timedelta(minutes=1)]:
        problem(
            await client.post(
                "/api/v1/sleep/clock-out", json={"at": iso(at)}, headers=user.headers
            ),
            422,
        )
    too_long = bedtime + timedelta(hours=24, seconds=1)
    problem(
        await client.post(
            "/api/v1/sleep/clock-out", json={"at": iso(too_long)}, headers=user.headers
        ),
        422,
    )
    exactly_a_day = bedtime + timedelta(hours=24)
    ok = await client.post(
        "/api/v1/sleep/clock-out", json={"at": iso(exactly_a_day)}, headers=user.headers
    )
    assert ok.status_code == 200
    assert ok.json()["record"]["duration_seconds"] == 24 * 3600


async def test_backfill_rules_and_overlap(app, client: AsyncClient) -> None:
    user = await create_user(app)
    base = datetime(2026, 11, 10, 22, 0, tzinfo=UTC)

    async def backfill(start: datetime, end: datetime):  # type: ignore[no-untyped-def]
        return await client.post(
            "/api/v1/sleep/records",
            json={"sleep_at": iso(start), "wake_at": iso(end)},
            headers=user.headers,
        )

    assert (await backfill(base, base + timedelta(hours=8))).status_code == 201
    problem(await backfill(base + timedelta(hours=7), base + timedelta(hours=9)), 409)
    problem(await backfill(base - timedelta(hours=1), base + timedelta(minutes=1)), 409)
    # Touching end to start is not an overlap.
    assert (await backfill(base + timedelta(hours=8), base + timedelta(hours=9))).status_code == 201
    problem(await backfill(base + timedelta(days=2), base + timedelta(days=2)), 422)
    problem(await backfill(base + timedelta(days=3), base + timedelta(days=2)), 422)
    problem(await backfill(base + timedelta(days=4), base + timedelta(days=5, seconds=1)), 422)
    future = datetime.now(UTC) + timedelta(hours=1)
    problem(await backfill(future - timedelta(hours=8), future), 422)


async def test_open_record_blocks_backfill_after_its_bedtime(app, client: AsyncClient) -> None:
    user = await create_user(app)
    now = datetime.now(UTC)
    await client.post(
        "/api/v1/sleep/clock-in", json={"at": iso(now - timedelta(hours=2))}, headers=user.headers
    )
    response = await client.post(
        "/api/v1/sleep/records",
        json={"sleep_at": iso(now - timedelta(hours=1)), "wake_at": iso(now)},
        headers=user.headers,
    )
    problem(response, 409)
    earlier = await client.post(
        "/api/v1/sleep/records",
        json={"sleep_at": iso(now - timedelta(hours=12)), "wake_at": iso(now - timedelta(hours=4))},
        headers=user.headers,
    )
    assert earlier.status_code == 201


async def test_dst_nights_use_real_elapsed_time(app, client: AsyncClient) -> None:
    user = await create_user(app, timezone="America/New_York")
    # 23:00 to 07:00 on New York's wall clock across spring-forward: 7 real hours.
    spring = await client.post(
        "/api/v1/sleep/records",
        json={"sleep_at": "2026-03-07T23:00:00-05:00", "wake_at": "2026-03-08T07:00:00-04:00"},
        headers=user.headers,
    )
    record = spring.json()["record"]
    assert record["duration_seconds"] == 7 * 3600
    assert record["sleep_at_local"] == "2026-03-07T23:00:00-05:00"
    assert record["wake_at_local"] == "2026-03-08T07:00:00-04:00"
    # Across fall-back: 9 real hours.
    fall = await client.post(
        "/api/v1/sleep/records",
        json={"sleep_at": "2026-10-31T23:00:00-04:00", "wake_at": "2026-11-01T07:00:00-05:00"},
        headers=user.headers,
    )
    assert fall.json()["record"]["duration_seconds"] == 9 * 3600


async def test_week_is_the_local_bedtime_week(app, client: AsyncClient) -> None:
    user = await create_user(app)
    # Sunday 23:00 to Monday 07:00 in Paris belongs to Sunday's week.
    sunday = await client.post(
        "/api/v1/sleep/records",
        json={
            "sleep_at": "2026-11-15T23:00:00+01:00",
            "wake_at": "2026-11-16T07:00:00+01:00",
            "sleep_timezone": "Europe/Paris",
        },
        headers=user.headers,
    )
    assert sunday.json()["record"]["week"] == "2026-W46"
    # 00:30 Monday in Tokyo is still Sunday in UTC: the local date decides.
    monday = await client.post(
        "/api/v1/sleep/records",
        json={
            "sleep_at": "2026-11-16T00:30:00+09:00",
            "wake_at": "2026-11-16T07:00:00+09:00",
            "sleep_timezone": "Asia/Tokyo",
        },
        headers=user.headers,
    )
    assert monday.json()["record"]["week"] == "2026-W47"


async def test_read_list_and_delete_own_records(app, client: AsyncClient) -> None:
    user = await create_user(app)
    base = datetime(2026, 10, 1, 22, tzinfo=UTC)
    ids = []
    for day in range(5):
        start = base + timedelta(days=day)
        response = await client.post(
            "/api/v1/sleep/records",
            json={"sleep_at": iso(start), "wake_at": iso(start + timedelta(hours=7))},
            headers=user.headers,
        )
        ids.append(response.json()["record"]["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (
            await client.get("/api/v1/sleep/records", params=params, headers=user.headers)
        ).json()
        seen += [r["id"] for r in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    one = await client.get(f"/api/v1/sleep/records/{ids[0]}", headers=user.headers)
    assert one.status_code == 200 and one.json()["id"] == ids[0]
    assert (
        await client.delete(f"/api/v1/sleep/records/{ids[0]}", headers=user.headers)
    ).status_code == 204
    problem(await client.get(f"/api/v1/sleep/records/{ids[0]}", headers=user.headers), 404)
    problem(await client.delete(f"/api/v1/sleep/records/{ids[0]}", headers=user.headers), 404)


async def test_other_users_records_are_404(app, client: AsyncClient) -> None:
    alice = await create_user(app)
    bob = await create_user(app)
    created = await client.post("/api/v1/sleep/clock-in", json={}, headers=bob.headers)
    record_id = created.json()["record"]["id"]
    problem(await client.get(f"/api/v1/sleep/records/{record_id}", headers=alice.headers), 404)
    problem(await client.delete(f"/api/v1/sleep/records/{record_id}", headers=alice.headers), 404)
    problem(await client.get(f"/api/v1/sleep/records/{uuid.uuid4()}", headers=alice.headers), 404)
    assert (
        await client.get(f"/api/v1/sleep/records/{record_id}", headers=bob.headers)
    ).status_code == 200
    problem(await client.get("/api/v1/sleep/records"), 401)
