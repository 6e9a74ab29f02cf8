"""Catalog syncs from files and from a fake provider on loopback, and the searches."""

from __future__ import annotations

import asyncio
import gzip
import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from httpx import AsyncClient
from sqlalchemy import text

from rhythm.catalog import service
from rhythm.catalog.provider import ProviderUnavailable
from rhythm.catalog.search_cache import SearchCache
from rhythm.identity.profiles import profile_key
from rhythm.platform.resources import Resources
from tests.factories import create_user, problem

SAMPLES = Path(__file__).resolve().parent / "samples"  # the provider's real responses
FILES = [SAMPLES / f"provider_response_{i}.xml" for i in (1, 2, 3)]
MAX = 10 * 1024 * 1024


async def sync_file(app, path: Path) -> service.SyncResult:  # type: ignore[no-untyped-def]
    """A sync from `path`, as a worker runs it; returns once the app (another process in
    production) has heard of its version through Redis pub/sub, which is asynchronous."""
    result = await service.sync(
        app.state.services[Resources].session_factory,
        app.state.services[Resources].redis,
        path=path,
        max_bytes=MAX,
    )
    cache = app.state.services[SearchCache]
    deadline = time.monotonic() + 5
    while result.status == "succeeded" and (cache.version or 0) < result.catalog_version:
        assert time.monotonic() < deadline, (
            f"version {result.catalog_version} was not heard of in 5 s"
        )
        await asyncio.sleep(0.01)
    return result


async def search(client: AsyncClient, **params: str) -> dict:
    response = await client.get("/search", params=params)
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


async def test_worked_example(app, client: AsyncClient) -> None:
    results = [await sync_file(app, path) for path in FILES]
    assert [r.status for r in results] == ["succeeded"] * 3
    assert results[1].counts["rejected"] == 1  # the 2021-09-31 slot
    assert any("2021-09-31" in e for e in results[1].errors)
    body = await search(client, starts_at="2021-02-01T00:00:00", ends_at="2022-07-03T00:00:00")
    assert body["error"] is None
    events = body["data"]["events"]
    titles = {e["title"] for e in events}
    assert titles == {"Camela en concierto", "Pantomima Full", "Los Morancos"}
    assert "Tributo a Juanito Valderrama" not in titles  # 444: never online
    for event in events:
        assert set(event) == {
            "id",
            "title",
            "start_date",
            "start_time",
            "end_date",
            "end_time",
            "min_price",
            "max_price",
        }
        assert len(event["start_date"]) == 10 and len(event["start_time"]) == 8
        assert event["min_price"] <= event["max_price"]
    # Ids are stable across syncs: a re-sync of the same data keeps them and changes nothing.
    again = await sync_file(app, FILES[2])
    assert again.counts["events_added"] == 0 and again.counts["events_changed"] == 0
    assert again.catalog_version == results[2].catalog_version
    assert {e["id"] for e in (await search(client))["data"]["events"]} >= {e["id"] for e in events}


async def test_search_contract_errors_and_caching(app, client: AsyncClient, redis) -> None:
    await sync_file(app, FILES[0])
    for params in (
        {"starts_at": "yesterday"},
        {"ends_at": "2021-13-01T00:00:00"},
        {"starts_at": "2022-01-01T00:00:00", "ends_at": "2021-01-01T00:00:00"},
    ):
        response = await client.get("/search", params=params)
        assert response.status_code == 400
        body = response.json()
        assert body["data"] is None and set(body["error"]) == {"code", "message"}
    first = await client.get("/search", params={"starts_at": "2021-01-01T00:00:00"})
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    cached = await client.get(
        "/search", params={"starts_at": "2021-01-01T00:00:00"}, headers={"If-None-Match": etag}
    )
    assert cached.status_code == 304
    # A sync that changes data changes the version, so the answer and its ETag move on.
    await sync_file(app, FILES[1])
    after = await client.get("/search", params={"starts_at": "2021-01-01T00:00:00"})
    assert after.headers["etag"] != etag
    # Redis lost: the same answer.
    await redis.flushdb()
    assert (
        await client.get("/search", params={"starts_at": "2021-01-01T00:00:00"})
    ).json() == after.json()


