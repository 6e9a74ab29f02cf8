"""Rows stored before the input windows existed (inserted here with SQL) never break a read or
a later write through HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from rhythm.platform.resources import Resources
from tests.factories import create_user

NOW = datetime.now(UTC).replace(microsecond=0)

# PostgreSQL values outside the windows: ±infinity (asyncpg reads them as naive datetimes),
# year 1 and 9999 (any time-zone conversion overflows), and a year Python cannot represent.
EXTREMES = [
    ("-infinity", "-infinity"),
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
    ("9999-12-31T20:00:00Z", "9999-12-31T23:00:00Z"),
    ("20000-01-01T00:00:00Z", "20000-01-01T01:00:00Z"),
    ("-infinity", "infinity"),
]
# Sleep and focus rows end after they start, at most a day later (CHECK constraints that
# PostgreSQL cannot evaluate on infinite values); an open night may start at -infinity.
NIGHTS = [
    ("0001-01-01T00:00:00Z", "0001-01-01T01:00:00Z"),
    ("9999-12-31T20:00:00Z", "9999-12-31T23:00:00Z"),
    ("20000-01-01T00:00:00Z", "20000-01-01T01:00:00Z"),
]


async def _sql(app, statement: str, **params) -> None:  # type: ignore[no-untyped-def]
    async with app.state.services[Resources].session_factory() as session:
        await session.execute(text(statement), params)
        await session.commit()


@pytest.mark.parametrize(("start", "end"), EXTREMES)
async def test_usage_rows_out_of_range(app, client: AsyncClient, start: str, end: str) -> None:
    user = await create_user(app, timezone="America/New_York")
    first = {"timestamp": (NOW - timedelta(hours=1)).isoformat(), "app": "Editor"}
    sent = await client.post("/api/v1/usage/heartbeats", json=first, headers=user.headers)
    assert sent.status_code == 202, sent.text
    await _sql(
        app,
        "INSERT INTO usage_events (bucket_pk, user_id, starts_at, ends_at, data, app)"
        " SELECT id, user_id, CAST(CAST(:s AS text) AS timestamptz),"
        " CAST(CAST(:e AS text) AS timestamptz),"
        " '{\"app\": \"Old\"}', 'Old' FROM usage_buckets WHERE user_id = :u",
        s=start,
        e=end,
        u=user.id,
    )
    # Later writes to the source, single and bulk.
    beat = {"timestamp": NOW.isoformat(), "app": "Editor"}
    again = await client.post("/api/v1/usage/heartbeats", json=beat, headers=user.headers)
    assert again.status_code == 202, again.text
    bulk = await client.post("/api/v1/usage/heartbeats/bulk", json=[beat], headers=user.headers)
    assert bulk.status_code == 202, bulk.text
    # Reads over every window.
    listed = await client.get("/api/v1/usage/intervals", headers=user.headers)
    assert listed.status_code == 200, listed.text
    for found in listed.json()["data"]:
        assert "1970-01-01" <= found["start"] <= found["end"] <= "2200-01-01T00:00:00Z"
    for params in (
        {"from": "1970-01-01T00:00:00Z", "to": "2199-12-31T00:00:00Z"},
        {"date": NOW.date().isoformat()},
        {"date": "1970-01-01", "timezone": "Pacific/Kiritimati"},
        {"date": "2199-12-31", "timezone": "Pacific/Pago_Pago"},
    ):
        path = "/api/v1/usage/intervals" if "from" in params else "/api/v1/usage/report"
        read = await client.get(path, params=params, headers=user.headers)
        assert read.status_code == 200, read.text
        if "date" in params:
            shown = await client.get("/api/v1/usage/timeline", params=params, headers=user.headers)
            assert shown.status_code == 200, shown.text


@pytest.mark.parametrize(("start", "end"), EXTREMES)
async def test_aw_rows_out_of_range(app, client: AsyncClient, start: str, end: str) -> None:
    user = await create_user(app)
    key = await client.post("/api/v1/auth/api-keys", json={"name": "aw"}, headers=user.headers)
    headers = {"Authorization": f"Bearer {key.json()['key']}"}
    made = await client.post(
        "/api/0/buckets/w", json={"type": "currentwindow", "hostname": "h"}, headers=headers
    )
    assert made.status_code == 200, made.text
    await _sql(
        app,
        "INSERT INTO usage_events (bucket_pk, user_id, starts_at, ends_at, data)"
        " SELECT id, user_id, CAST(CAST(:s AS text) AS timestamptz),"
        " CAST(CAST(:e AS text) AS timestamptz), '{}'"
        " FROM usage_buckets WHERE user_id = :u",
        s=start,
        e=end,
        u=user.id,
    )
    event = {"timestamp": NOW.isoformat(), "duration": 1, "data": {"app": "a"}}
    beat = await client.post("/api/0/buckets/w/heartbeat?pulsetime=5", json=event, headers=headers)
    assert beat.status_code == 200, beat.text
    later = {**event, "timestamp": (NOW - timedelta(minutes=30)).isoformat()}
    late = await client.post("/api/0/buckets/w/heartbeat?pulsetime=5", json=later, headers=headers)
    assert late.status_code == 200, late.text
    events = await client.get("/api/0/buckets/w/events", headers=headers)
    assert events.status_code == 200, events.text
    assert len(events.json()) >= 2
    window = await client.get(
        "/api/0/buckets/w/events",
        params={"start": "1970-01-01T00:00:00Z", "end": "2199-01-01T00:00:00Z"},
        headers=headers,
    )
    assert window.status_code == 200, window.text


@pytest.mark.parametrize(("start", "end"), [*NIGHTS, ("-infinity", None)])
async def test_sleep_rows_out_of_range(
    app, client: AsyncClient, start: str, end: str | None
) -> None:
    user = await create_user(app, timezone="Asia/Tokyo")
    friend = await create_user(app, timezone="America/New_York")
    follow = await client.put(f"/api/v1/users/me/following/{user.id}", headers=friend.headers)
    assert follow.status_code in (200, 201, 204), follow.text
    await _sql(
        app,
        "INSERT INTO sleep_records (id, user_id, sleep_at, wake_at, sleep_timezone,"
        " wake_timezone, duration_seconds, week) VALUES (gen_random_uuid(), :u,"
        " CAST(CAST(:s AS text) AS timestamptz), CAST(CAST(:e AS text) AS timestamptz),"
        " 'Asia/Tokyo', CASE WHEN :e IS NULL THEN NULL ELSE 'America/New_York' END,"
        " CASE WHEN :e IS NULL THEN NULL ELSE 3600 END, '2026-W01')",
        s=start,
        e=end,
        u=user.id,
    )
    for path in ("/api/v1/sleep/records", "/api/v1/sleep/rankings/weekly?week=2026-W01"):
        read = await client.get(path, headers=user.headers)
        assert read.status_code == 200, read.text
    feed = await client.get("/api/v1/sleep/following?week=2026-W01", headers=friend.headers)
    assert feed.status_code == 200, feed.text
    night = {
        "sleep_at": (NOW - timedelta(hours=8)).isoformat(),
        "wake_at": (NOW - timedelta(hours=1)).isoformat(),
    }
    written = await client.post("/api/v1/sleep/records", json=night, headers=user.headers)
    assert written.status_code in (201, 409), written.text
    clock_in = await client.post("/api/v1/sleep/clock-in", json={}, headers=user.headers)
    assert clock_in.status_code in (201, 409), clock_in.text
    # A clean answer, never a 500: the open night of -infinity is more than a day old (422);
    # a night stored in 9999 reads as ending in 2200, so a new bedtime overlaps it (409) until
    # the record is deleted.
    clock_out = await client.post("/api/v1/sleep/clock-out", json={}, headers=user.headers)
    assert clock_out.status_code in (200, 409, 422), clock_out.text
    records = await client.get("/api/v1/sleep/records", headers=user.headers)
    for record in records.json()["data"]:
        assert "1970-01-01" <= record["sleep_at"] <= "2200-01-01T00:00:00Z"
        deleted = await client.delete(f"/api/v1/sleep/records/{record['id']}", headers=user.headers)
        assert deleted.status_code == 204, deleted.text
    again = await client.post("/api/v1/sleep/clock-in", json={}, headers=user.headers)
    assert again.status_code == 201, again.text
    for path in ("/api/v1/sleep/records", "/api/v1/sleep/rankings/weekly"):
        read = await client.get(path, headers=user.headers)
        assert read.status_code == 200, read.text


@pytest.mark.parametrize(("start", "end"), NIGHTS)
async def test_focus_rows_out_of_range(app, client: AsyncClient, start: str, end: str) -> None:
    user = await create_user(app, timezone="America/New_York")
    await _sql(
        app,
        "INSERT INTO focus_sessions (id, user_id, session_id, started_at, ended_at, timezone,"
        " response) VALUES (gen_random_uuid(), :u, 'old', CAST(CAST(:s AS text) AS timestamptz),"
        " CAST(CAST(:e AS text) AS timestamptz), 'Asia/Tokyo', '{}')",
        s=start,
        e=end,
        u=user.id,
    )
    listed = await client.get("/api/v1/focus/sessions", headers=user.headers)
    assert listed.status_code == 200, listed.text
    body = {
        "session_id": "new",
        "started_at": (NOW - timedelta(hours=2)).isoformat(),
        "ended_at": (NOW - timedelta(hours=1)).isoformat(),
        "timezone": "America/New_York",
    }
    recorded = await client.post("/api/v1/focus/sessions", json=body, headers=user.headers)
    assert recorded.status_code == 201, recorded.text
    for path in (
        "/api/v1/focus/sessions",
        f"/api/v1/users/{user.id}/streak",
        "/api/v1/focus/leaderboard",
        f"/api/v1/focus/days?from={NOW.date()}&to={NOW.date()}",
    ):
        read = await client.get(path, headers=user.headers)
        assert read.status_code == 200, read.text
