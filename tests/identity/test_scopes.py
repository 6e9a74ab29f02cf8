"""API-key scopes: every route of the app, walked with keys of each kind.

The table below is the specification. A route missing from it fails the walk, so a new route
cannot be added without saying what a key needs to call it.
"""

from __future__ import annotations

import base64
import re
import uuid

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from httpx import AsyncClient
from sqlalchemy import text

from rhythm.api import FAST_ROUTES
from rhythm.platform.resources import Resources
from rhythm.web.pages import PAGES
from tests import factories
from tests.factories import PASSWORD, create_user, problem

PUBLIC = "public"  # no credentials needed (a key is accepted, whatever its scopes)
USAGE, READ, WRITE = "usage", "read", "write"  # the scope a key needs
SESSION = "session"  # a device session only: no key, whatever its scopes
BROWSER = "browser"  # the dashboard's refresh cookie only: a key is neither needed nor enough

REQUIRED: dict[tuple[str, str], str] = {
    ("GET", "/api/0/buckets/"): USAGE,
    ("DELETE", "/api/0/buckets/{bucket_id}"): USAGE,
    ("GET", "/api/0/buckets/{bucket_id}"): USAGE,
    ("POST", "/api/0/buckets/{bucket_id}"): USAGE,
    ("GET", "/api/0/buckets/{bucket_id}/events"): USAGE,
    ("GET", "/api/0/buckets/{bucket_id}/events/count"): USAGE,
    ("GET", "/api/0/buckets/{bucket_id}/export"): USAGE,
    ("GET", "/api/0/export"): USAGE,
    ("POST", "/api/0/import"): USAGE,
    ("POST", "/api/0/buckets/{bucket_id}/events"): USAGE,
    ("DELETE", "/api/0/buckets/{bucket_id}/events/{event_id}"): USAGE,
    ("POST", "/api/0/buckets/{bucket_id}/heartbeat"): USAGE,
    ("GET", "/api/0/info"): USAGE,
    ("GET", "/api/compat/wakatime/v1/users/{user_id}/all_time_since_today"): READ,
    ("POST", "/api/compat/wakatime/v1/users/{user_id}/heartbeats"): USAGE,
    ("POST", "/api/compat/wakatime/v1/users/{user_id}/heartbeats.bulk"): USAGE,
    ("GET", "/api/compat/wakatime/v1/users/{user_id}/projects"): READ,
    ("GET", "/api/compat/wakatime/v1/users/{user_id}/statusbar/today"): READ,
    ("GET", "/api/compat/wakatime/v1/users/{user_id}/summaries"): READ,
    ("POST", "/api/v1/admin/catalog/sync"): SESSION,
    ("GET", "/api/v1/admin/catalog/syncs"): SESSION,
    ("GET", "/api/v1/admin/catalog/syncs/{sync_id}/slots"): SESSION,
    ("GET", "/api/v1/auth/api-keys"): SESSION,
    ("POST", "/api/v1/auth/api-keys"): SESSION,
    ("DELETE", "/api/v1/auth/api-keys/{key_id}"): SESSION,
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): SESSION,
    ("POST", "/api/v1/auth/logout-all"): SESSION,
    ("POST", "/api/v1/auth/refresh"): PUBLIC,
    ("POST", "/api/v1/auth/register"): PUBLIC,
    ("GET", "/api/v1/auth/sessions"): SESSION,
    ("DELETE", "/api/v1/auth/sessions/{session_id}"): SESSION,
    ("GET", "/api/v1/editors/settings"): READ,
    ("GET", "/api/v1/editors/summary"): READ,
    ("PUT", "/api/v1/editors/settings"): WRITE,
    ("GET", "/api/v1/events"): READ,
    ("GET", "/api/v1/focus/days"): READ,
    ("GET", "/api/v1/focus/leaderboard"): READ,
    ("GET", "/api/v1/focus/sessions"): READ,
    ("GET", "/api/v1/me/today"): READ,
    ("POST", "/api/v1/focus/sessions"): WRITE,
    ("DELETE", "/api/v1/focus/sessions/{session_id}"): WRITE,
    ("POST", "/api/v1/sleep/clock-in"): WRITE,
    ("POST", "/api/v1/sleep/clock-out"): WRITE,
    ("GET", "/api/v1/sleep/following"): READ,
    ("GET", "/api/v1/sleep/rankings/weekly"): READ,
    ("GET", "/api/v1/sleep/records"): READ,
    ("POST", "/api/v1/sleep/records"): WRITE,
    ("DELETE", "/api/v1/sleep/records/{record_id}"): WRITE,
    ("GET", "/api/v1/sleep/records/{record_id}"): READ,
    ("PATCH", "/api/v1/sleep/records/{record_id}"): WRITE,
    ("POST", "/api/v1/usage/heartbeats"): USAGE,
    ("POST", "/api/v1/usage/heartbeats/bulk"): USAGE,
    ("POST", "/api/v1/usage/afk"): USAGE,
    ("GET", "/api/v1/usage/intervals"): READ,
    ("GET", "/api/v1/usage/report"): READ,
    ("GET", "/api/v1/usage/timeline"): READ,
    ("GET", "/api/v1/usage/categories"): READ,
    ("POST", "/api/v1/usage/categories"): WRITE,
    ("PUT", "/api/v1/usage/categories/{category_id}"): WRITE,
    ("DELETE", "/api/v1/usage/categories/{category_id}"): WRITE,
    ("GET", "/api/v1/users"): READ,
    ("DELETE", "/api/v1/users/me"): SESSION,
    ("GET", "/api/v1/users/me/export"): SESSION,
    ("POST", "/api/v1/users/me/import"): SESSION,
    ("GET", "/api/v1/users/me"): READ,
    ("PATCH", "/api/v1/users/me"): SESSION,
    ("GET", "/api/v1/users/me/followers"): READ,
    ("GET", "/api/v1/users/me/following"): READ,
    ("GET", "/api/v1/users/me/follow-requests"): READ,
    ("GET", "/api/v1/users/me/follow-requests/sent"): READ,
    ("POST", "/api/v1/users/me/follow-requests/{user_id}/approve"): WRITE,
    ("DELETE", "/api/v1/users/me/follow-requests/{user_id}"): WRITE,
    ("GET", "/api/v1/users/me/blocks"): READ,
    ("PUT", "/api/v1/users/me/blocks/{user_id}"): WRITE,
    ("DELETE", "/api/v1/users/me/blocks/{user_id}"): WRITE,
    ("DELETE", "/api/v1/users/me/following/{user_id}"): WRITE,
    ("PUT", "/api/v1/users/me/following/{user_id}"): WRITE,
    ("POST", "/api/v1/users/me/password"): SESSION,
    ("GET", "/api/v1/users/{user_id}"): PUBLIC,
    ("GET", "/api/v1/users/{user_id}/followers"): PUBLIC,
    ("GET", "/api/v1/users/{user_id}/following"): PUBLIC,
    ("GET", "/api/v1/users/{user_id}/streak"): READ,
    ("GET", "/docs"): PUBLIC,
    # The dashboard: its pages (a shell; without the session cookie, a redirect to sign-in),
    # its static files, and the browser's session routes.
    **{("GET", page.path): PUBLIC for page in PAGES},
    ("GET", "/static/{version}/{path}"): PUBLIC,
    ("POST", "/web/session"): PUBLIC,
    ("POST", "/web/account"): PUBLIC,
    ("POST", "/web/session/refresh"): BROWSER,
    ("DELETE", "/web/session"): SESSION,
    ("GET", "/health"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/search"): PUBLIC,
}


CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def every_route(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route FastAPI serves and of the fast lane; HEAD is its GET."""
    routes = {(route.method, route.path) for route in FAST_ROUTES}
    for context in iter_route_contexts(app.routes):
        methods = getattr(context.original_route, "methods", None) or set()
        path = CONVERTOR.sub(r"{\1}", context.path or "")  # as documented: {event_id}
        routes.update((method, path) for method in methods if method != "HEAD")
    return routes


async def new_key(
    client: AsyncClient, user: factories.TestUser, scopes: list[str] | None = None
) -> str:
    body: dict[str, object] = {"name": "watcher"}
    if scopes is not None:
        body["scopes"] = scopes
    response = await client.post("/api/v1/auth/api-keys", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def concrete(path: str, user: factories.TestUser) -> str:
    values = {
        "user_id": str(user.id),
        "bucket_id": "aw-watcher-window_host",
        "event_id": "1",
        "sync_id": "1",
        "category_id": "1",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), str(uuid.uuid4())), path)


async def call(client: AsyncClient, method: str, path: str, key: str) -> object:
    headers = {"Authorization": f"Bearer {key}"}
    if method in {"GET", "HEAD"}:
        return await client.request(method, path, headers=headers)
    return await client.request(method, path, json={}, headers=headers)


def refused(response: object, need: str) -> None:
    body = problem(response, 403)
    assert body["type"].endswith("/insufficient-scope"), body
    assert need in body["detail"], body


def judged(response: object, route: tuple[str, str], need: str) -> None:
    """A key's request to a route it may call: accepted, or, on a BROWSER route, a 401 for
    the missing cookie (the key counts for nothing there)."""
    if need == BROWSER:
        assert problem(response, 401)["type"].endswith("/unauthorized"), route
    else:
        accepted(response, route)


def accepted(response: object, route: tuple[str, str]) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    assert status not in {401, 403}, (route, status, response.text)  # type: ignore[attr-defined]


async def test_every_route_is_classified(app: FastAPI) -> None:
    routes = every_route(app)
    assert routes - REQUIRED.keys() == set(), "classify these routes in REQUIRED"
    assert REQUIRED.keys() - routes == set(), "these routes no longer exist"


async def test_a_default_key_sends_usage_and_reads_but_manages_nothing(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await create_user(app)
    key = await new_key(client, user)  # no scopes asked: the default, a watcher's
    for method, path in sorted(every_route(app)):
        need = REQUIRED[(method, path)]
        response = await call(client, method, concrete(path, user), key)
        if need in {WRITE, SESSION}:
            refused(response, need)
        else:
            judged(response, (method, path), need)
    # Nothing was managed: the account, its key and its session are all still there.
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 200
    listed = (await client.get("/api/v1/auth/api-keys", headers=user.headers)).json()["data"]
    assert [k["scopes"] for k in listed] == [["usage", "read"]]


async def test_no_key_manages_the_account_whatever_its_scopes(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await create_user(app)
    key = await new_key(client, user, ["usage", "read", "write"])
    for method, path in sorted(every_route(app)):
        need = REQUIRED[(method, path)]
        response = await call(client, method, concrete(path, user), key)
        if need == SESSION:
            refused(response, "device session")
        else:
            judged(response, (method, path), need)
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 200


async def test_a_key_holds_only_the_scopes_it_was_given(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app)
    writer = await new_key(client, user, ["write"])
    headers = {"Authorization": f"Bearer {writer}"}
    bed = await client.post(
        "/api/v1/sleep/clock-in", json={"at": "2026-11-20T22:00:00Z"}, headers=headers
    )
    assert bed.status_code == 201, bed.text
    refused(await client.get("/api/v1/sleep/records", headers=headers), "read")
    beat = {"timestamp": "2026-11-20T22:00:00Z", "app": "editor"}
    refused(await client.post("/api/v1/usage/heartbeats", json=beat, headers=headers), "usage")
    basic = {"Authorization": "Basic " + base64.b64encode(f"{writer}:x".encode()).decode()}
    refused(await client.get("/api/0/buckets/", headers=basic), "usage")


async def test_scopes_are_validated(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app)
    for scopes in ([], ["session"], ["admin"], ["read"] * 4, "read"):
        response = await client.post(
            "/api/v1/auth/api-keys", json={"name": "k", "scopes": scopes}, headers=user.headers
        )
        problem(response, 422)
    created = await client.post(
        "/api/v1/auth/api-keys",
        json={"name": "k", "scopes": ["write", "usage", "write"]},
        headers=user.headers,
    )
    assert created.json()["scopes"] == ["usage", "write"]


async def test_keys_made_before_scopes_get_the_default(app: FastAPI, client: AsyncClient) -> None:
    """Migration 0006's column default: what a key row written without scopes holds."""
    user = await create_user(app)
    async with app.state.services[Resources].engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO api_keys (id, user_id, name, key_hash, prefix) "
                "VALUES (:id, :user_id, 'old', :hash, 'rhk_old')"
            ),
            {"id": uuid.uuid4(), "user_id": user.id, "hash": uuid.uuid4().bytes * 2},
        )
    listed = (await client.get("/api/v1/auth/api-keys", headers=user.headers)).json()["data"]
    assert [k["scopes"] for k in listed] == [["usage", "read"]]