async def test_events_view_and_admin_routes(app, client: AsyncClient) -> None:
    for path in FILES:
        await sync_file(app, path)
    user = await create_user(app)
    page = (await client.get("/api/v1/events", params={"limit": 2}, headers=user.headers)).json()
    assert len(page["data"]) == 2 and page["next_cursor"]
    first = page["data"][0]
    assert {"sell_mode", "organizer_company_id", "first_seen_at", "last_seen_at"} <= set(first)
    assert first["slots"] and "zones" in first["slots"][0]
    rest = (
        await client.get(
            "/api/v1/events", params={"cursor": page["next_cursor"]}, headers=user.headers
        )
    ).json()
    ids = [e["base_event_id"] for e in page["data"] + rest["data"]]
    assert sorted(ids) == sorted(set(ids)) and 444 not in ids
    problem(await client.get("/api/v1/admin/catalog/syncs", headers=user.headers), 403)
    async with app.state.services[Resources].engine.begin() as conn:
        await conn.execute(text("UPDATE users SET is_admin = true WHERE id = :u"), {"u": user.id})
    await app.state.services[Resources].redis.flushdb()  # the cached profile says not admin
    runs = (await client.get("/api/v1/admin/catalog/syncs", headers=user.headers)).json()["data"]
    assert [r["status"] for r in runs] == ["succeeded"] * 3
    assert runs[-1]["counts"]["events_added"] > 0


class _Provider(http.server.BaseHTTPRequestHandler):
    script: list[tuple[str, object]] = []

    def do_GET(self) -> None:
        kind, payload = self.script.pop(0) if self.script else ("status", 500)
        if kind == "file":
            assert isinstance(payload, Path)
            data = payload.read_bytes()
            etag = f'"{payload.name}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif kind == "status":
            self.send_response(int(payload))  # type: ignore[call-overload]
            self.end_headers()
        elif kind == "hang":
            time.sleep(float(payload))  # type: ignore[arg-type]
        elif kind == "gzip":
            data = payload
            assert isinstance(data, bytes)
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif kind == "truncated":
            assert isinstance(payload, Path)
            data = payload.read_bytes()[:900]
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def provider(script: list[tuple[str, object]]) -> Iterator[str]:
    _Provider.script = list(script)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    finally:
        server.shutdown()


async def test_fake_provider_sequence_failures_and_conditional_get(
    app, client: AsyncClient
) -> None:
    bomb = gzip.compress(b"<" + b"a" * (50 * 1024 * 1024))
    script: list[tuple[str, object]] = [
        ("file", FILES[0]),
        ("file", FILES[0]),  # unchanged: answered 304 to the conditional GET
        ("status", 500),
        ("hang", 3.0),
        ("truncated", FILES[1]),
        ("gzip", bomb),
        ("file", FILES[1]),
    ]

    async def run(url: str) -> service.SyncResult | str:
        try:
            return await service.sync(
                app.state.services[Resources].session_factory,
                app.state.services[Resources].redis,
                url=url,
                max_bytes=MAX,
            )
        except ProviderUnavailable as exc:
            return f"unavailable: {exc}"

    with provider(script) as url:
        first = await run(url)
        assert isinstance(first, service.SyncResult) and first.status == "succeeded"
        before = (await search(client))["data"]["events"]
        unchanged = await run(url)
        assert isinstance(unchanged, service.SyncResult) and unchanged.status == "unchanged"
        assert isinstance(await run(url), str)  # 500: left to the task's retries
        # The hang and the truncated feed fail; search keeps answering the same.
        started = time.monotonic()
        result = await run_with_timeout(url)
        assert isinstance(result, str) and time.monotonic() - started < 10
        truncated = await run(url)
        assert isinstance(truncated, service.SyncResult) and truncated.status == "failed"
        assert (await search(client))["data"]["events"] == before
        bombed = await run(url)
        assert isinstance(bombed, service.SyncResult) and bombed.status == "failed"
        assert any("bytes" in e for e in bombed.errors)
        last = await run(url)
        assert isinstance(last, service.SyncResult) and last.status == "succeeded"


