"""GET /users/me/export and POST /users/me/import through HTTP: an account's data out as JSON
Lines (or a ZIP of CSVs) and back into a fresh account, equal apart from ids and the account's
own identity; refusals that name their line, all or nothing; a device session only."""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text

from rhythm.platform.resources import Resources
from rhythm.portability.kinds import KINDS
from tests.factories import TestUser, create_user, problem

NOW = datetime.now(UTC).replace(microsecond=0)
NDJSON = {"Content-Type": "application/x-ndjson"}
# Identity: who the account is (its profile's email and creation time, its keys) and who follows
# it or asks to are the exported account's own; an import applies the profile's name, timezone
# and visibility only.
IDENTITY = {"api_key", "follower", "follow_request_received"}


def iso(at: datetime) -> str:
    return at.isoformat()


async def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response


async def key_of(client: AsyncClient, user: TestUser, **body: Any) -> str:
    created = await ok(
        await client.post(
            "/api/v1/auth/api-keys", json={"name": "tracker", **body}, headers=user.headers
        ),
        201,
    )
    key: str = created.json()["key"]
    return key


async def fill(app: FastAPI, client: AsyncClient, user: TestUser) -> list[TestUser]:
    """Some of everything an account can own; the accounts it follows or is followed by."""
    h = user.headers
    await ok(
        await client.patch(
            "/api/v1/users/me", json={"name": "Ada Export", "timezone": "Europe/Paris"}, headers=h
        )
    )
    others = [await create_user(app, name=f"Friend {i}") for i in range(6)]
    for friend in others[:2]:
        await ok(await client.put(f"/api/v1/users/me/following/{friend.id}", headers=h), 201)
    await ok(
        await client.put(f"/api/v1/users/me/following/{user.id}", headers=others[2].headers), 201
    )
    # Privacy: a block, a request to a private account, and (once private itself) a request
    # to follow the account.
    await ok(await client.put(f"/api/v1/users/me/blocks/{others[3].id}", headers=h), 201)
    await ok(
        await client.patch(
            "/api/v1/users/me", json={"visibility": "private"}, headers=others[4].headers
        )
    )
    await ok(await client.put(f"/api/v1/users/me/following/{others[4].id}", headers=h), 202)
    await ok(await client.patch("/api/v1/users/me", json={"visibility": "private"}, headers=h))
    await ok(
        await client.put(f"/api/v1/users/me/following/{user.id}", headers=others[5].headers), 202
    )
    key = await key_of(client, user, scopes=["usage", "read", "write"])
    # Sleep: two completed nights (one with microseconds) and the open one.
    for days, hours in ((3, 7.5), (2, 8.25)):
        bed = NOW - timedelta(days=days, hours=2, microseconds=-1234 * days)
        body = {
            "sleep_at": iso(bed),
            "wake_at": iso(bed + timedelta(hours=hours)),
            "sleep_timezone": "Europe/Paris",
            "wake_timezone": "America/New_York",
            # The owner's private notes on the night go with it.
            **({"rating": 4, "tags": ["late", "café"], "note": "Slept well."} if days == 3 else {}),
        }
        await ok(await client.post("/api/v1/sleep/records", json=body, headers=h), 201)
    await ok(
        await client.post(
            "/api/v1/sleep/clock-in", json={"at": iso(NOW - timedelta(hours=1))}, headers=h
        ),
        201,
    )
    # Focus: two sessions, one across midnight in its zone.
    for i, (start, minutes, zone) in enumerate(
        (
            (NOW - timedelta(days=1, hours=3), 50, "Asia/Tokyo"),
            (NOW - timedelta(hours=5), 25, "UTC"),
        )
    ):
        body = {
            "session_id": f"desk-{i}",
            "started_at": iso(start),
            "ended_at": iso(start + timedelta(minutes=minutes)),
            "timezone": zone,
        }
        await ok(await client.post("/api/v1/focus/sessions", json=body, headers=h), 201)
    # Usage: window heartbeats (merged into intervals), AFK status, an ActivityWatch bucket
    # with events of its own data, and a category rule of the user's.
    for i, app_name in enumerate(["Editor", "Editor", "Browser"]):
        beat = {
            "timestamp": iso(NOW - timedelta(minutes=30 - i, microseconds=-7)),
            "duration": 20,
            "app": app_name,
            "title": f"Window {i} — ünïcode",
            "source": "laptop",
        }
        await ok(await client.post("/api/v1/usage/heartbeats", json=beat, headers=h), 202)
    for status, minutes in (("not-afk", 40), ("afk", 20)):
        beat = {
            "timestamp": iso(NOW - timedelta(minutes=minutes)),
            "duration": 60,
            "status": status,
            "host": "laptop",
        }
        await ok(await client.post("/api/v1/usage/afk", json=beat, headers=h), 202)
    aw = {"Authorization": f"Bearer {key}"}
    bucket = "/api/0/buckets/aw-watcher-web_laptop"
    await ok(
        await client.post(
            bucket,
            json={"type": "web.tab.current", "client": "aw-watcher-web", "hostname": "laptop"},
            headers=aw,
        )
    )
    events = [
        {
            "timestamp": iso(NOW - timedelta(minutes=m)),
            "duration": 30.5,
            "data": {
                "url": f"https://example.org/{m}",
                "title": "Page",
                "tabCount": m,
                "audible": False,
            },
        }
        for m in (10, 9, 8)
    ]
    await ok(await client.post(bucket + "/events", json=events, headers=aw))
    rule = {
        "name": ["Work", "Writing"],
        "rule": {"type": "regex", "regex": "Editor|Docs", "ignore_case": True},
    }
    await ok(await client.post("/api/v1/usage/categories", json=rule, headers=h), 201)
    # Editor time: two heartbeats from a WakaTime client, and the settings.
    waka = {
        "Authorization": "Basic "
        + base64.b64encode((await key_of(client, user, format="uuid")).encode()).decode(),
        "X-Machine-Name": "laptop",
    }
    beats = [
        {
            "entity": "/home/ada/rhythm/app.py",
            "type": "file",
            "time": (NOW - timedelta(minutes=m)).timestamp() + 0.123456,
            "project": "rhythm",
            "language": "Python",
            "is_write": m == 3,
            "lines": 120,
            "user_agent": "wakatime/v1.90.0 (linux) go1.21.5 vscode/1.85.1 vscode-wakatime/24",
        }
        for m in (5, 3)
    ]
    await ok(
        await client.post(
            "/api/compat/wakatime/v1/users/current/heartbeats.bulk", json=beats, headers=waka
        ),
        202,
    )
    await ok(await client.put("/api/v1/editors/settings", json={"timeout_minutes": 7}, headers=h))
    return others


