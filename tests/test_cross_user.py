"""The cross-user matrix: user B calls every route that takes an id, with every method it
serves, using user A's ids. Owned objects answer 404 problem+json and A's data is unchanged.

The routes are read from the app itself (FastAPI's routes and the fast lane's FAST_ROUTES), so a
new route with a path parameter fails this test until it is classified below: either OWNED
(how A's ids fill its path, and the body a valid request needs) or NOT_OWNED (why B's answer is
not a 404, and which answer it is).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from httpx import AsyncClient

from rhythm.api import FAST_ROUTES
from tests import factories
from tests.factories import create_user, problem


@dataclass
class Owner:
    """A user, an API key of theirs, and the ids of the objects they own."""

    user: factories.TestUser
    api_key: str
    ids: dict[str, str]

    def headers_for(self, path: str) -> dict[str, str]:
        # ActivityWatch's and WakaTime's routes take an API key; the rest a device session's.
        if path.startswith(("/api/0/", "/api/compat/")):
            return {"Authorization": f"Bearer {self.api_key}"}
        return self.user.headers


def _ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


AW_EVENT = {"timestamp": "", "duration": 5.0, "data": {"app": "editor", "title": "notes"}}
WAKA = "/api/compat/wakatime/v1/users/{user_id}"
WAKA_DAY = "2026-09-21"
WAKA_BEAT = {"entity": "/src/app.py", "type": "file", "time": 1_790_000_000.0, "project": "p"}


def _aw_event() -> dict[str, Any]:
    return {**AW_EVENT, "timestamp": _ago(hours=1)}


# Routes whose path names an object a user owns: how A's ids fill the path. B must get a 404
# with a problem+json body, and nothing of A's may change.
OWNED: dict[str, dict[str, str]] = {
    "/api/v1/auth/sessions/{session_id}": {"session_id": "device_session"},
    "/api/v1/auth/api-keys/{key_id}": {"key_id": "api_key"},
    "/api/v1/sleep/records/{record_id}": {"record_id": "sleep_record"},
    "/api/v1/focus/sessions/{session_id}": {"session_id": "focus_session"},
    "/api/v1/usage/categories/{category_id}": {"category_id": "usage_category"},
    "/api/0/buckets/{bucket_id}": {"bucket_id": "aw_bucket"},
    "/api/0/buckets/{bucket_id}/heartbeat": {"bucket_id": "aw_bucket"},
    "/api/0/buckets/{bucket_id}/events": {"bucket_id": "aw_bucket"},
    "/api/0/buckets/{bucket_id}/events/count": {"bucket_id": "aw_bucket"},
    "/api/0/buckets/{bucket_id}/export": {"bucket_id": "aw_bucket"},
    "/api/0/buckets/{bucket_id}/events/{event_id}": {
        "bucket_id": "aw_bucket",
        "event_id": "aw_event",
    },
    WAKA + "/heartbeats": {"user_id": "user"},
    WAKA + "/heartbeats.bulk": {"user_id": "user"},
    WAKA + "/statusbar/today": {"user_id": "user"},
    WAKA + "/summaries": {"user_id": "user"},
    WAKA + "/all_time_since_today": {"user_id": "user"},
    WAKA + "/projects": {"user_id": "user"},
}

# Bodies and query strings of valid requests, so that the answer is about the id, not the body.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/0/buckets/{bucket_id}"): {"type": "currentwindow", "client": "b"},
    ("POST", "/api/0/buckets/{bucket_id}/heartbeat"): "aw_event",
    ("POST", "/api/0/buckets/{bucket_id}/events"): "aw_event",
    ("PATCH", "/api/v1/sleep/records/{record_id}"): {"rating": 1, "note": "not yours"},
    ("PUT", "/api/v1/usage/categories/{category_id}"): {
        "name": ["Taken"],
        "rule": {"type": "regex", "regex": "b"},
    },
    ("POST", WAKA + "/heartbeats"): {**WAKA_BEAT, "time": 1_790_000_001.0},
    ("POST", WAKA + "/heartbeats.bulk"): [{**WAKA_BEAT, "time": 1_790_000_001.0}],
}
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/api/0/buckets/{bucket_id}/heartbeat"): {"pulsetime": "60"},
    ("GET", WAKA + "/summaries"): {"start": WAKA_DAY, "end": WAKA_DAY},
}


@dataclass(frozen=True)
class NotOwned:
    """A route whose id B may use on purpose, and the statuses B gets with A's id."""

    reason: str
    statuses: frozenset[int]


