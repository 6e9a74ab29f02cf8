"""WakaTime's API through HTTP: UUID keys, heartbeats (single, bulk, replayed, refused), the
timeout setting, and the reads editor status bars and dashboards use."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text

from rhythm.platform.resources import Resources
from tests.factories import TestUser, create_user, delete_account, problem

BASE = "/api/compat/wakatime/v1/users/current"
ZONE_KIRITIMATI = ZoneInfo("Pacific/Kiritimati")
CLI = "wakatime/v1.90.0 (linux-6.5.0-14-generic-x86_64) go1.21.5 vscode/1.85.1 vscode-wakatime/24"


async def uuid_key(client: AsyncClient, user: TestUser, **extra: Any) -> str:
    response = await client.post(
        "/api/v1/auth/api-keys",
        json={"name": "editor", "format": "uuid", **extra},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def basic(key: str) -> dict[str, str]:
    """What wakatime-cli sends: the key alone, base64-encoded, as Basic credentials."""
    return {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()}


def beat(t: float, **extra: Any) -> dict[str, Any]:
    return {
        "entity": "/home/me/rhythm/app.py",
        "type": "file",
        "category": "coding",
        "time": t,
        "project": "rhythm",
        "branch": "main",
        "language": "Python",
        "is_write": False,
        "lines": 120,
        "lineno": 10,
        "cursorpos": 4,
        "user_agent": CLI,
        "dependencies": ["fastapi"],
        **extra,
    }


async def stored_count(app: FastAPI) -> int:
    async with app.state.services[Resources].engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM editor_heartbeats"))).scalar())


async def test_a_uuid_key_is_a_bare_uuid_v4_checked_like_any_key(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await create_user(app)
    key = await uuid_key(client, user)
    assert uuid.UUID(key).version == 4 and str(uuid.UUID(key)) == key
    listed = (await client.get("/api/v1/auth/api-keys", headers=user.headers)).json()["data"]
    assert [(k["prefix"], k["scopes"]) for k in listed] == [(key[:8], ["usage", "read"])]
    # Bearer and Basic, here and on the rest of the API; the rhk_ keys still work.
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["id"] == str(user.id)
    assert (await client.get(BASE + "/projects", headers=basic(key))).status_code == 200
    upper = basic(key.upper())
    assert (await client.get(BASE + "/projects", headers=upper)).status_code == 200
    old = await client.post("/api/v1/auth/api-keys", json={"name": "w"}, headers=user.headers)
    assert old.json()["key"].startswith("rhk_")
    got = await client.get(BASE + "/projects", headers=basic(old.json()["key"]))
    assert got.status_code == 200
    # Revoked: refused at once.
    key_id = next(k["id"] for k in listed)
    revoked = await client.delete(f"/api/v1/auth/api-keys/{key_id}", headers=user.headers)
    assert revoked.status_code == 204
    problem(await client.get(BASE + "/projects", headers=basic(key)), 401)
    problem(await client.get(BASE + "/projects", headers=basic(str(uuid.uuid4()))), 401)
    problem(await client.get(BASE + "/projects"), 401)
    bad = await client.post(
        "/api/v1/auth/api-keys", json={"name": "k", "format": "guid"}, headers=user.headers
    )
    problem(bad, 422)


async def test_bulk_answers_one_pair_per_heartbeat_and_a_replay_changes_nothing(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await create_user(app)
    headers = {**basic(await uuid_key(client, user)), "X-Machine-Name": "laptop"}
    now = time.time()
    body = [beat(now - 300), beat(now - 240.5, is_write=True), beat(now - 120, type="app")]
    sent = await client.post(BASE + "/heartbeats.bulk", json=body, headers=headers)
    assert sent.status_code == 202, sent.text
    responses = sent.json()["responses"]
    assert [status for _, status in responses] == [201, 201, 201]
    first = responses[1][0]["data"]
    assert first["time"] == now - 240.5 and first["is_write"] is True
    assert first["machine_name"] == "laptop" and first["project"] == "rhythm"
    assert await stored_count(app) == 3
    again = await client.post(BASE + "/heartbeats.bulk", json=body, headers=headers)
    assert again.json() == sent.json()
    assert await stored_count(app) == 3
    # The same heartbeat twice in one request: stored once.
    twice = await client.post(BASE + "/heartbeats.bulk", json=[body[0], body[0]], headers=headers)
    assert [s for _, s in twice.json()["responses"]] == [201, 201]
    assert await stored_count(app) == 3
    # Another machine's identical heartbeat is another heartbeat.
    other = {**headers, "X-Machine-Name": "desktop"}
    await client.post(BASE + "/heartbeats.bulk", json=body[:1], headers=other)
    assert await stored_count(app) == 4
    # The single route, under the user's own id too.
    one = await client.post(
        f"/api/compat/wakatime/v1/users/{user.id}/heartbeats", json=beat(now - 60), headers=headers
    )
    assert one.status_code == 201, one.text
    assert one.json()["data"]["entity"] == "/home/me/rhythm/app.py"
    assert await stored_count(app) == 5


async def test_bad_heartbeats_are_refused_each_on_its_own_and_never_500(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await create_user(app)
    headers = basic(await uuid_key(client, user))
    now = time.time()
    bad: list[dict[str, Any]] = [
        beat(now + 3600),  # ahead of the window
        beat(-1),
        beat(now, entity=""),
        beat(now, entity="x" * 2049),
        beat(now, type="folder"),
        beat(now, category="Coding!"),
        beat(now, project="p" * 257),
        beat(now, lines=-1),
        beat(now, lineno=2**31),
        beat(now, entity="a\x00b"),
        beat(now, branch="a\nb"),
        beat(now, time="soon"),
        beat(now, time=True),
        beat(now, time=1e308),
        beat(now, is_write="maybe"),
        beat(now, lines=1.5),
        beat(now, dependencies=["d" * 1025]),
        beat(now, user_agent="u" * 513),
        {"time": now},
    ]
    body = [beat(now - 10), *bad]
    sent = await client.post(BASE + "/heartbeats.bulk", json=body, headers=headers)
    assert sent.status_code == 202, sent.text
    statuses = [status for _, status in sent.json()["responses"]]
    assert statuses == [201] + [400] * len(bad)
    refused = sent.json()["responses"][1][0]
    assert refused["errors"][0]["field"] == "1.time"
    assert await stored_count(app) == 1
    # Non-finite numbers (Python's json reads NaN): refused, never a 500.
    nan = await client.post(
        BASE + "/heartbeats",
        content=b'{"entity": "a", "time": NaN}',
        headers={**headers, "Content-Type": "application/json"},
    )
    problem(nan, 422)
    problem(await client.post(BASE + "/heartbeats", json=beat(now + 3600), headers=headers), 422)
    problem(await client.post(BASE + "/heartbeats.bulk", json=[], headers=headers), 422)
    problem(await client.post(BASE + "/heartbeats.bulk", json={"a": 1}, headers=headers), 422)
    too_many = [beat(now)] * 1001
    problem(await client.post(BASE + "/heartbeats.bulk", json=too_many, headers=headers), 422)
    machine = {**headers, "X-Machine-Name": "m" * 257}
    problem(await client.post(BASE + "/heartbeats", json=beat(now), headers=machine), 422)


async def test_another_users_id_is_404(app: FastAPI, client: AsyncClient) -> None:
    user, other = await create_user(app), await create_user(app)
    headers = basic(await uuid_key(client, user))
    path = f"/api/compat/wakatime/v1/users/{other.id}"
    problem(await client.post(path + "/heartbeats", json=beat(time.time()), headers=headers), 404)
    problem(await client.get(path + "/statusbar/today", headers=headers), 404)
    problem(await client.get(path + "/projects", headers=headers), 404)
    assert await stored_count(app) == 0


async def test_a_key_without_usage_cannot_send_and_without_read_cannot_read(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await create_user(app)
    reader = basic(await uuid_key(client, user, scopes=["read"]))
    sender = basic(await uuid_key(client, user, scopes=["usage"]))
    problem(await client.post(BASE + "/heartbeats", json=beat(time.time()), headers=reader), 403)
    problem(await client.get(BASE + "/statusbar/today", headers=sender), 403)
    assert (await client.get(BASE + "/statusbar/today", headers=reader)).status_code == 200


async def send(client: AsyncClient, headers: dict[str, str], *beats: dict[str, Any]) -> None:
    sent = await client.post(BASE + "/heartbeats.bulk", json=list(beats), headers=headers)
    assert [s for _, s in sent.json()["responses"]] == [201] * len(beats), sent.text


async def test_statusbar_counts_today_in_the_users_time_zone(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await create_user(app, timezone="Pacific/Kiritimati")  # UTC+14
    headers = basic(await uuid_key(client, user))
    now = time.time()
    # Ten minutes of coding and five of debugging, just now; a lone heartbeat counts nothing.
    await send(
        client,
        headers,
        beat(now - 900),
        beat(now - 600, language="Go"),
        beat(now - 300, category="debugging"),
        beat(now),
    )
    got = await client.get(BASE + "/statusbar/today", headers=headers)
    assert got.status_code == 200, got.text
    data = got.json()["data"]
    local_today = datetime.now(UTC).astimezone(ZONE_KIRITIMATI).date()
    if datetime.fromtimestamp(now - 900, UTC).astimezone(ZONE_KIRITIMATI).date() != local_today:
        return  # the heartbeats straddle local midnight: the split is tested elsewhere
    assert data["grand_total"]["total_seconds"] == 900
    assert data["grand_total"]["text"] == "15 mins"
    assert data["grand_total"]["digital"] == "0:15"
    assert data["range"]["date"] == local_today.isoformat()
    assert data["range"]["timezone"] == "Pacific/Kiritimati"
    assert [(c["name"], c["total_seconds"]) for c in data["categories"]] == [
        ("Coding", 600),
        ("Debugging", 300),
    ]
    assert [(e["name"], e["total_seconds"]) for e in data["editors"]] == [("VS Code", 900)]
    assert [(e["name"], e["percent"]) for e in data["languages"]] == [
        ("Python", 66.67),
        ("Go", 33.33),
    ]
    assert data["operating_systems"][0]["name"] == "Linux"
    assert "branches" not in data


async def test_summaries_split_days_at_local_midnight_and_follow_the_timeout_setting(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await create_user(app, timezone="Europe/Paris")  # UTC+1 in November
    key = await uuid_key(client, user)
    headers = {**basic(key), "X-Machine-Name": "laptop"}
    # 2026-11-09 23:50 to 2026-11-10 00:20 Paris time, a beat every 10 minutes; then, after a
    # 20-minute gap, 10 more minutes on another project.
    midnight = datetime(2026, 11, 9, 23, 0, tzinfo=UTC).timestamp()
    beats = [beat(midnight - 600 + i * 600) for i in range(4)]
    beats += [
        beat(midnight + 2400 + i * 300, project="bench", branch="perf", language="Go")
        for i in range(3)
    ]
    await send(client, headers, *beats)
    params = {"start": "2026-11-09", "end": "2026-11-10"}
    got = await client.get(BASE + "/summaries", params=params, headers=headers)
    assert got.status_code == 200, got.text
    body = got.json()
    first, second = body["data"]
    assert first["range"]["date"] == "2026-11-09" and first["grand_total"]["total_seconds"] == 600
    assert second["grand_total"]["total_seconds"] == 1200 + 600
    assert [(p["name"], p["total_seconds"]) for p in second["projects"]] == [
        ("rhythm", 1200),
        ("bench", 600),
    ]
    assert [(m["name"], m["total_seconds"]) for m in second["machines"]] == [("laptop", 1800)]
    assert second["editors"][0]["name"] == "VS Code" and second["dependencies"] == []
    assert body["cumulative_total"]["seconds"] == 2400
    assert body["cumulative_total"]["text"] == "40 mins"
    assert body["daily_average"]["seconds"] == 1200
    assert body["start"].startswith("2026-11-08T23:00:00")
    # One project: its branches and files too.
    one = await client.get(
        BASE + "/summaries", params={**params, "project": "bench"}, headers=headers
    )
    (_, bench) = one.json()["data"]
    assert bench["grand_total"]["total_seconds"] == 600
    assert [(b["name"], b["total_seconds"]) for b in bench["branches"]] == [("perf", 600)]
    assert bench["entities"][0]["name"] == "/home/me/rhythm/app.py"
    # A 30-minute timeout joins the 20-minute gap, for every day at once.
    settings = await client.get("/api/v1/editors/settings", headers=user.headers)
    assert settings.json() == {"timeout_minutes": 15}
    changed = await client.put(
        "/api/v1/editors/settings", json={"timeout_minutes": 30}, headers=user.headers
    )
    assert changed.json() == {"timeout_minutes": 30}
    got = await client.get(BASE + "/summaries", params=params, headers=headers)
    assert got.json()["cumulative_total"]["seconds"] == 2400 + 1200
    for wrong in (0, 121, "15", 1.5, None):
        bad = await client.put(
            "/api/v1/editors/settings", json={"timeout_minutes": wrong}, headers=user.headers
        )
        problem(bad, 422)
    # Everything before today; and the projects, the latest used first.
    total = (await client.get(BASE + "/all_time_since_today", headers=headers)).json()["data"]
    assert total["total_seconds"] == 3600 and total["timeout"] == 30
    assert total["text"] == "1 hr" and total["range"]["start_date"] == "2026-11-09"
    listed = (await client.get(BASE + "/projects", headers=headers)).json()["data"]
    assert [p["name"] for p in listed] == ["bench", "rhythm"]
    assert listed[0]["urlencoded_name"] == "bench"


async def test_summaries_ranges_are_bounded(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app)
    headers = basic(await uuid_key(client, user))
    today = date.today()
    good = await client.get(
        BASE + "/summaries", params={"start": "today", "end": "today"}, headers=headers
    )
    assert good.status_code == 200 and len(good.json()["data"]) == 1
    assert good.json()["data"][0]["grand_total"]["text"] == "0 secs"
    year = (today - timedelta(days=365)).isoformat()
    wide = await client.get(
        BASE + "/summaries", params={"start": year, "end": "today"}, headers=headers
    )
    assert wide.status_code == 200 and len(wide.json()["data"]) == 366
    for params in (
        {"start": "2024-01-01", "end": "2025-01-02"},  # 368 days
        {"start": "2026-11-10", "end": "2026-11-09"},
        {"start": "2026-02-30", "end": "2026-03-01"},
        {"start": "0001-01-01", "end": "0001-01-02"},
        {"start": "tomorrow", "end": "today"},
        {"start": "xtodayx", "end": "today"},
        {"start": "2026-11-10T00", "end": "today"},
        {"start": "today"},
        {"start": "today", "end": "today", "timezone": "Mars/Olympus"},
    ):
        problem(await client.get(BASE + "/summaries", params=params, headers=headers), 422)


async def test_an_erased_account_takes_its_editor_time_with_it(
    app: FastAPI, client: AsyncClient
) -> None:
    user, other = await create_user(app), await create_user(app)
    await send(client, basic(await uuid_key(client, user)), beat(time.time() - 5))
    await send(client, basic(await uuid_key(client, other)), beat(time.time() - 5))
    await client.put("/api/v1/editors/settings", json={"timeout_minutes": 5}, headers=user.headers)
    assert (await delete_account(client, user)).status_code == 204
    assert await stored_count(app) == 1
    async with app.state.services[Resources].engine.connect() as conn:
        settings = await conn.execute(text("SELECT count(*) FROM editor_settings"))
        assert settings.scalar() == 0
