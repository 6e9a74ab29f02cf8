"""ActivityWatch history in and out (issue 12, section 4): export and import in aw-server's
formats, event counts, and the bounds of /api/0 lists and imports."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from rhythm.usage import history
from rhythm.usage.schemas import MAX_AW_EVENTS
from tests.factories import create_user, problem
from tests.usage.test_usage_api import api_key

START = datetime(2023, 3, 1, 8, tzinfo=UTC)
APPS = ["Firefox", "Code", "Terminal", "Slack"]


async def aw_user(app, client: AsyncClient) -> dict[str, str]:  # type: ignore[no-untyped-def]
    user = await create_user(app)
    return {"Authorization": f"Bearer {await api_key(client, user)}"}


def window_events(seed: int, count: int) -> list[dict[str, Any]]:
    """Events that do not overlap, newest first (as aw-server exports them); some repeat an
    instant with zero duration, some carry URLs, unicode and nested data."""
    rng = random.Random(seed)
    at = START
    events = []
    for i in range(count):
        duration = rng.choice([0.0, 0.5, 3.25, 61.0, 1234.567])
        data: dict[str, Any] = {"app": rng.choice(APPS), "title": f"Tab {i % 7} — ünïcode"}
        if i % 5 == 0:
            data["url"] = f"https://example.org/{i % 3}?q=1"
        if i % 11 == 0:
            data["nested"] = {"list": [1, 2.5, None, True], "s": "x"}
        events.append(
            {
                "timestamp": at.isoformat(),
                "duration": duration,
                "data": data,
            }
        )
        at += timedelta(seconds=duration + rng.choice([0, 0, 1, 30]))
    return events[::-1]


def document(buckets: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "buckets": {
            name: {
                "id": name,
                "created": "2022-01-01T00:00:00+00:00",
                "name": None,
                "type": "currentwindow" if "window" in name else "afkstatus",
                "client": "aw-watcher",
                "hostname": "laptop",
                "events": events,
            }
            for name, events in buckets.items()
        }
    }


def shape(events: list[dict[str, Any]]) -> list[tuple[datetime, float, str]]:
    return [
        (
            datetime.fromisoformat(e["timestamp"]),
            e["duration"],
            json.dumps(e["data"], sort_keys=True),
        )
        for e in events
    ]


async def all_events(client: AsyncClient, headers: dict[str, str], bucket: str) -> list[Any]:
    response = await client.get(f"/api/0/buckets/{bucket}/events", headers=headers)
    assert response.status_code == 200, response.text
    events: list[Any] = response.json()
    return events


async def test_import_equals_inserting_through_events_and_reimport_adds_nothing(
    app, client: AsyncClient
) -> None:
    """The same events, imported in one user and inserted through POST .../events in another,
    give the same event lists; importing the document again (as JSON, then as aw-webui's
    multipart upload) changes nothing."""
    window, afk = window_events(1, 700), window_events(2, 300)
    doc = document({"aw-watcher-window_laptop": window, "aw-watcher-afk_laptop": afk})
    imported = await aw_user(app, client)
    response = await client.post("/api/0/import", json=doc, headers=imported)
    assert response.status_code == 200, response.text
    assert response.json() is None

    inserted = await aw_user(app, client)
    for name, events in (("aw-watcher-window_laptop", window), ("aw-watcher-afk_laptop", afk)):
        made = await client.post(
            f"/api/0/buckets/{name}",
            json={"type": "currentwindow", "hostname": "laptop"},
            headers=inserted,
        )
        assert made.status_code == 200
        sent = await client.post(f"/api/0/buckets/{name}/events", json=events, headers=inserted)
        assert sent.status_code == 200, sent.text

    for name, events in (("aw-watcher-window_laptop", window), ("aw-watcher-afk_laptop", afk)):
        got = await all_events(client, imported, name)
        assert shape(got) == shape(await all_events(client, inserted, name))
        assert sorted(shape(got)) == sorted(shape(events))
        count = await client.get(f"/api/0/buckets/{name}/events/count", headers=imported)
        assert count.json() == len(events)

    before = await all_events(client, imported, "aw-watcher-window_laptop")
    again = await client.post("/api/0/import", json=doc, headers=imported)
    assert again.status_code == 200, again.text
    body = json.dumps(doc, indent=2).encode()
    upload = await client.post(
        "/api/0/import", files={"buckets.json": ("aw-buckets-export.json", body)}, headers=imported
    )
    assert upload.status_code == 200, upload.text
    assert await all_events(client, imported, "aw-watcher-window_laptop") == before

    # The buckets were created with the document's fields.
    bucket = (await client.get("/api/0/buckets/aw-watcher-afk_laptop", headers=imported)).json()
    assert (bucket["type"], bucket["client"], bucket["hostname"]) == (
        "afkstatus",
        "aw-watcher",
        "laptop",
    )
    assert datetime.fromisoformat(bucket["created"]) == datetime(2022, 1, 1, tzinfo=UTC)


async def test_export_then_import_round_trips(app, client: AsyncClient) -> None:
    """GET /export gives aw-server's document (events newest first, without ids), across
    several export pages; importing it into another account gives the same buckets and events."""
    headers = await aw_user(app, client)
    events = window_events(3, history.EXPORT_PAGE + 17)
    doc = document({"aw-watcher-window_a": events, "aw-watcher-afk_a": events[:5]})
    assert (await client.post("/api/0/import", json=doc, headers=headers)).status_code == 200

    exported = await client.get("/api/0/export", headers=headers)
    assert exported.status_code == 200
    assert exported.headers["content-disposition"].startswith("attachment;")
    body = exported.json()
    assert set(body["buckets"]) == {"aw-watcher-window_a", "aw-watcher-afk_a"}
    window = body["buckets"]["aw-watcher-window_a"]
    assert {"id", "name", "type", "client", "hostname", "created", "data"} <= window.keys()
    assert all("id" not in e for e in window["events"])
    # Newest first; events at one instant (zero durations) in no particular order.
    got = shape(window["events"])
    assert got == sorted(got, key=lambda e: e[0], reverse=True)
    assert sorted(got) == sorted(shape(events))

    one = await client.get("/api/0/buckets/aw-watcher-afk_a/export", headers=headers)
    assert list(one.json()["buckets"]) == ["aw-watcher-afk_a"]
    assert shape(one.json()["buckets"]["aw-watcher-afk_a"]["events"]) == shape(events[:5])
    missing = await client.get("/api/0/buckets/nope/export", headers=headers)
    problem(missing, 404)

    other = await aw_user(app, client)
    assert (
        await client.post("/api/0/import", content=exported.content, headers=other)
    ).status_code == 200
    again = (await client.get("/api/0/export", headers=other)).json()
    for name, bucket in body["buckets"].items():
        copy = again["buckets"][name]
        assert {**copy, "events": None} == {**bucket, "events": None}
        assert sorted(shape(copy["events"])) == sorted(shape(bucket["events"]))


async def test_count_and_event_windows_as_aw_server(app, client: AsyncClient) -> None:
    """start/end select the events overlapping [start, end], clipped to it; count counts the
    same events; limit absent or -1 is no limit, and over the cap a clear 422."""
    headers = await aw_user(app, client)
    events = [
        {
            "timestamp": (START + timedelta(minutes=i)).isoformat(),
            "duration": 30.0,
            "data": {"i": i},
        }
        for i in range(10)
    ]
    doc = document({"aw-watcher-window_b": events})
    assert (await client.post("/api/0/import", json=doc, headers=headers)).status_code == 200
    url = "/api/0/buckets/aw-watcher-window_b/events"
    params = {
        "start": (START + timedelta(minutes=2, seconds=15)).isoformat(),
        "end": (START + timedelta(minutes=5, seconds=10)).isoformat(),
    }
    got = (await client.get(url, params=params, headers=headers)).json()
    assert [e["data"]["i"] for e in got] == [5, 4, 3, 2]
    assert got[0]["duration"] == 10.0 and got[-1]["duration"] == 15.0
    assert got[-1]["timestamp"] == params["start"]
    count = await client.get(url + "/count", params=params, headers=headers)
    assert count.json() == 4
    limited = (await client.get(url, params={**params, "limit": 2}, headers=headers)).json()
    assert [e["data"]["i"] for e in limited] == [5, 4]
    assert (await client.get(url + "/count", headers=headers)).json() == 10
    for bad in ({"start": "yesterday"}, {"end": "9999-12-31T00:00:00Z"}, {"limit": "-2"}):
        problem(
            await client.get(
                url + "/count" if "limit" not in bad else url, params=bad, headers=headers
            ),
            422,
        )
    problem(await client.get("/api/0/buckets/nope/events/count", headers=headers), 404)


async def test_an_unlimited_list_over_the_cap_is_a_clear_422(app, client: AsyncClient) -> None:
    headers = await aw_user(app, client)
    events = [
        {"timestamp": (START + timedelta(seconds=i)).isoformat(), "duration": 0.5, "data": {}}
        for i in range(MAX_AW_EVENTS + 1)
    ]
    doc = document({"aw-watcher-window_c": events})
    assert (await client.post("/api/0/import", json=doc, headers=headers)).status_code == 200
    url = "/api/0/buckets/aw-watcher-window_c/events"
    for params in ({}, {"limit": "-1"}):
        body = problem(await client.get(url, params=params, headers=headers), 422)
        assert f"{MAX_AW_EVENTS + 1:,} events match" in body["detail"]
    capped = await client.get(url, params={"limit": MAX_AW_EVENTS}, headers=headers)
    assert len(capped.json()) == MAX_AW_EVENTS
    narrowed = await client.get(
        url, params={"end": (START + timedelta(seconds=99)).isoformat()}, headers=headers
    )
    assert len(narrowed.json()) == 100


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"timestamp": "2023-01-01T00:00:00Z", "duration": 86_400 * 367}, "duration"),
        ({"timestamp": "2023-01-01T00:00:00Z", "duration": "NaN"}, "duration"),
        ({"timestamp": "1960-01-01T00:00:00Z"}, "timestamp"),
        ({"timestamp": "2023-01-01T00:00:00"}, "timestamp"),
        ({"timestamp": "2023-01-01T00:00:00Z", "data": {"t": "a\u0000b"}}, "data"),
        ({"timestamp": "2023-01-01T00:00:00Z", "data": []}, "data"),
    ],
)
async def test_an_invalid_event_refuses_the_whole_import(
    app, client: AsyncClient, event: dict[str, Any], field: str
) -> None:
    headers = await aw_user(app, client)
    good = {"timestamp": "2023-01-01T00:00:00Z", "duration": 1, "data": {}}
    doc = document({"aw-watcher-window_d": [good, good, event]})
    body = problem(await client.post("/api/0/import", json=doc, headers=headers), 422)
    assert body["errors"][0]["field"] == f"buckets.aw-watcher-window_d.events[2].{field}"
    assert (await client.get("/api/0/buckets/", headers=headers)).json() == {}


async def test_live_durations_over_a_day_and_non_finite_numbers_are_422(
    app, client: AsyncClient
) -> None:
    headers = await aw_user(app, client)
    made = await client.post("/api/0/buckets/w", json={"type": "currentwindow"}, headers=headers)
    assert made.status_code == 200
    at = datetime.now(UTC).isoformat()
    for duration in ("86400.001", "1e400", "NaN", "-Infinity"):
        body = f'{{"timestamp": "{at}", "duration": {duration}}}'
        for url in ("/api/0/buckets/w/events", "/api/0/buckets/w/heartbeat?pulsetime=1"):
            sent = await client.post(
                url, content=body, headers={**headers, "Content-Type": "application/json"}
            )
            problem(sent, 422)
    day = await client.post(
        "/api/0/buckets/w/events", json={"timestamp": at, "duration": 86_400}, headers=headers
    )
    assert day.status_code == 200, day.text
    # An import may hold longer events (AFK periods of days), up to 366 days.
    doc = document(
        {"aw-watcher-afk_e": [{"timestamp": START.isoformat(), "duration": 3 * 86_400.0}]}
    )
    assert (await client.post("/api/0/import", json=doc, headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'{"buckets": []}',
        b'{"buckets": {"a": {"type": "x", "events": {}}}}',
        b'{"buckets": {"a": {"type": "x", "events": [}}}',
        b'{"buckets": {"a": {"type": "x", "events": []}}} trailing',
        b'{"buckets": {"a": {"events": []}}}',
        b'{"buckets": {"a": {"type": "x", "id": "a\\nb", "events": []}}}',
        b'{"other": 1}',
        b'{"buckets": {"a": {"type": "x", "events": [1]}}}',
        b"\xff\xfe",
    ],
)
async def test_malformed_documents_are_422(app, client: AsyncClient, body: bytes) -> None:
    headers = {**await aw_user(app, client), "Content-Type": "application/json"}
    problem(await client.post("/api/0/import", content=body, headers=headers), 422)
    assert (await client.get("/api/0/buckets/", headers=headers)).json() == {}


async def test_import_caps(app, client: AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """More buckets or events than an import takes: 413, and nothing is imported. (The caps are
    lowered here: the real ones take minutes to reach.)"""
    from rhythm.usage import history as module

    headers = await aw_user(app, client)
    monkeypatch.setattr(module, "MAX_IMPORT_BUCKETS", 2)
    monkeypatch.setattr(module, "MAX_IMPORT_EVENTS", 5)
    one = [{"timestamp": START.isoformat(), "duration": 1.0, "data": {}}]
    three = document({"window_1": one, "window_2": one, "window_3": one})
    body = problem(await client.post("/api/0/import", json=three, headers=headers), 413)
    assert "2 buckets" in body["detail"]
    six = document({"window_1": window_events(5, 6)})
    body = problem(await client.post("/api/0/import", json=six, headers=headers), 413)
    assert "5 events" in body["detail"]
    assert (await client.get("/api/0/buckets/", headers=headers)).json() == {}


async def test_an_overlap_is_409_and_imports_nothing(app, client: AsyncClient) -> None:
    headers = await aw_user(app, client)
    events = [
        {"timestamp": START.isoformat(), "duration": 10.0, "data": {"a": 1}},
        {"timestamp": (START + timedelta(seconds=5)).isoformat(), "duration": 10.0, "data": {}},
    ]
    doc = document({"aw-watcher-window_f": events})
    problem(await client.post("/api/0/import", json=doc, headers=headers), 409)
    assert (await client.get("/api/0/buckets/", headers=headers)).json() == {}


async def test_an_import_over_the_body_limit_is_413(app, client: AsyncClient) -> None:
    headers = {**await aw_user(app, client), "Content-Type": "application/json"}
    headers["Content-Length"] = str(2**30 + 1)
    refused = await client.post("/api/0/import", content=b"{}", headers=headers)
    problem(refused, 413)


async def inserted_through_events(
    app, client: AsyncClient, buckets: dict[str, tuple[str, list[dict[str, Any]]]]
) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A new user whose buckets (name -> type, events) were filled by POST .../events."""
    headers = await aw_user(app, client)
    for name, (kind, events) in buckets.items():
        made = await client.post(f"/api/0/buckets/{name}", json={"type": kind}, headers=headers)
        assert made.status_code == 200, made.text
        sent = await client.post(f"/api/0/buckets/{name}/events", json=events, headers=headers)
        assert sent.status_code == 200, sent.text
    return headers