async def run_with_timeout(url: str) -> str:
    from rhythm.catalog import provider as provider_module

    try:
        await provider_module.fetch(url, max_bytes=MAX, connect_timeout=1.0, total_timeout=1.0)
    except ProviderUnavailable as exc:
        return f"unavailable: {exc}"
    return "answered"


async def admin(app):  # type: ignore[no-untyped-def]
    user = await create_user(app)
    async with app.state.services[Resources].engine.begin() as conn:
        await conn.execute(text("UPDATE users SET is_admin = true WHERE id = :u"), {"u": user.id})
    await app.state.services[Resources].redis.delete(
        profile_key(user.id)
    )  # cached before the promotion
    return user


async def test_the_state_at_every_past_sync_reads_back(app, client: AsyncClient) -> None:
    results = [await sync_file(app, path) for path in FILES]
    boss = await admin(app)

    async def slots(sync_id: int) -> list[dict]:
        response = await client.get(
            f"/api/v1/admin/catalog/syncs/{sync_id}/slots", headers=boss.headers
        )
        assert response.status_code == 200, response.text
        found: list[dict] = response.json()["slots"]
        return found

    def zones_of(states: list[dict], base: int) -> list[tuple[int, int, str]]:
        (slot,) = [s for s in states if s["base_event_id"] == base and s["event_id"] == 1642]
        return [(z["zone_id"], z["capacity"], z["price"]) for z in slot["zones"]]

    first, second = await slots(results[0].sync_id), await slots(results[1].sync_id)
    # Zone 186 twice in one slot, both kept, and each version as it was.
    assert (
        zones_of(first, 1591)
        == [(186, 2, "75.00"), (186, 16, "65.00"), (310, 20, "45.00")][: len(zones_of(first, 1591))]
    )
    assert [z[1] for z in zones_of(second, 1591)][:2] == [0, 14]
    assert zones_of(first, 1591) != zones_of(second, 1591)
    problem(await client.get("/api/v1/admin/catalog/syncs/999999/slots", headers=boss.headers), 404)


async def test_an_admin_starts_a_sync_job_that_syncs_the_provider(
    app, client: AsyncClient, settings
) -> None:  # type: ignore[no-untyped-def]
    from rhythm.app import create_app
    from rhythm.jobs import run_worker
    from tests.conftest import client_for, make_settings, started

    with provider([("file", FILES[0])]) as url:
        configured = make_settings(
            settings.database_url, settings.redis_url, catalog_provider_url=url
        )
        async for other in started(create_app(configured)):
            boss = await admin(other)
            async with client_for(other) as http:
                problem(
                    await http.post(
                        "/api/v1/admin/catalog/sync", headers=(await create_user(other)).headers
                    ),
                    403,
                )
                queued = await http.post("/api/v1/admin/catalog/sync", headers=boss.headers)
                assert queued.status_code == 202 and queued.json()["job_id"]
                await run_worker(other.state.services[Resources], wait=False)
                runs = (await http.get("/api/v1/admin/catalog/syncs", headers=boss.headers)).json()[
                    "data"
                ]
                # The job the admin queued; the schedule may have fired too (the provider then
                # answers 500: that run failed and waits for its retry).
                assert any(r["status"] == "succeeded" and r["source"] == url for r in runs)
                assert len((await search(http))["data"]["events"]) >= 3


async def test_search_answers_without_redis(app, client: AsyncClient, settings) -> None:  # type: ignore[no-untyped-def]
    from rhythm.app import create_app
    from tests.conftest import client_for, make_settings, started

    for path in FILES:
        await sync_file(app, path)
    expected = await search(client, starts_at="2021-02-01T00:00:00")
    no_redis = make_settings(settings.database_url, "redis://127.0.0.1:9/0")
    async for other in started(create_app(no_redis)):
        async with client_for(other) as http:
            assert await search(http, starts_at="2021-02-01T00:00:00") == expected
            assert (await http.get("/search", params={"starts_at": "x"})).status_code == 400
