"""The catalog's /api/v1/events and admin routes: the JSON clients have always read (now from
response models), the events cursor, and who may call the admin routes."""

from __future__ import annotations

import re
from typing import Any

from httpx import AsyncClient

from rhythm.platform.pagination import CursorCodec
from tests.catalog.test_sync_and_search import FILES, admin, sync_file
from tests.factories import create_user, problem

INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00")
WALL_CLOCK = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
ZONE = {"zone_id", "ordinal", "name", "capacity", "price", "numbered"}


def assert_zones(zones: list[dict[str, Any]]) -> None:
    assert zones
    for zone in zones:
        assert set(zone) == ZONE
        assert re.fullmatch(r"\d+\.\d\d", zone["price"])  # a string, as the provider wrote it


async def test_events_keep_their_json(app, client: AsyncClient) -> None:  # type: ignore[no-untyped-def]
    for path in FILES:
        await sync_file(app, path)
    user = await create_user(app)
    response = await client.get("/api/v1/events", headers=user.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data", "next_cursor"} and body["next_cursor"] is None
    assert [e["base_event_id"] for e in body["data"]] == sorted(
        e["base_event_id"] for e in body["data"]
    )
    for event in body["data"]:
        assert set(event) == {
            "base_event_id",
            "title",
            "sell_mode",
            "organizer_company_id",
            "first_seen_at",
            "last_seen_at",
            "currently_listed",
            "slots",
        }
        # Instants as the catalog always wrote them, `+00:00` (not `Z`).
        assert INSTANT.fullmatch(event["first_seen_at"]), event["first_seen_at"]
        assert INSTANT.fullmatch(event["last_seen_at"])
        for slot in event["slots"]:
            assert set(slot) == {
                "id",
                "event_id",
                "starts_at",
                "ends_at",
                "sell_from",
                "sell_to",
                "sold_out",
                "min_price",
                "max_price",
                "currently_listed",
                "zones",
            }
            assert WALL_CLOCK.fullmatch(slot["starts_at"]) and WALL_CLOCK.fullmatch(slot["ends_at"])
            assert isinstance(slot["min_price"], float) and isinstance(slot["max_price"], float)
            assert_zones(slot["zones"])


async def test_admin_routes_keep_their_json(app, client: AsyncClient) -> None:  # type: ignore[no-untyped-def]
    for path in FILES:
        await sync_file(app, path)
    boss = await admin(app)
    runs = (await client.get("/api/v1/admin/catalog/syncs", headers=boss.headers)).json()
    assert set(runs) == {"data"} and len(runs["data"]) == 3
    for run in runs["data"]:
        assert set(run) == {
            "id",
            "source",
            "started_at",
            "finished_at",
            "status",
            "counts",
            "errors",
            "catalog_version",
        }
        assert INSTANT.fullmatch(run["started_at"]) and INSTANT.fullmatch(run["finished_at"])
        assert run["counts"]["events_added"] >= 0 and isinstance(run["errors"], list)
    sync_id = runs["data"][-1]["id"]
    answer = await client.get(f"/api/v1/admin/catalog/syncs/{sync_id}/slots", headers=boss.headers)
    body = answer.json()
    assert set(body) == {"sync_id", "slots"} and body["sync_id"] == sync_id
    starts = [(s["starts_at"], s["base_event_id"], s["event_id"]) for s in body["slots"]]
    assert starts == sorted(starts)
    for state in body["slots"]:
        assert set(state) == {
            "base_event_id",
            "event_id",
            "title",
            "sell_mode",
            "organizer_company_id",
            "starts_at",
            "ends_at",
            "sell_from",
            "sell_to",
            "sold_out",
            "zones",
        }
        assert WALL_CLOCK.fullmatch(state["starts_at"])
        assert_zones(state["zones"])
    missing = problem(
        await client.get("/api/v1/admin/catalog/syncs/999999/slots", headers=boss.headers), 404
    )
    assert missing["type"].endswith("/sync-not-found") and missing["detail"] == "No sync 999999."


async def test_the_events_cursor_is_the_one_handed_out_before(app, client: AsyncClient) -> None:  # type: ignore[no-untyped-def]
    for path in FILES:
        await sync_file(app, path)
    user = await create_user(app)

    async def page(**params: str | int) -> Any:
        return await client.get("/api/v1/events", params=params, headers=user.headers)

    first = (await page(limit=1)).json()
    last_id = first["data"][0]["base_event_id"]
    codec = app.state.services[CursorCodec]
    # The list's name and the last base event served: a cursor from before still works.
    assert codec.decode("catalog-events", first["next_cursor"]) == [last_id]
    earlier = codec.encode("catalog-events", [last_id])
    second = (await page(limit=1, cursor=earlier)).json()
    assert second == (await page(limit=1, cursor=first["next_cursor"])).json()
    assert second["data"][0]["base_event_id"] > last_id
    # An empty cursor has always meant the first page.
    assert (await page(limit=1, cursor="")).json() == first
    for bad in ("garbage", codec.encode("usage-intervals", [last_id]), "x" * 513):
        body = problem(await page(cursor=bad), 422)
        assert [e["field"] for e in body["errors"]] in (["cursor"], ["query.cursor"])


async def test_only_administrators_use_the_admin_routes(app, client: AsyncClient) -> None:  # type: ignore[no-untyped-def]
    user = await create_user(app)
    for method, path in (
        ("POST", "/api/v1/admin/catalog/sync"),
        ("GET", "/api/v1/admin/catalog/syncs"),
        ("GET", "/api/v1/admin/catalog/syncs/1/slots"),
    ):
        body = problem(await client.request(method, path, headers=user.headers), 403)
        assert body["type"].endswith("/forbidden")
        assert body["detail"] == "Only administrators may do this."
    boss = await admin(app)
    queued = await client.post("/api/v1/admin/catalog/sync", headers=boss.headers)
    assert queued.status_code == 202 and set(queued.json()) == {"job_id"}
    assert isinstance(queued.json()["job_id"], int)


async def test_every_catalog_answer_has_a_documented_model(client: AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for method, path, status in (
        ("get", "/search", "200"),
        ("get", "/api/v1/events", "200"),
        ("post", "/api/v1/admin/catalog/sync", "202"),
        ("get", "/api/v1/admin/catalog/syncs", "200"),
        ("get", "/api/v1/admin/catalog/syncs/{sync_id}/slots", "200"),
    ):
        schema = paths[path][method]["responses"][status]["content"]["application/json"]["schema"]
        assert "$ref" in schema, (method, path, schema)
