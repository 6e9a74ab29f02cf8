"""The fast lane (api.FastLane, platform.http.fastroute) against FastAPI's routes generated from
the same declarations.

To send a request through FastAPI's route alone, the running app's fast lane is swapped for an
empty one for that request (`fastapi_only`): same app, same state, same caches, so any
difference in the answer comes from the lane.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rhythm.api import FAST_ROUTES, FastLane
from tests.factories import create_user, problem

LANE = FastLane(FAST_ROUTES)

# A fixed id: parametrised ids must be the same in every xdist worker.
SOME_USER = "7d0c2f4e-1b7a-4c1e-9a55-3f6d2b8e9c10"


def scope(method: str, path: str, kind: str = "http") -> dict[str, Any]:
    return {"type": kind, "method": method, "path": path, "query_string": b"", "headers": []}


def matched(method: str, path: str, kind: str = "http") -> tuple[str | None, dict[str, Any]]:
    """The name of the fast route a request goes to (None: FastAPI's), and its scope."""
    request = scope(method, path, kind)
    route = LANE.match(request)
    return (None if route is None else route.endpoint.__self__.name), request


def test_exact_routes_are_taken_before_templated_ones() -> None:
    assert matched("GET", "/api/v1/users/me")[0] == "me"
    assert matched("GET", "/api/v1/sleep/following")[0] == "following"
    assert matched("POST", "/api/v1/usage/heartbeats")[0] == "heartbeat"
    assert matched("GET", "/search")[0] == "search"


def test_templated_routes_put_their_parameters_in_the_scope() -> None:
    user_id = str(uuid.uuid4())
    name, request = matched("GET", f"/api/v1/users/{user_id}/streak")
    assert name == "user_streak"
    assert request["path_params"] == {"user_id": user_id}
    name, request = matched("POST", "/api/0/buckets/aw-watcher-window_host/heartbeat")
    assert name == "aw_heartbeat"
    assert request["path_params"] == {"bucket_id": "aw-watcher-window_host"}


def test_me_streak_is_a_streak_path_not_the_profile() -> None:
    # `me` is not a user id: the streak route takes it, and its validation refuses it.
    name, request = matched("GET", "/api/v1/users/me/streak")
    assert name == "user_streak"
    assert request["path_params"] == {"user_id": "me"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/users/me"),  # another method: FastAPI answers (405)
        ("HEAD", "/api/v1/users/me"),  # HEAD is FastAPI's generated route
        ("PUT", f"/api/v1/users/{SOME_USER}/streak"),  # the template, another method
        ("GET", f"/api/v1/users/{SOME_USER}/streak/more"),  # a longer path
        ("GET", "/api/v1/users//streak"),  # an empty parameter
        ("GET", "/api/v1/users/me/"),
        ("GET", "/api/v1/users"),
        ("GET", "/api/0/buckets/x/heartbeat"),  # the template, another method
        ("POST", "/api/0/buckets/a/b/heartbeat"),  # a parameter does not span segments
    ],
)
def test_anything_else_goes_to_fastapi(method: str, path: str) -> None:
    assert matched(method, path)[0] is None


def test_only_http_is_matched() -> None:
    assert matched("GET", "/api/v1/users/me", kind="websocket")[0] is None


@contextmanager
def fastapi_only(app: FastAPI) -> Iterator[None]:
    app.fast_lane = FastLane([])  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del app.fast_lane  # type: ignore[attr-defined]


async def both_lanes(
    app: FastAPI, client: AsyncClient, method: str, url: str, **options: Any
) -> tuple[Response, Response]:
    fast = await client.request(method, url, **options)
    with fastapi_only(app):
        slow = await client.request(method, url, **options)
    return fast, slow


def same_answer(fast: Response, slow: Response) -> None:
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    assert fast.headers.get("content-type") == slow.headers.get("content-type")
    assert fast.content == slow.content


def test_fastapi_only_turns_the_fast_lane_off(app: FastAPI) -> None:
    # What makes the comparisons below mean something: the second request is FastAPI's.
    request = scope("GET", "/api/v1/users/me")
    assert app.fast_lane.match(request) is not None  # type: ignore[attr-defined]
    with fastapi_only(app):
        assert app.fast_lane.match(request) is None  # type: ignore[attr-defined]
    assert app.fast_lane.match(request) is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/users/me/streak", "path.user_id"),  # `me` is not a user id
        ("/api/v1/sleep/following?week=2026-W01%0A", "query.week"),  # no raw newline out
    ],
)
async def test_the_same_422_on_both_lanes(
    app: FastAPI, client: AsyncClient, url: str, field: str
) -> None:
    user = await create_user(app)
    fast, slow = await both_lanes(app, client, "GET", url, headers=user.headers)
    body = problem(fast, 422)
    assert [e["field"] for e in body["errors"]] == [field]
    assert "\n" not in fast.text
    same_answer(fast, slow)