@pytest.mark.parametrize("batch", [7, 64])
async def test_an_import_in_batches_equals_one_pass(
    app, client: AsyncClient, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """An import larger than a batch (inserted batch by batch while the next is parsed) gives
    what POST .../events gives: events repeated in later batches are inserted once, events of
    one instant keep the document's order; importing it again adds nothing."""
    monkeypatch.setattr(history, "IMPORT_BATCH", batch)
    window, afk = window_events(6, 300), window_events(7, 40)
    assert len({e["timestamp"] for e in window}) < len(window)  # some instants hold several
    repeated = window + window[::3] + window[:2]
    doc = document({"aw-watcher-window_g": repeated, "aw-watcher-afk_g": afk + afk})
    imported = await aw_user(app, client)
    response = await client.post("/api/0/import", json=doc, headers=imported)
    assert response.status_code == 200, response.text

    inserted = await inserted_through_events(
        app,
        client,
        {"aw-watcher-window_g": ("currentwindow", window), "aw-watcher-afk_g": ("afk", afk)},
    )
    before = {}
    for name, events in (("aw-watcher-window_g", window), ("aw-watcher-afk_g", afk)):
        got = await all_events(client, imported, name)
        assert shape(got) == shape(await all_events(client, inserted, name))
        assert len(got) == len(events)
        before[name] = got

    again = await client.post("/api/0/import", json=doc, headers=imported)
    assert again.status_code == 200, again.text
    for name, got in before.items():
        assert await all_events(client, imported, name) == got


async def test_buckets_named_after_their_events_and_named_twice(
    app, client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bucket whose id and fields come after its events (its events wait for its end), two
    document buckets naming one bucket (created with the last one's fields, as one pass over
    the document would), and an existing bucket (it keeps its fields), across batches."""
    monkeypatch.setattr(history, "IMPORT_BATCH", 5)
    headers = await aw_user(app, client)
    made = await client.post(
        "/api/0/buckets/kept", json={"type": "mine", "hostname": "here"}, headers=headers
    )
    assert made.status_code == 200
    events = window_events(8, 60)
    older, newer, kept = events[30:], events[:30], window_events(9, 12)
    doc = {
        "buckets": {
            "late": {"events": older, "id": "shared", "type": "t1", "client": "c1"},
            "early": {"id": "shared", "type": "t2", "events": newer + older[:7], "hostname": "h2"},
            "kept": {"id": "kept", "type": "t3", "hostname": "h3", "events": kept},
        }
    }
    response = await client.post("/api/0/import", json=doc, headers=headers)
    assert response.status_code == 200, response.text

    buckets = (await client.get("/api/0/buckets/", headers=headers)).json()
    assert set(buckets) == {"shared", "kept"}
    assert [buckets["shared"][k] for k in ("type", "client", "hostname")] == [
        "t2",
        "unknown",
        "h2",
    ]
    assert [buckets["kept"][k] for k in ("type", "hostname")] == ["mine", "here"]
    # In document order: events of one instant (at the two buckets' seam) keep it.
    inserted = await inserted_through_events(
        app, client, {"shared": ("t", older + newer), "kept": ("t", kept)}
    )
    for name in ("shared", "kept"):
        got = await all_events(client, headers, name)
        assert shape(got) == shape(await all_events(client, inserted, name))


async def test_an_overlap_in_a_later_batch_is_409_unless_the_document_is_invalid(
    app, client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event overlapping one of an earlier batch refuses the whole import (409, nothing
    imported); a document also invalid further on is refused as invalid (422), as a check of
    the whole document first would."""
    monkeypatch.setattr(history, "IMPORT_BATCH", 4)
    headers = await aw_user(app, client)
    events = window_events(10, 20)
    late = {**events[2], "duration": events[2]["duration"] + 3600.0, "data": {"other": 1}}
    overlapping = document({"aw-watcher-window_h": [*events, late], "aw-watcher-afk_h": events})
    problem(await client.post("/api/0/import", json=overlapping, headers=headers), 409)
    assert (await client.get("/api/0/buckets/", headers=headers)).json() == {}

    invalid = document(
        {"aw-watcher-window_h": [*events, late], "aw-watcher-afk_h": [*events, {"duration": 1}]}
    )
    body = problem(await client.post("/api/0/import", json=invalid, headers=headers), 422)
    assert body["errors"][0]["field"] == "buckets.aw-watcher-afk_h.events[20].timestamp"
    assert (await client.get("/api/0/buckets/", headers=headers)).json() == {}


async def test_a_bucket_whose_id_changes_after_its_events_began_is_422(
    app, client: AsyncClient
) -> None:
    """Its events went to the bucket its first id names; a second, different id (a member
    repeated) is refused rather than moving them."""
    headers = {**await aw_user(app, client), "Content-Type": "application/json"}
    event = json.dumps({"timestamp": START.isoformat(), "duration": 1.0, "data": {}})
    body = f'{{"buckets": {{"a": {{"id": "x", "type": "t", "events": [{event}], "id": "y"}}}}}}'
    refused = problem(await client.post("/api/0/import", content=body, headers=headers), 422)
    assert refused["errors"][0]["field"] == "buckets.a.id"
    assert (await client.get("/api/0/buckets/", headers=headers)).json() == {}
    same = body.replace('"y"', '"x"')
    assert (await client.post("/api/0/import", content=same, headers=headers)).status_code == 200
    assert await all_events(client, headers, "x") != []