async def export(client: AsyncClient, user: TestUser) -> list[dict[str, Any]]:
    response = await ok(await client.get("/api/v1/users/me/export", headers=user.headers))
    assert response.headers["content-type"] == "application/x-ndjson"
    assert "attachment" in response.headers["content-disposition"]
    return [json.loads(line) for line in response.text.splitlines()]


def comparable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = [dict(r) for r in records if r["kind"] not in IDENTITY]
    for record in kept:
        if record["kind"] == "profile":
            del record["email"], record["created_at"]
    return kept


async def import_(client: AsyncClient, user: TestUser, body: bytes | str) -> Any:
    return await client.post(
        "/api/v1/users/me/import",
        content=body.encode() if isinstance(body, str) else body,
        headers={**user.headers, **NDJSON},
    )


def ndjson(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


async def test_round_trip_into_a_fresh_account(app: FastAPI, client: AsyncClient) -> None:
    ada = await create_user(app, name="Ada")
    others = await fill(app, client, ada)
    first = await export(client, ada)
    kinds = [r["kind"] for r in first]
    assert kinds[0] == "export" and first[0] == {"kind": "export", "version": 1}
    # Grouped by kind, in the table's order, every kind this account has.
    order = ["export", *(k.name for k in KINDS)]
    assert kinds == sorted(kinds, key=order.index)
    counts = {k: kinds.count(k) for k in set(kinds)}
    assert counts == {
        "export": 1,
        "profile": 1,
        "api_key": 2,
        "block": 1,
        "following": 2,
        "follower": 1,
        "follow_request": 1,
        "follow_request_received": 1,
        "sleep_night": 3,
        "focus_session": 2,
        "usage_bucket": 3,
        "usage_interval": counts["usage_interval"],
        "category_rule": counts["category_rule"],
        "editor_settings": 1,
        "editor_heartbeat": 2,
    }
    assert counts["usage_interval"] >= 6 and counts["category_rule"] > 1
    body = json.dumps(first)
    assert "rhk_" not in body.replace(first[2]["prefix"], "")  # no secret, only prefixes
    assert {r["user_id"] for r in first if r["kind"] == "following"} == {
        str(o.id) for o in others[:2]
    }
    assert [r["user_id"] for r in first if r["kind"] == "follower"] == [str(others[2].id)]
    assert [r["user_id"] for r in first if r["kind"] == "block"] == [str(others[3].id)]
    assert [r["user_id"] for r in first if r["kind"] == "follow_request"] == [str(others[4].id)]
    received = [r["user_id"] for r in first if r["kind"] == "follow_request_received"]
    assert received == [str(others[5].id)]
    assert next(r for r in first if r["kind"] == "profile")["visibility"] == "private"
    noted = [r for r in first if r["kind"] == "sleep_night" and r["rating"] is not None]
    assert [(r["rating"], r["tags"], r["note"]) for r in noted] == [
        (4, ["late", "café"], "Slept well.")
    ]

    fresh = await create_user(app, name="Fresh")
    answer = (
        await ok(
            await import_(client, fresh, "".join(line + "\n" for line in map(json.dumps, first)))
        )
    ).json()
    assert answer["imported"]["sleep_night"] == 3
    assert answer["imported"]["usage_interval"] == counts["usage_interval"]
    assert answer["imported"]["following"] == 2
    assert (answer["imported"]["block"], answer["imported"]["follow_request"]) == (1, 1)
    assert answer["skipped"] == {
        k.name: {"api_key": 2, "follower": 1, "follow_request_received": 1}.get(k.name, 0)
        for k in KINDS
    }
    assert set(answer["imported"]) == {k.name for k in KINDS}

    second = await export(client, fresh)
    assert comparable(second) == comparable(first)
    profile = next(r for r in second if r["kind"] == "profile")
    assert (profile["name"], profile["timezone"]) == ("Ada Export", "Europe/Paris")
    assert profile["email"] == fresh.email
    assert not [r for r in second if r["kind"] in IDENTITY]

    # What the contexts serve from the imported data agrees too.
    for path in (
        "/api/v1/sleep/records",
        "/api/v1/focus/sessions",
        "/api/v1/usage/categories",
        "/api/v1/editors/settings",
        "/api/v1/users/me/following",
        "/api/v1/users/me/follow-requests/sent",
        "/api/v1/users/me/blocks",
    ):
        mine = (await client.get(path, headers=ada.headers)).json()
        theirs = (await client.get(path, headers=fresh.headers)).json()
        assert strip_ids(theirs) == strip_ids(mine), path
    streak = (await client.get(f"/api/v1/users/{fresh.id}/streak", headers=fresh.headers)).json()
    assert streak["qualified_days_count"] >= 1


def strip_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: strip_ids(v)
            for k, v in value.items()
            if k not in {"id", "user_id", "created_at", "next_cursor"}
        }
    if isinstance(value, list):
        return [strip_ids(v) for v in value]
    return value


