"""A night's rating, tags and note: set on backfill, clock-out and PATCH (null clears), bounded,
returned by the owner's own reads and never by anything followers see."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.factories import create_user, problem
from tests.sleep.test_edit import RECORDS, edit, edited, read
from tests.sleep.test_feed import MONDAY, WEEK, feed, follow
from tests.sleep.test_feed_cache import drain

NOTES = {"rating": 4, "tags": ["coffee", "late dinner"], "note": "Woke up once at 3.\nFine."}


def notes_of(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in ("rating", "tags", "note")}


def backfill_body(day: int = 0, **details: Any) -> dict[str, Any]:
    start = MONDAY + timedelta(days=day)
    return {
        "sleep_at": start.isoformat(),
        "wake_at": (start + timedelta(hours=8)).isoformat(),
        **details,
    }


async def test_set_on_backfill_and_clock_out_and_read_by_the_owner(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await create_user(app)
    created = await client.post(RECORDS, json=backfill_body(**NOTES), headers=user.headers)
    assert created.status_code == 201, created.text
    record = created.json()["record"]
    assert notes_of(record) == NOTES
    assert notes_of(await read(client, user, record["id"])) == NOTES
    listed = await client.get(RECORDS, headers=user.headers)
    assert [notes_of(r) for r in listed.json()["data"]] == [NOTES]

    await client.post(
        "/api/v1/sleep/clock-in",
        json={"at": (datetime.now(UTC) - timedelta(hours=7)).isoformat()},
        headers=user.headers,
    )
    out = await client.post(
        "/api/v1/sleep/clock-out", json={"rating": 2, "tags": ["noisy"]}, headers=user.headers
    )
    assert out.status_code == 200, out.text
    assert notes_of(out.json()["record"]) == {"rating": 2, "tags": ["noisy"], "note": None}
    # Clock-out refuses bad notes before closing the night.
    await client.post("/api/v1/sleep/clock-in", json={}, headers=user.headers)
    problem(
        await client.post("/api/v1/sleep/clock-out", json={"rating": 9}, headers=user.headers),
        422,
    )
    assert (await client.get(RECORDS, headers=user.headers)).json()["data"][0][
        "status"
    ] == "sleeping"


async def test_patch_sets_keeps_and_clears(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app)
    created = await client.post(RECORDS, json=backfill_body(), headers=user.headers)
    record_id = created.json()["record"]["id"]
    assert notes_of(created.json()["record"]) == {"rating": None, "tags": [], "note": None}
    assert notes_of(await edited(client, user, record_id, **NOTES)) == NOTES
    # Omitted fields are kept; the times too.
    changed = await edited(client, user, record_id, rating=1)
    assert notes_of(changed) == {**NOTES, "rating": 1}
    assert changed["duration_seconds"] == 8 * 3600
    # Null clears each one.
    cleared = await edited(client, user, record_id, rating=None, tags=None, note=None)
    assert notes_of(cleared) == {"rating": None, "tags": [], "note": None}
    assert notes_of(await read(client, user, record_id)) == notes_of(cleared)
    # A blank note is no note; an empty list is no tags.
    blank = await edited(client, user, record_id, note=" \n\t ", tags=[])
    assert (blank["note"], blank["tags"]) == (None, [])
    # The notes and the times change together.
    both = await edited(
        client, user, record_id, wake_at=(MONDAY + timedelta(hours=9)).isoformat(), rating=5
    )
    assert (both["duration_seconds"], both["rating"]) == (9 * 3600, 5)
    # Refused changes leave the notes as they were.
    problem(await edit(client, user, record_id, rating=3, wake_at=MONDAY.isoformat()), 422)
    assert (await read(client, user, record_id))["rating"] == 5


async def test_tags_are_trimmed_normalised_and_kept_once(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app)
    created = await client.post(RECORDS, json=backfill_body(), headers=user.headers)
    record_id = created.json()["record"]["id"]
    tags = [" Coffee ", "coffee", "COFFEE", "caf\u0065\u0301", "caf\u00e9", "睡眠 😴", "x" * 32]
    record = await edited(client, user, record_id, tags=tags)
    assert record["tags"] == ["Coffee", "caf\u00e9", "睡眠 😴", "x" * 32]
    # Ten tags, duplicates included, are accepted; eleven are refused, even with duplicates.
    assert (await edited(client, user, record_id, tags=["a"] * 10))["tags"] == ["a"]
    assert (
        len((await edited(client, user, record_id, tags=[str(i) for i in range(10)]))["tags"]) == 10
    )


NIGHT = backfill_body()
BAD_NOTES: list[tuple[str, Any]] = [
    ("rating", 0),
    ("rating", 6),
    ("rating", -1),
    ("rating", 3.5),
    ("rating", "3"),
    ("rating", True),
    ("tags", [str(i) for i in range(11)]),
    ("tags", ["a"] * 11),
    ("tags", ["x" * 33]),
    ("tags", [""]),
    ("tags", ["   "]),
    ("tags", ["bell\x07"]),
    ("tags", ["two\nlines"]),
    ("tags", ["tab\there"]),
    ("tags", ["del\x7f"]),
    ("tags", ["c1\x85"]),
    ("tags", ["\x1funit separator"]),
    ("tags", ["line\u2028separator"]),
    ("tags", ["nul\x00"]),
    ("tags", "coffee"),
    ("tags", [1]),
    ("tags", [None]),
    ("note", "x" * 1001),
    ("note", "escape \x1b[31m"),
    ("note", "nul \x00"),
    ("note", 12),
]


@pytest.mark.parametrize(
    ("field", "value"), BAD_NOTES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_NOTES)]
)
async def test_bad_notes_are_422_everywhere(
    app: FastAPI, client: AsyncClient, field: str, value: Any
) -> None:
    user = await create_user(app)
    created = await client.post(RECORDS, json=NIGHT, headers=user.headers)
    record_id = created.json()["record"]["id"]
    body = problem(await edit(client, user, record_id, **{field: value}), 422)
    assert body["errors"][0]["field"].split(".")[0] == field
    problem(
        await client.post(RECORDS, json=backfill_body(2, **{field: value}), headers=user.headers),
        422,
    )
    await client.post("/api/v1/sleep/clock-in", json={}, headers=user.headers)
    problem(
        await client.post("/api/v1/sleep/clock-out", json={field: value}, headers=user.headers),
        422,
    )
    assert notes_of(await read(client, user, record_id)) == {
        "rating": None,
        "tags": [],
        "note": None,
    }
    assert len((await client.get(RECORDS, headers=user.headers)).json()["data"]) == 2


async def test_the_longest_note_and_tag_are_accepted(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app)
    note = ("Line one.\r\n\tIndented: ünïcödé 😴 " * 40)[:1000]
    assert len(note) == 1000
    created = await client.post(
        RECORDS, json=backfill_body(note=note, tags=["t" * 32] * 10), headers=user.headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["record"]["note"] == note
    assert created.json()["record"]["tags"] == ["t" * 32]


async def test_followers_never_see_them(app: FastAPI, client: AsyncClient) -> None:
    owner = await create_user(app, name="Owner")
    viewer = await create_user(app)
    await follow(client, viewer, owner)
    secret = "SECRET-NOTE-42"
    tag = "SECRET-TAG-42"
    past = await client.post(
        RECORDS, json=backfill_body(rating=3, tags=[tag], note=secret), headers=owner.headers
    )
    assert past.status_code == 201, past.text
    # A night that ended today, for Today's friends' nights.
    now = datetime.now(UTC)
    today = await client.post(
        RECORDS,
        json={
            "sleep_at": (now - timedelta(hours=1)).isoformat(),
            "wake_at": now.isoformat(),
            "rating": 1,
            "tags": [tag],
            "note": secret,
        },
        headers=owner.headers,
    )
    assert today.status_code == 201, today.text
    today_week = today.json()["record"]["week"]

    def clean(body: Any) -> None:
        text = json.dumps(body)
        assert secret not in text and tag not in text
        for key in ("rating", "tags", "note"):
            assert f'"{key}"' not in text

    # Twice each: from PostgreSQL (changes pending), then once the jobs ran, from Redis.
    for _ in range(2):
        for week in (WEEK, today_week):
            page = await feed(client, viewer, week=week)
            assert len(page["data"]) == 1
            clean(page)
        ranking = await client.get(
            "/api/v1/sleep/rankings/weekly", params={"week": WEEK}, headers=viewer.headers
        )
        assert [r["user"]["name"] for r in ranking.json()["data"]] == ["Owner"]
        clean(ranking.json())
        me_today = await client.get(
            "/api/v1/me/today", params={"timezone": "UTC"}, headers=viewer.headers
        )
        assert me_today.status_code == 200, me_today.text
        assert len(me_today.json()["friends_nights"]) == 1
        clean(me_today.json()["friends_nights"])
        await drain(app)
    # Changed by PATCH: still private.
    await edited(client, owner, past.json()["record"]["id"], rating=5, note=secret + "!")
    await drain(app)
    clean(await feed(client, viewer))
    # The owner's own Today shows them on the owner's night.
    mine = await client.get("/api/v1/me/today", params={"timezone": "UTC"}, headers=owner.headers)
    assert notes_of(mine.json()["sleep"]) == {"rating": 1, "tags": [tag], "note": secret}