PUBLIC_PROFILE = NotOwned(
    "User ids are public: profiles are public by design, and so are a public account's follow "
    "lists (A's is public; tests/social/test_privacy_matrix.py covers private ones).",
    frozenset({200}),
)
NOT_OWNED: dict[tuple[str, str], NotOwned] = {
    ("GET", "/api/v1/users/{user_id}"): PUBLIC_PROFILE,
    ("GET", "/api/v1/users/{user_id}/following"): PUBLIC_PROFILE,
    ("GET", "/api/v1/users/{user_id}/followers"): PUBLIC_PROFILE,
    ("GET", "/api/v1/users/{user_id}/streak"): NotOwned(
        "Streaks are public to any signed-in user (profiles show them).", frozenset({200})
    ),
    ("HEAD", "/api/v1/users/{user_id}/streak"): NotOwned(
        "The fast lane's HEAD twin of the public streak.", frozenset({200})
    ),
    ("PUT", "/api/v1/users/me/following/{user_id}"): NotOwned(
        "Acts on the caller's own follow list: B follows A (A gains a follower, nothing else).",
        frozenset({201}),
    ),
    ("DELETE", "/api/v1/users/me/following/{user_id}"): NotOwned(
        "Acts on the caller's own follow list: B unfollows A again.", frozenset({204})
    ),
    ("PUT", "/api/v1/users/me/blocks/{user_id}"): NotOwned(
        "Acts on the caller's own blocks: B blocks A (A loses nothing of its own).",
        frozenset({201}),
    ),
    ("DELETE", "/api/v1/users/me/blocks/{user_id}"): NotOwned(
        "Acts on the caller's own blocks: B unblocks A again.", frozenset({204})
    ),
    ("POST", "/api/v1/users/me/follow-requests/{user_id}/approve"): NotOwned(
        "Acts on the requests to follow the caller: A never asked to follow B, a 404.",
        frozenset({404}),
    ),
    ("DELETE", "/api/v1/users/me/follow-requests/{user_id}"): NotOwned(
        "Acts on the requests to follow the caller: A never asked to follow B, a 404.",
        frozenset({404}),
    ),
    ("POST", "/api/0/buckets/{bucket_id}"): NotOwned(
        "Bucket ids are names in each user's own namespace: B creates B's own bucket of that "
        "name, A's is untouched.",
        frozenset({200}),
    ),
    ("GET", "/static/{version}/{path}"): NotOwned(
        "The dashboard's static files are the same for everyone; an unknown path is a 404 "
        "for anyone.",
        frozenset({404}),
    ),
    ("GET", "/api/v1/admin/catalog/syncs/{sync_id}/slots"): NotOwned(
        "Syncs belong to no user; only administrators may read them, whatever the id.",
        frozenset({403}),
    ),
}
# The ids NOT_OWNED routes are called with (any id of the right kind).
NOT_OWNED_IDS = {"user_id": "user", "sync_id": "sync", "bucket_id": "aw_bucket"}
# A static file's version and path are no one's ids: A's user id stands in for both.
NOT_OWNED_IDS |= {"version": "user", "path": "user"}


CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def routes_with_ids(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves whose path has a parameter, from the app itself."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        path: str | None = getattr(context, "path", None)
        path = path and CONVERTOR.sub(r"{\1}", path)  # as documented: {event_id}
        methods = getattr(context, "methods", None) or set()
        if path and "{" in path:
            found.update((method, path) for method in methods)
    found.update((route.method, route.path) for route in FAST_ROUTES if "{" in route.path)
    return found


async def _owner(client: AsyncClient, app: FastAPI) -> Owner:
    """A user with one of every object a route above can name."""
    user = await create_user(app)
    h = user.headers
    # Names chosen by the client are unique per owner, so B has none of A's.
    tag = user.id.hex[:8]
    ids = {"user": str(user.id), "sync": "1", "aw_bucket": f"aw-watcher-window_{tag}"}

    key = await client.post("/api/v1/auth/api-keys", json={"name": "tracker"}, headers=h)
    assert key.status_code == 201, key.text
    ids["api_key"] = key.json()["id"]
    owner = Owner(user, key.json()["key"], ids)

    sessions = await client.get("/api/v1/auth/sessions", headers=h)
    ids["device_session"] = sessions.json()["data"][0]["id"]

    record = await client.post(
        "/api/v1/sleep/records",
        json={"sleep_at": _ago(hours=30), "wake_at": _ago(hours=22)},
        headers=h,
    )
    assert record.status_code == 201, record.text
    ids["sleep_record"] = record.json()["record"]["id"]

    focus = await client.post(
        "/api/v1/focus/sessions",
        json={
            "session_id": f"focus-{tag}",
            "started_at": _ago(hours=3),
            "ended_at": _ago(hours=2),
            "timezone": "UTC",
        },
        headers=h,
    )
    assert focus.status_code == 201, focus.text
    ids["focus_session"] = f"focus-{tag}"

    category = await client.post(
        "/api/v1/usage/categories",
        json={"name": ["Mine"], "rule": {"type": "regex", "regex": "a"}},
        headers=h,
    )
    assert category.status_code == 201, category.text
    ids["usage_category"] = str(category.json()["id"])

    aw = owner.headers_for("/api/0/")
    bucket_path = f"/api/0/buckets/{ids['aw_bucket']}"
    bucket = await client.post(bucket_path, json={"type": "currentwindow"}, headers=aw)
    assert bucket.status_code == 200, bucket.text
    inserted = await client.post(bucket_path + "/events", json=_aw_event(), headers=aw)
    assert inserted.status_code == 200, inserted.text
    events = await client.get(bucket_path + "/events", headers=aw)
    ids["aw_event"] = str(events.json()[0]["id"])

    beats = [WAKA_BEAT, {**WAKA_BEAT, "time": WAKA_BEAT["time"] + 60}]
    waka = _fill(WAKA, {"user_id": "current"})
    sent = await client.post(waka + "/heartbeats.bulk", json=beats, headers=aw)
    assert [s for _, s in sent.json()["responses"]] == [201, 201], sent.text
    return owner


async def _snapshot(client: AsyncClient, owner: Owner) -> dict[str, Any]:
    """Everything of the owner's that B's calls could touch, read back as the owner."""
    reads = {
        "me": "/api/v1/users/me",
        "sessions": "/api/v1/auth/sessions",
        "api_keys": "/api/v1/auth/api-keys",
        "sleep": "/api/v1/sleep/records",
        "record": f"/api/v1/sleep/records/{owner.ids['sleep_record']}",
        "focus": "/api/v1/focus/sessions",
        "categories": "/api/v1/usage/categories",
        "following": "/api/v1/users/me/following",
        "followers": "/api/v1/users/me/followers",
        "buckets": "/api/0/buckets/",
        "bucket": f"/api/0/buckets/{owner.ids['aw_bucket']}",
        "events": f"/api/0/buckets/{owner.ids['aw_bucket']}/events",
        "streak": f"/api/v1/users/{owner.user.id}/streak",
        "editor_days": _fill(WAKA, {"user_id": "current"})
        + f"/summaries?start={WAKA_DAY}&end={WAKA_DAY}",
        "editor_projects": _fill(WAKA, {"user_id": "current"}) + "/projects",
    }
    taken: dict[str, Any] = {}
    for name, path in reads.items():
        response = await client.get(path, headers=owner.headers_for(path))
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        if name in {"sessions", "api_keys"}:
            # last_used_at moves whenever the owner reads; what matters is which exist.
            body = sorted(item["id"] for item in body["data"])
        taken[name] = body
    return taken


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no id for a parameter of {path}"
    return path


def classify(method: str, route: str) -> NotOwned | dict[str, str] | None:
    """A route's NOT_OWNED entry, else how OWNED fills its ids, else None (unclassified)."""
    return NOT_OWNED.get((method, route)) or OWNED.get(route)


async def _call(client: AsyncClient, caller: Owner, method: str, route: str, path: str) -> Any:
    body = BODIES.get((method, route))
    if body == "aw_event":
        body = _aw_event()
    return await client.request(
        method,
        path,
        json=body,
        params=QUERIES.get((method, route)),
        headers=caller.headers_for(path),
    )


async def test_every_route_with_an_id_is_classified(app: FastAPI) -> None:
    routes = routes_with_ids(app)
    unclassified = sorted(
        f"{method} {path}" for method, path in routes if classify(method, path) is None
    )
    assert not unclassified, (
        "Routes with an id that the cross-user matrix does not cover; add them to OWNED "
        f"(with a fixture in _owner creating the object) or to NOT_OWNED: {unclassified}"
    )
    assert len(routes) >= 20  # the enumeration does find the app's routes
    stale = [key for key in NOT_OWNED if key not in routes]
    assert not stale, f"NOT_OWNED names routes the app no longer serves: {stale}"


async def test_another_users_ids_answer_404_and_change_nothing(
    client: AsyncClient, app: FastAPI
) -> None:
    a = await _owner(client, app)
    b = await _owner(client, app)
    before = await _snapshot(client, a)

    # Routes that act on B's own namespace (NOT_OWNED) come last: B's bucket named like A's
    # would otherwise answer the owned routes. On one path, DELETE comes last.
    routes = sorted(
        routes_with_ids(app),
        key=lambda r: (isinstance(classify(*r), NotOwned), r[1], r[0] == "DELETE", r[0]),
    )
    for method, route in routes:
        kind = classify(method, route)
        if isinstance(kind, NotOwned):
            params = {p: a.ids[k] for p, k in NOT_OWNED_IDS.items() if "{" + p + "}" in route}
            response = await _call(client, b, method, route, _fill(route, params))
            assert response.status_code in kind.statuses, (method, route, response.text)
            if response.status_code >= 400:
                problem(response, response.status_code)
            continue
        assert kind is not None, f"{method} {route} is not classified"
        missing = [name for name in kind.values() if name not in a.ids]
        assert not missing, f"{method} {route}: no fixture in _owner creates a {missing}"
        path = _fill(route, {param: a.ids[name] for param, name in kind.items()})
        response = await _call(client, b, method, route, path)
        assert response.status_code == 404, (method, route, response.status_code, response.text)
        problem(response, 404)

    # B's own bucket with A's event id.
    mixed = await client.delete(
        f"/api/0/buckets/{b.ids['aw_bucket']}/events/{a.ids['aw_event']}",
        headers=b.headers_for("/api/0/"),
    )
    problem(mixed, 404)

    assert await _snapshot(client, a) == before


async def test_unknown_ids_answer_like_another_users(client: AsyncClient, app: FastAPI) -> None:
    """A's 404 for B's id is the same as for an id nobody has: the status leaks nothing."""
    b = await _owner(client, app)
    unknown = {  # of every kind OWNED names
        "device_session": str(uuid.uuid4()),
        "api_key": str(uuid.uuid4()),
        "sleep_record": str(uuid.uuid4()),
        "focus_session": "nobody-has-this-session",
        "aw_bucket": "nobody-has-this-bucket",
        "aw_event": "987654321",
        "usage_category": "987654321",
        "user": str(uuid.uuid4()),
    }
    for method, route in sorted(routes_with_ids(app)):
        kind = classify(method, route)
        if not isinstance(kind, dict):
            continue
        path = _fill(route, {param: unknown[name] for param, name in kind.items()})
        response = await _call(client, b, method, route, path)
        assert response.status_code == 404, (method, route, response.text)
        problem(response, 404)