async def test_the_csv_zip_holds_one_csv_per_kind(app: FastAPI, client: AsyncClient) -> None:
    ada = await create_user(app)
    await fill(app, client, ada)
    records = await export(client, ada)
    response = await ok(await client.get("/api/v1/users/me/export?format=csv", headers=ada.headers))
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    assert archive.namelist() == [f"{k.name}.csv" for k in KINDS]
    for kind in KINDS:
        rows = list(csv.reader(io.StringIO(archive.read(f"{kind.name}.csv").decode())))
        assert rows[0] == list(kind.columns), kind.name
        expected = [r for r in records if r["kind"] == kind.name]
        assert len(rows) - 1 == len(expected), kind.name
    intervals = list(csv.DictReader(io.StringIO(archive.read("usage_interval.csv").decode())))
    exported = [r for r in records if r["kind"] == "usage_interval"]
    assert [json.loads(row["data"]) for row in intervals] == [r["data"] for r in exported]
    nights = list(csv.DictReader(io.StringIO(archive.read("sleep_night.csv").decode())))
    assert nights[-1]["wake_at"] == ""  # the open night
    assert datetime.fromisoformat(nights[0]["sleep_at"]) == datetime.fromisoformat(
        next(r for r in records if r["kind"] == "sleep_night")["sleep_at"]
    )
    # An account with nothing: every CSV is there, header only.
    empty = await create_user(app)
    archive = zipfile.ZipFile(
        io.BytesIO(
            (
                await client.get(
                    "/api/v1/users/me/export", params={"format": "csv"}, headers=empty.headers
                )
            ).content
        )
    )
    assert len(archive.namelist()) == len(KINDS)
    assert archive.read("sleep_night.csv").decode().splitlines() == [
        ",".join(next(k for k in KINDS if k.name == "sleep_night").columns)
    ]