async def test_deleting_the_account_needs_a_session_and_the_password(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await create_user(app)
    key = await new_key(client, user, ["usage", "read", "write"])
    by_key = await client.request(
        "DELETE",
        "/api/v1/users/me",
        json={"password": PASSWORD},
        headers={"Authorization": f"Bearer {key}"},
    )
    refused(by_key, "device session")
    problem(await client.delete("/api/v1/users/me", headers=user.headers), 422)
    wrong = await client.request(
        "DELETE", "/api/v1/users/me", json={"password": "not it"}, headers=user.headers
    )
    assert problem(wrong, 403)["type"].endswith("/wrong-password")
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 200
    right = await client.request(
        "DELETE", "/api/v1/users/me", json={"password": PASSWORD}, headers=user.headers
    )
    assert right.status_code == 204, right.text


async def test_openapi_names_the_scope_of_each_operation(app: FastAPI, client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "bearer" in schema["components"]["securitySchemes"]
    for (method, path), need in REQUIRED.items():
        operation = schema["paths"].get(path, {}).get(method.lower())
        if operation is None:  # /docs, /openapi.json
            continue
        declared = {s for req in operation.get("security", []) for v in req.values() for s in v}
        assert declared == (set() if need in {PUBLIC, BROWSER} else {need}), (method, path)
        if need not in {PUBLIC, BROWSER}:
            assert "403" in operation["responses"], (method, path)
