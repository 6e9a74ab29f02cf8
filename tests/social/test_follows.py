"""The follow graph through the HTTP API."""

from __future__ import annotations

import asyncio
import random
import uuid

from httpx import AsyncClient
from sqlalchemy import text

from rhythm.platform.resources import Resources
from tests.factories import create_user, problem


async def test_follow_is_201_then_200(app, client: AsyncClient) -> None:
    alice = await create_user(app)
    bob = await create_user(app, name="Bob")
    first = await client.put(f"/api/v1/users/me/following/{bob.id}", headers=alice.headers)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["user"] == {"id": str(bob.id), "name": "Bob"}
    second = await client.put(f"/api/v1/users/me/following/{bob.id}", headers=alice.headers)
    assert second.status_code == 200
    assert second.json() == body


async def test_follow_errors(app, client: AsyncClient) -> None:
    alice = await create_user(app)
    problem(await client.put(f"/api/v1/users/me/following/{alice.id}", headers=alice.headers), 422)
    problem(
        await client.put(f"/api/v1/users/me/following/{uuid.uuid4()}", headers=alice.headers), 404
    )
    problem(await client.put("/api/v1/users/me/following/not-a-uuid", headers=alice.headers), 422)
    problem(await client.put(f"/api/v1/users/me/following/{alice.id}"), 401)


async def test_unfollow(app, client: AsyncClient) -> None:
    alice = await create_user(app)
    bob = await create_user(app)
    problem(await client.delete(f"/api/v1/users/me/following/{bob.id}", headers=alice.headers), 404)
    await client.put(f"/api/v1/users/me/following/{bob.id}", headers=alice.headers)
    response = await client.delete(f"/api/v1/users/me/following/{bob.id}", headers=alice.headers)
    assert response.status_code == 204
    problem(await client.delete(f"/api/v1/users/me/following/{bob.id}", headers=alice.headers), 404)


async def test_lists_are_newest_first_and_paginated(app, client: AsyncClient) -> None:
    viewer = await create_user(app)
    others = [await create_user(app, name=f"F{i}") for i in range(5)]
    for other in others:
        await client.put(f"/api/v1/users/me/following/{other.id}", headers=viewer.headers)
        await client.put(f"/api/v1/users/me/following/{viewer.id}", headers=other.headers)
    for path in ["/api/v1/users/me/following", f"/api/v1/users/{viewer.id}/following"]:
        ids: list[str] = []
        cursor = None
        while True:
            params: dict[str, object] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get(path, params=params, headers=viewer.headers)).json()
            assert len(page["data"]) <= 2
            ids.extend(item["id"] for item in page["data"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert ids == [str(o.id) for o in reversed(others)]
    followers = (await client.get("/api/v1/users/me/followers", headers=viewer.headers)).json()
    assert [f["id"] for f in followers["data"]] == [str(o.id) for o in reversed(others)]
    assert {"id", "name", "followed_at"} == followers["data"][0].keys()
    # Public: readable by another user and anonymously.
    stranger = await create_user(app)
    seen = await client.get(f"/api/v1/users/{viewer.id}/followers", headers=stranger.headers)
    assert len(seen.json()["data"]) == 5
    anonymous = await client.get(f"/api/v1/users/{viewer.id}/following")
    assert anonymous.status_code == 200 and len(anonymous.json()["data"]) == 5
    profile = (await client.get(f"/api/v1/users/{viewer.id}", headers=stranger.headers)).json()
    assert profile == {
        "id": str(viewer.id),
        "name": viewer.name,
        "visibility": "public",
        "followers_count": 5,
        "following_count": 5,
    }


async def test_which_of_some_users_you_follow(app, client: AsyncClient) -> None:
    viewer = await create_user(app)
    followed = [await create_user(app, name=f"In{i}") for i in range(3)]
    strangers = [await create_user(app, name=f"Out{i}") for i in range(2)]
    for other in followed:
        await client.put(f"/api/v1/users/me/following/{other.id}", headers=viewer.headers)
    asked = [followed[0], strangers[0], followed[2], strangers[1]]
    response = await client.get(
        "/api/v1/users/me/following",
        params=[("user_id", str(u.id)) for u in asked],
        headers=viewer.headers,
    )
    assert response.status_code == 200, response.text
    assert [e["id"] for e in response.json()["data"]] == [str(followed[2].id), str(followed[0].id)]
    # Paginated like the whole list, in the same order.
    first = await client.get(
        "/api/v1/users/me/following",
        params=[("limit", "1"), *(("user_id", str(u.id)) for u in asked)],
        headers=viewer.headers,
    )
    cursor = first.json()["next_cursor"]
    assert [e["id"] for e in first.json()["data"]] == [str(followed[2].id)] and cursor
    rest = await client.get(
        "/api/v1/users/me/following",
        params=[("cursor", cursor), *(("user_id", str(u.id)) for u in asked)],
        headers=viewer.headers,
    )
    assert [e["id"] for e in rest.json()["data"]] == [str(followed[0].id)]
    assert rest.json()["next_cursor"] is None
    # Bounded: at most 100 ids, each a UUID.
    too_many = [("user_id", str(uuid.uuid4())) for _ in range(101)]
    problem(
        await client.get("/api/v1/users/me/following", params=too_many, headers=viewer.headers),
        422,
    )
    problem(
        await client.get(
            "/api/v1/users/me/following", params={"user_id": "nope"}, headers=viewer.headers
        ),
        422,
    )


async def test_lists_of_unknown_user_are_404(app, client: AsyncClient) -> None:
    user = await create_user(app)
    for suffix in ["", "/following", "/followers"]:
        problem(
            await client.get(f"/api/v1/users/{uuid.uuid4()}{suffix}", headers=user.headers), 404
        )


async def test_fifty_concurrent_follow_and_unfollow_keep_counts_exact(
    app, client: AsyncClient
) -> None:
    alice = await create_user(app)
    bob = await create_user(app)
    rng = random.Random(7)
    calls = []
    for _ in range(50):
        if rng.random() < 0.5:
            calls.append(client.put(f"/api/v1/users/me/following/{bob.id}", headers=alice.headers))
        else:
            calls.append(
                client.delete(f"/api/v1/users/me/following/{bob.id}", headers=alice.headers)
            )
    responses = await asyncio.gather(*calls)
    assert {r.status_code for r in responses} <= {200, 201, 204, 404}
    async with app.state.services[Resources].engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT count(*) FROM follows WHERE follower_id = :a AND followee_id = :b"),
                {"a": alice.id, "b": bob.id},
            )
        ).scalar_one()
    assert rows in (0, 1)
    bob_profile = (await client.get(f"/api/v1/users/{bob.id}", headers=alice.headers)).json()
    alice_profile = (await client.get(f"/api/v1/users/{alice.id}", headers=alice.headers)).json()
    assert bob_profile["followers_count"] == rows
    assert alice_profile["following_count"] == rows
    # Exactly one of the creating calls can have created the current row.
    following = (await client.get("/api/v1/users/me/following", headers=alice.headers)).json()
    assert len(following["data"]) == rows