async def test_a_key_can_neither_export_nor_import(app: FastAPI, client: AsyncClient) -> None:
    ada = await create_user(app)
    key = await key_of(client, ada, scopes=["usage", "read", "write"])
    headers = {"Authorization": f"Bearer {key}"}
    for response in (
        await client.get("/api/v1/users/me/export", headers=headers),
        await client.get("/api/v1/users/me/export?format=csv", headers=headers),
        await client.post("/api/v1/users/me/import", content=b"", headers={**headers, **NDJSON}),
    ):
        assert problem(response, 403)["type"].endswith("/insufficient-scope")
    problem(await client.get("/api/v1/users/me/export"), 401)
    problem(await client.get("/api/v1/users/me/export?format=xml", headers=ada.headers), 422)


NIGHT = {
    "kind": "sleep_night",
    "sleep_at": "2026-01-10T23:00:00+01:00",
    "wake_at": "2026-01-11T07:00:00+01:00",
    "sleep_timezone": "Europe/Paris",
    "wake_timezone": "Europe/Paris",
}


async def refused(client: AsyncClient, user: TestUser, body: str, line: int) -> dict[str, Any]:
    found = problem(await import_(client, user, body), 422)
    assert found["type"].endswith("/invalid-line"), found
    assert found["line"] == line, found
    assert found["detail"].startswith(f"Line {line}"), found
    return found


async def test_a_refused_line_is_a_422_that_names_it(app: FastAPI, client: AsyncClient) -> None:
    ada = await create_user(app)
    header = '{"kind": "export", "version": 1}\n'
    for empty in ("", "\n\n", header):
        assert problem(await import_(client, ada, empty), 422)["errors"][0]["field"] == "body"
    await refused(client, ada, header + "\n{not json\n", 3)
    await refused(client, ada, header + "[1, 2]\n", 2)
    found = await refused(client, ada, header + '{"kind": "dream", "x": 1}\n', 2)
    assert "dream" in found["detail"] and "sleep_night" in found["detail"]
    await refused(client, ada, '{"name": "no kind"}\n', 1)
    bom = (
        b"\xef\xbb\xbf" + header.encode() + b'{"kind": "profile", "name": "Bom", "timezone": "UTC"}'
    )
    assert (await ok(await import_(client, ada, bom))).json()["imported"]["profile"] == 1
    await refused(client, ada, '{"kind": "export", "version": 2}\n', 1)
    # Invalid records, as the API would refuse them.
    backwards = {**NIGHT, "wake_at": "2026-01-10T22:00:00+01:00"}
    found = await refused(client, ada, ndjson([NIGHT, backwards]), 2)
    assert found["kind"] == "sleep_night"
    assert "after bedtime" in found["detail"]
    assert found["errors"][0]["field"] == "line 2.wake_at"
    typo = {**NIGHT, "sleep_timezone": "Mars/Olympus"}
    found = await refused(client, ada, ndjson([typo]), 1)
    assert found["errors"][0]["field"] == "line 1.sleep_timezone"
    unknown = {**NIGHT, "mood": "happy"}
    await refused(client, ada, ndjson([unknown]), 1)
    overlap = {
        **NIGHT,
        "sleep_at": "2026-01-11T06:00:00+01:00",
        "wake_at": "2026-01-11T09:00:00+01:00",
    }
    found = await refused(client, ada, ndjson([NIGHT, overlap]), 2)
    assert "overlaps" in found["detail"]
    # Grouped by kind in the export's order.
    profile = {"kind": "profile", "name": "Ada", "timezone": "UTC"}
    await refused(client, ada, ndjson([NIGHT, profile]), 2)
    too_long = '{"kind": "profile", "name": "' + "x" * (1024 * 1024 + 10) + '"}\n'
    await refused(client, ada, header + too_long, 2)
    await refused(client, ada, ndjson([profile, profile]), 2)
    # An interval needs its bucket first, and never overlaps another of its bucket.
    bucket = {
        "kind": "usage_bucket",
        "name": "w",
        "type": "currentwindow",
        "client": "c",
        "hostname": "h",
        "created_at": "2026-01-01T00:00:00Z",
    }
    interval = {
        "kind": "usage_interval",
        "bucket": "w",
        "start": "2026-01-02T00:00:00Z",
        "end": "2026-01-02T00:01:00Z",
        "data": {"app": "x"},
    }
    await refused(client, ada, ndjson([{**interval, "bucket": "v"}]), 1)
    later = {**interval, "start": "2026-01-02T00:00:30Z", "end": "2026-01-02T00:02:00Z"}
    found = await refused(
        client,
        ada,
        ndjson(
            [
                bucket,
                interval,
                {**interval, "start": "2026-01-03T00:00:00Z", "end": "2026-01-03T00:00:00Z"},
                later,
            ]
        ),
        4,
    )
    assert "overlaps" in found["detail"]
    await refused(client, ada, ndjson([bucket, bucket]), 2)
    # Nothing of all that was stored.
    assert await stored(app, ada) == {}