async def test_several_bad_parameters_are_one_422_on_both_lanes(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await create_user(app)
    fast, slow = await both_lanes(
        app,
        client,
        "GET",
        "/api/v1/sleep/following?limit=0&week=x&cursor=" + "c" * 600,
        headers=user.headers,
    )
    body = problem(fast, 422)
    assert [e["field"] for e in body["errors"]] == ["query.week", "query.limit", "query.cursor"]
    same_answer(fast, slow)


async def test_head_answers_as_get_without_the_fast_lane(app: FastAPI, client: AsyncClient) -> None:
    user = await create_user(app)
    for path in ("/api/v1/users/me", "/api/v1/sleep/following", f"/api/v1/users/{user.id}/streak"):
        head = await client.head(path, headers=user.headers)
        get = await client.get(path, headers=user.headers)
        assert head.status_code == get.status_code == 200, (path, head.text)
        assert head.headers["content-type"] == get.headers["content-type"]
    assert (await client.head("/api/v1/users/me")).status_code == 401
    assert (
        await client.head("/api/v1/sleep/following?limit=0", headers=user.headers)
    ).status_code == 422


# Fuzzed query strings: keys from each route's own and strangers, values of every awkward kind.
VALUES = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=4),  # control characters
    st.integers().map(str),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1",
            "100",
            "101",
            "1e308",
            "-1e309",
            "nan",
            "inf",
            "-0",
            "86400",
            "86400.0001",
            "99999999999999999999999999999",
            "2026-W01",
            "2026-W01\n",
            "1969-W52",
            "2200-W01",
            "2026-W53",
            "2025-01-01",
            "2025-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "\x00",
            "%",
            "ÿ",
            "😀",
        ]
    ),
)
KEYS = st.one_of(
    st.sampled_from(
        ["week", "limit", "cursor", "pulsetime", "starts_at", "ends_at", "user_id", "q", ""]
    ),
    st.text(max_size=6),
)
QUERIES = st.lists(st.tuples(KEYS, VALUES), max_size=5).map(
    lambda pairs: "&".join(quote(k, safe="") + "=" + quote(v, safe="") for k, v in pairs)
)


@pytest.fixture
async def fuzz_setup(app: FastAPI, client: AsyncClient) -> dict[str, Any]:
    user = await create_user(app)
    response = await client.post(
        "/api/v1/auth/api-keys", json={"name": "fuzz"}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    key = response.json()["key"]
    response = await client.post(
        "/api/0/buckets/fuzz-bucket",
        json={"type": "currentwindow"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    return {"user": user, "key": key, "at": at}


def requests_for(route_path: str, method: str, setup: dict[str, Any]) -> dict[str, Any]:
    user = setup["user"]
    path = route_path.replace("{user_id}", str(user.id)).replace("{bucket_id}", "fuzz-bucket")
    options: dict[str, Any] = {"headers": user.headers}
    if route_path.startswith("/api/0/"):
        options["headers"] = {"Authorization": f"Bearer {setup['key']}"}
        options["json"] = {"timestamp": setup["at"], "duration": 0, "data": {"app": "fuzz"}}
    elif method == "POST":
        options["json"] = {"timestamp": setup["at"], "app": "fuzz"}
    return {"path": path, **options}


@pytest.mark.parametrize("route", FAST_ROUTES, ids=[r.name for r in FAST_ROUTES])
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@given(query=QUERIES)
async def test_fuzzed_queries_answer_alike_on_both_lanes(
    app: FastAPI, client: AsyncClient, fuzz_setup: dict[str, Any], route: Any, query: str
) -> None:
    request = requests_for(route.path, route.method, fuzz_setup)
    path = request.pop("path")
    url = f"{path}?{query}" if query else path
    fast, slow = await both_lanes(app, client, route.method, url, **request)
    same_answer(fast, slow)
    assert fast.status_code < 500, fast.text
