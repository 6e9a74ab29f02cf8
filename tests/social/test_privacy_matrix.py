"""The privacy matrix: every read route, called as each of {stranger, requester, follower,
blocked, owner, and anonymous}, against the owner of a private account with a night, a focus
streak and followers.

The routes are read from the app itself (FastAPI's routes and the fast lane's FAST_ROUTES, as
tests/test_cross_user.py and tests/identity/test_scopes.py do), so a new read route fails this
test until it is classified below: in SHOWS_OTHERS (a route that may show another user's data,
and who sees the owner's there) or in OWN_ONLY (a route that shows the caller only their own).

Each viewer calls each route, concretised with the owner's ids where it takes one. Nothing of
the owner's (id, name, email, night, focus session) may appear in the answer of a viewer the
route does not list; a route taking the owner's id answers those viewers 404 (never 403); the
viewers it lists get the owner's data (a positive control: the matrix can fail). The whole walk
runs twice: on the very next requests after the follows, approvals and block (the caches as the
changes left them), and again once the feed jobs ran and every cache was filled.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from httpx import AsyncClient

from rhythm.api import FAST_ROUTES
from rhythm.platform.timeutil import iso_week
from rhythm.web.pages import PAGES
from tests import factories
from tests.factories import problem, zone_at_hour
from tests.sleep.test_feed_cache import drain

STRANGER, REQUESTER, FOLLOWER, BLOCKED, OWNER, ANONYMOUS = (
    "stranger",
    "requester",
    "follower",
    "blocked",
    "owner",
    "anonymous",
)
VIEWERS = (STRANGER, REQUESTER, FOLLOWER, BLOCKED, OWNER, ANONYMOUS)
SIGNED_IN = (STRANGER, REQUESTER, FOLLOWER, BLOCKED, OWNER)


@dataclass(frozen=True)
class Shows:
    """A read that may show another user's data: the viewers whose answer holds the owner's
    (all others' answers must not), and whether the answer names the owner for them (their id,
    night or focus session; a follow list of the owner's names the followers instead)."""

    viewers: frozenset[str]
    names_owner: bool = True


# Routes that may show another user's data, and to whom the owner's shows.
PROFILE = frozenset({STRANGER, REQUESTER, FOLLOWER, OWNER, ANONYMOUS})
APPROVED = frozenset({FOLLOWER, OWNER})
SHOWS_OTHERS: dict[str, Shows] = {
    # A profile stays visible, with its visibility, unless blocked.
    "/api/v1/users/{user_id}": Shows(PROFILE),
    "/api/v1/users": Shows(PROFILE - {ANONYMOUS}),  # search: signed in, blocked hidden
    # Private data: the owner's and the approved followers'.
    "/api/v1/users/{user_id}/streak": Shows(APPROVED),
    "/api/v1/users/{user_id}/followers": Shows(APPROVED, names_owner=False),
    "/api/v1/users/{user_id}/following": Shows(APPROVED, names_owner=False),
    "/api/v1/sleep/following": Shows(frozenset({FOLLOWER})),  # your own nights are not in it
    "/api/v1/sleep/rankings/weekly": Shows(APPROVED),
    "/api/v1/focus/leaderboard": Shows(APPROVED),
    "/api/v1/me/today": Shows(APPROVED),  # friends' nights; the owner's own day
    # The caller's lists of users: the owner is in the follower's following and in the
    # requester's pending requests, in nobody else's.
    "/api/v1/users/me/following": Shows(frozenset({FOLLOWER})),
    "/api/v1/users/me/followers": Shows(frozenset()),
    "/api/v1/users/me/follow-requests": Shows(frozenset()),
    "/api/v1/users/me/follow-requests/sent": Shows(frozenset({REQUESTER})),
    "/api/v1/users/me/blocks": Shows(frozenset()),
    # The caller's own data, naming the accounts of their follows and requests (id and name).
    "/api/v1/users/me/export": Shows(frozenset({FOLLOWER, REQUESTER, OWNER})),
}

# Routes that show the caller their own data only (or nobody's): nothing of the owner's may
# appear in another viewer's answer, whatever its status.
OWN_ONLY: set[str] = {
    "/api/v1/users/me",
    "/api/v1/auth/api-keys",
    "/api/v1/auth/sessions",
    "/api/v1/sleep/records",
    "/api/v1/sleep/records/{record_id}",
    "/api/v1/focus/sessions",
    "/api/v1/focus/days",
    "/api/v1/usage/categories",
    "/api/v1/usage/intervals",
    "/api/v1/usage/report",
    "/api/v1/usage/timeline",
    "/api/v1/editors/settings",
    "/api/v1/editors/summary",
    "/api/0/buckets/",
    "/api/0/buckets/{bucket_id}",
    "/api/0/buckets/{bucket_id}/events",
    "/api/0/buckets/{bucket_id}/events/count",
    "/api/0/buckets/{bucket_id}/export",
    "/api/0/export",
    "/api/0/info",
    "/api/compat/wakatime/v1/users/{user_id}/all_time_since_today",
    "/api/compat/wakatime/v1/users/{user_id}/projects",
    "/api/compat/wakatime/v1/users/{user_id}/statusbar/today",
    "/api/compat/wakatime/v1/users/{user_id}/summaries",
    # Nobody's: the catalog, the service's own state and documents, the dashboard's shells.
    "/api/v1/events",
    "/search",
    "/api/v1/admin/catalog/syncs",
    "/api/v1/admin/catalog/syncs/{sync_id}/slots",
    "/health",
    "/ready",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/static/{version}/{path}",
    *(page.path for page in PAGES),
}

CONVERTOR = re.compile(r"\{(\w+):\w+\}")
READS = {"GET", "HEAD"}


def read_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app reads with, from the app itself and the fast lane."""
    found = {(route.method, route.path) for route in FAST_ROUTES if route.method in READS}
    for context in iter_route_contexts(app.routes):
        methods = getattr(context, "methods", None) or set()
        path = CONVERTOR.sub(r"{\1}", context.path or "")
        found.update((method, path) for method in methods if method in READS)
    return found


def _ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


@dataclass
class World:
    """The owner (private, with a night, a focus streak and followers) and the viewers."""

    users: dict[str, factories.TestUser]
    keys: dict[str, str]
    record_id: str
    focus_session: str
    week: str
    zone: str
    marks: list[str] = field(default_factory=list)  # what names the owner in an answer

    @property
    def owner(self) -> factories.TestUser:
        return self.users[OWNER]

    def headers(self, viewer: str, path: str) -> dict[str, str]:
        if viewer == ANONYMOUS:
            return {}
        # ActivityWatch's and WakaTime's routes take an API key; the rest a device session's.
        if path.startswith(("/api/0/", "/api/compat/")):
            return {"Authorization": f"Bearer {self.keys[viewer]}"}
        return self.users[viewer].headers

    def concrete(self, route: str) -> str:
        values = {
            "user_id": str(self.owner.id),
            "record_id": self.record_id,
            "bucket_id": "aw-watcher-window_host",
            "sync_id": "1",
            "version": "v",
            "path": "app.js",
        }
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], route)

    def query(self, route: str) -> dict[str, str]:
        today = datetime.now(UTC).date().isoformat()
        return {
            "/api/v1/users": {"q": self.owner.name[:9]},
            "/api/v1/sleep/following": {"week": self.week},
            "/api/v1/sleep/rankings/weekly": {"week": self.week},
            "/api/v1/me/today": {"timezone": self.zone},
            "/api/v1/focus/days": {"from": today, "to": today},
            "/api/v1/editors/summary": {"from": today, "to": today},
            "/api/v1/usage/timeline": {"date": today},
            "/api/compat/wakatime/v1/users/{user_id}/summaries": {"start": today, "end": today},
        }.get(route, {})


async def _ok(response: Any) -> Any:
    assert response.status_code < 300, response.text
    return response


async def build_world(app: FastAPI, client: AsyncClient) -> World:
    tag = uuid.uuid4().hex[:8]
    users = {
        viewer: await factories.create_user(
            app, name=f"Ownerpriv-{tag}" if viewer == OWNER else f"Viewer {viewer}"
        )
        for viewer in SIGNED_IN
    }
    owner = users[OWNER]
    keys = {}
    for viewer, user in users.items():
        created = await _ok(
            await client.post(
                "/api/v1/auth/api-keys",
                json={"name": "watcher", "scopes": ["usage", "read"]},
                headers=user.headers,
            )
        )
        keys[viewer] = created.json()["key"]
    h = owner.headers
    await _ok(await client.patch("/api/v1/users/me", json={"visibility": "private"}, headers=h))
    # A night that ended ten minutes ago (today, in a zone where it is now about noon).
    sleep_at = _ago(hours=8, minutes=10)
    night = await _ok(
        await client.post(
            "/api/v1/sleep/records",
            json={
                "sleep_at": sleep_at.isoformat(),
                "wake_at": _ago(minutes=10).isoformat(),
                "sleep_timezone": "UTC",
            },
            headers=h,
        )
    )
    focus_session = f"focus-{tag}"
    await _ok(
        await client.post(
            "/api/v1/focus/sessions",
            json={
                "session_id": focus_session,
                "started_at": _ago(hours=2).isoformat(),
                "ended_at": _ago(hours=1).isoformat(),
                "timezone": "UTC",
            },
            headers=h,
        )
    )
    world = World(
        users,
        keys,
        night.json()["record"]["id"],
        focus_session,
        iso_week(sleep_at.date()),
        zone_at_hour(12),
    )
    world.marks = [str(owner.id), owner.name, owner.email, world.record_id, focus_session]
    # Every viewer's caches as a reader fills them: feeds built, streaks and blocks read.
    await drain(app)
    for viewer in SIGNED_IN:
        headers = users[viewer].headers
        await client.get("/api/v1/sleep/following", params={"week": world.week}, headers=headers)
        await client.get(f"/api/v1/users/{owner.id}/streak", headers=headers)
    # The requester asks; the follower and the blocked viewer are approved; then the owner
    # blocks the latter (which severs their follow).
    for viewer in (REQUESTER, FOLLOWER, BLOCKED):
        asked = await client.put(
            f"/api/v1/users/me/following/{owner.id}", headers=users[viewer].headers
        )
        assert asked.status_code == 202, asked.text
    for viewer in (FOLLOWER, BLOCKED):
        await _ok(
            await client.post(
                f"/api/v1/users/me/follow-requests/{users[viewer].id}/approve", headers=h
            )
        )
        # Read once as a follower: feeds and caches now hold the owner for them.
        await _ok(
            await client.get(
                "/api/v1/sleep/following",
                params={"week": world.week},
                headers=users[viewer].headers,
            )
        )
        await _ok(
            await client.get(f"/api/v1/users/{owner.id}/streak", headers=users[viewer].headers)
        )
    await _ok(await client.put(f"/api/v1/users/me/blocks/{users[BLOCKED].id}", headers=h))
    return world


def classify(route: str) -> Shows | str | None:
    if route in SHOWS_OTHERS:
        return SHOWS_OTHERS[route]
    return "own" if route in OWN_ONLY else None


async def walk(client: AsyncClient, app: FastAPI, world: World) -> int:
    """Every read route as every viewer; the number of calls checked."""
    checked = 0
    for method, route in sorted(read_routes(app)):
        kind = classify(route)
        assert kind is not None, f"{method} {route} is not classified"
        path = world.concrete(route)
        for viewer in VIEWERS:
            response = await client.request(
                method, path, params=world.query(route), headers=world.headers(viewer, path)
            )
            where = (method, route, viewer, response.status_code)
            assert response.status_code < 500, (*where, response.text)
            checked += 1
            if isinstance(kind, Shows) and viewer in kind.viewers:
                assert response.status_code == 200, (*where, response.text)
                if kind.names_owner and method == "GET":
                    assert any(mark in response.text for mark in world.marks), where
                continue
            if viewer == OWNER:
                continue  # the owner's own data, on the routes showing only the caller's
            # An id the caller sent may come back in a 404's detail: only the rest would leak.
            leaked = [m for m in world.marks if m in response.text and m not in path]
            assert not leaked, (*where, leaked)
            if "{user_id}" in route and isinstance(kind, Shows) and viewer != ANONYMOUS:
                # Another user's private data is a 404, never a 403.
                assert response.status_code == 404, where
                if method == "GET":
                    problem(response, 404)
            if "{user_id}" in route and isinstance(kind, Shows) and viewer == ANONYMOUS:
                assert response.status_code in (401, 404), where
    return checked


async def test_every_read_route_is_classified(app: FastAPI) -> None:
    routes = read_routes(app)
    unclassified = sorted(f"{m} {r}" for m, r in routes if classify(r) is None)
    assert not unclassified, (
        "Read routes the privacy matrix does not cover; add them to SHOWS_OTHERS (who may "
        f"see another user's data there) or to OWN_ONLY: {unclassified}"
    )
    assert len(routes) >= 50  # the enumeration does find the app's routes
    stale = sorted((SHOWS_OTHERS.keys() | OWN_ONLY) - {r for _, r in routes})
    assert not stale, f"routes the app no longer serves: {stale}"


async def test_nothing_private_leaks_to_any_viewer(app: FastAPI, client: AsyncClient) -> None:
    world = await build_world(app, client)
    # On the very next requests after the changes.
    checked = await walk(client, app, world)
    assert checked >= len(read_routes(app)) * len(VIEWERS)
    # Again once the fan-out jobs ran and every cache was filled by the first walk.
    await drain(app)
    await walk(client, app, world)
    # The counts: the requester and the blocked viewer count nowhere.
    profile = (
        await client.get(f"/api/v1/users/{world.owner.id}", headers=world.owner.headers)
    ).json()
    assert (profile["followers_count"], profile["following_count"]) == (1, 0)
    assert profile["visibility"] == "private"