async def stored(app: FastAPI, user: TestUser) -> dict[str, int]:
    """The account's rows in each table an import writes, where there are any."""
    tables = [
        "sleep_records",
        "focus_sessions",
        "usage_buckets",
        "usage_categories",
        "editor_heartbeats",
        "editor_settings",
    ]
    found = {}
    async with app.state.services[Resources].engine.connect() as conn:
        for table in tables:
            count = (
                await conn.execute(
                    text(f"SELECT count(*) FROM {table} WHERE user_id = :u"), {"u": user.id}
                )
            ).scalar_one()
            if count:
                found[table] = count
        follows = (
            await conn.execute(
                text("SELECT count(*) FROM follows WHERE follower_id = :u"), {"u": user.id}
            )
        ).scalar_one()
    if follows:
        found["follows"] = follows
    return found


async def test_nothing_is_stored_after_a_failure_mid_file(
    app: FastAPI, client: AsyncClient
) -> None:
    ada = await create_user(app, name="Ada")
    await fill(app, client, ada)
    records = await export(client, ada)
    fresh = await create_user(app, name="Fresh", timezone="Asia/Tokyo")
    # The last interval is broken: everything before it was valid, and is not kept either.
    last = max(i for i, r in enumerate(records) if r["kind"] == "usage_interval")
    records[last]["end"] = "1969-01-01T00:00:00Z"
    await refused(client, fresh, ndjson(records), last + 1)
    assert await stored(app, fresh) == {}
    me = (await client.get("/api/v1/users/me", headers=fresh.headers)).json()
    assert (me["name"], me["timezone"]) == ("Fresh", "Asia/Tokyo")
    # The same file, mended, goes in whole.
    records[last]["end"] = records[last]["start"]
    await ok(await import_(client, fresh, ndjson(records)))
    assert (await stored(app, fresh))["sleep_records"] == 3


async def test_an_account_with_data_of_a_kind_is_a_409(app: FastAPI, client: AsyncClient) -> None:
    ada = await create_user(app)
    await ok(
        await client.post(
            "/api/v1/sleep/records",
            json={k: v for k, v in NIGHT.items() if k != "kind"},
            headers=ada.headers,
        ),
        201,
    )
    later = {
        **NIGHT,
        "sleep_at": "2026-02-10T23:00:00+01:00",
        "wake_at": "2026-02-11T07:00:00+01:00",
    }
    profile = {"kind": "profile", "name": "Renamed", "timezone": "UTC"}
    found = problem(await import_(client, ada, ndjson([profile, later])), 409)
    assert found["type"].endswith("/account-not-empty")
    assert "already has sleep nights" in found["detail"] and found["line"] == 2
    assert (await client.get("/api/v1/users/me", headers=ada.headers)).json()["name"] != "Renamed"
    # Kinds the account has none of still go in; the defaults' category rules are replaced.
    await ok(await client.get("/api/v1/usage/categories", headers=ada.headers))  # seeds them
    rule = {
        "kind": "category_rule",
        "name": ["Mine"],
        "rule": {"type": "none", "regex": None, "ignore_case": False},
    }
    answer = (await ok(await import_(client, ada, ndjson([profile, rule])))).json()
    assert answer["imported"]["category_rule"] == 1
    listed = (await client.get("/api/v1/usage/categories", headers=ada.headers)).json()
    assert [c["name"] for c in listed] == [["Mine"]]
    found = problem(await import_(client, ada, ndjson([rule])), 409)
    assert "category rules" in found["detail"]


async def test_follows_come_back_only_where_the_account_still_exists(
    app: FastAPI, client: AsyncClient
) -> None:
    ada = await create_user(app)
    gone = await create_user(app)
    here = await create_user(app)
    records = [
        {
            "kind": "following",
            "user_id": str(gone.id),
            "name": "Gone",
            "followed_at": "2025-01-01T00:00:00Z",
        },
        {
            "kind": "following",
            "user_id": str(here.id),
            "name": "Here",
            "followed_at": "2025-02-01T00:00:00Z",
        },
        {
            "kind": "following",
            "user_id": str(ada.id),
            "name": "Self",
            "followed_at": "2025-03-01T00:00:00Z",
        },
        {
            "kind": "follower",
            "user_id": str(here.id),
            "name": "Here",
            "followed_at": "2025-02-01T00:00:00Z",
        },
    ]
    await ok(
        await client.request(
            "DELETE",
            "/api/v1/users/me",
            json={"password": "correct horse battery"},
            headers=gone.headers,
        ),
        204,
    )
    answer = (await ok(await import_(client, ada, ndjson(records)))).json()
    assert (answer["imported"]["following"], answer["skipped"]["following"]) == (1, 2)
    assert answer["skipped"]["follower"] == 1
    following = (await client.get("/api/v1/users/me/following", headers=ada.headers)).json()["data"]
    assert [(f["id"], f["followed_at"]) for f in following] == [
        (str(here.id), "2025-02-01T00:00:00Z")
    ]
    # The follower's own follow is theirs to make.
    assert (await client.get("/api/v1/users/me/followers", headers=ada.headers)).json()[
        "data"
    ] == []


async def test_follows_requests_and_blocks_come_back_as_their_accounts_allow(
    app: FastAPI, client: AsyncClient
) -> None:
    """A follow comes back where the account is public; a pending request is asked again of a
    private account and is a follow of a public one; nothing is made towards an account a
    block stands between; blocks come back, and sever what they must."""
    ada = await create_user(app)
    public, private, blocker, blocked, gone = [await create_user(app) for _ in range(5)]
    await ok(
        await client.patch(
            "/api/v1/users/me", json={"visibility": "private"}, headers=private.headers
        )
    )
    await ok(await client.put(f"/api/v1/users/me/blocks/{ada.id}", headers=blocker.headers), 201)
    # The account to be blocked follows Ada already: the imported block ends that.
    await ok(await client.put(f"/api/v1/users/me/following/{ada.id}", headers=blocked.headers), 201)
    await ok(
        await client.request(
            "DELETE",
            "/api/v1/users/me",
            json={"password": "correct horse battery"},
            headers=gone.headers,
        ),
        204,
    )

    def pair(kind: str, user: TestUser, at: str) -> dict[str, Any]:
        field = {"block": "blocked_at", "following": "followed_at"}.get(kind, "requested_at")
        return {"kind": kind, "user_id": str(user.id), "name": "Someone", field: at}

    records = [
        pair("block", blocked, "2025-01-01T00:00:00Z"),
        pair("block", gone, "2025-01-02T00:00:00Z"),
        pair("following", public, "2025-02-01T00:00:00Z"),
        pair("following", private, "2025-02-02T00:00:00Z"),  # approved for another account
        pair("following", blocker, "2025-02-03T00:00:00Z"),
        pair("following", blocked, "2025-02-04T00:00:00Z"),
        pair("follow_request", private, "2025-03-01T00:00:00Z"),
        pair("follow_request", blocker, "2025-03-02T00:00:00Z"),
    ]
    answer = (await ok(await import_(client, ada, ndjson(records)))).json()
    assert answer["imported"]["block"] == 1
    assert answer["imported"]["following"] == 1
    assert answer["imported"]["follow_request"] == 1

    async def ids(path: str) -> list[tuple[str, str]]:
        data = (await client.get(path, headers=ada.headers)).json()["data"]
        return [
            (d["user"]["id"], d.get("requested_at") or d["blocked_at"])
            if "user" in d
            else (d["id"], d["followed_at"])
            for d in data
        ]

    assert await ids("/api/v1/users/me/following") == [(str(public.id), "2025-02-01T00:00:00Z")]
    assert await ids("/api/v1/users/me/follow-requests/sent") == [
        (str(private.id), "2025-03-01T00:00:00Z")
    ]
    assert await ids("/api/v1/users/me/blocks") == [(str(blocked.id), "2025-01-01T00:00:00Z")]
    assert await ids("/api/v1/users/me/followers") == []
    # The imported block hides each from the other, as one made through the API does.
    problem(await client.get(f"/api/v1/users/{ada.id}", headers=blocked.headers), 404)
