"""Private accounts, follow requests and blocks through the HTTP API: the contract's statuses and
bodies, the counts, and every read's answer on the very next request after a change."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import event, text

from rhythm.platform.redis import RedisClient
from rhythm.platform.resources import Resources
from rhythm.platform.timeutil import iso_week
from rhythm.sleep.feed_cache import feed_key
from rhythm.social.blocks_cache import blocking_key
from rhythm.social.service import MAX_BLOCKS
from tests import factories
from tests.conftest import client_for, make_settings, started
from tests.factories import create_user, problem
from tests.sleep.test_feed_cache import drain

V1 = "/api/v1"


def _ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


async def set_visibility(client: AsyncClient, user: factories.TestUser, visibility: str) -> None:
    response = await client.patch(
        f"{V1}/users/me", json={"visibility": visibility}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["visibility"] == visibility


async def private_user(
    app: FastAPI, client: AsyncClient, name: str | None = None
) -> factories.TestUser:
    user = await create_user(app, name=name)
    await set_visibility(client, user, "private")
    return user


async def follow(client: AsyncClient, viewer: factories.TestUser, other: factories.TestUser) -> Any:
    return await client.put(f"{V1}/users/me/following/{other.id}", headers=viewer.headers)


async def approve(
    client: AsyncClient, owner: factories.TestUser, requester: factories.TestUser
) -> Any:
    return await client.post(
        f"{V1}/users/me/follow-requests/{requester.id}/approve", headers=owner.headers
    )


async def block(client: AsyncClient, blocker: factories.TestUser, other: factories.TestUser) -> Any:
    return await client.put(f"{V1}/users/me/blocks/{other.id}", headers=blocker.headers)


async def listed(client: AsyncClient, user: factories.TestUser, path: str) -> list[str]:
    """The ids of a whole list, page after page (two at a time, so the cursor is used)."""
    ids: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get(V1 + path, params=params, headers=user.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [item["user"]["id"] if "user" in item else item["id"] for item in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def counts(client: AsyncClient, user: factories.TestUser) -> tuple[int, int]:
    body = (await client.get(f"{V1}/users/{user.id}", headers=user.headers)).json()
    return body["followers_count"], body["following_count"]


async def night(client: AsyncClient, user: factories.TestUser) -> str:
    """A night of last week's Tuesday, in the owner's previous ISO week."""
    response = await client.post(
        f"{V1}/sleep/records",
        json={"sleep_at": _ago(hours=30), "wake_at": _ago(hours=22), "sleep_timezone": "UTC"},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    record_id: str = response.json()["record"]["id"]
    return record_id


def night_week() -> str:
    return iso_week((datetime.now(UTC) - timedelta(hours=30)).date())


async def feed_ids(client: AsyncClient, viewer: factories.TestUser) -> list[str]:
    response = await client.get(
        f"{V1}/sleep/following", params={"week": night_week()}, headers=viewer.headers
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


async def streak_status(
    client: AsyncClient, viewer: factories.TestUser, owner: factories.TestUser
) -> int:
    response = await client.get(f"{V1}/users/{owner.id}/streak", headers=viewer.headers)
    if response.status_code != 200:
        problem(response, response.status_code)
    return response.status_code


# Visibility ------------------------------------------------------------------------------------


async def test_visibility_is_chosen_at_registration_and_changed_later(
    app: FastAPI, client: AsyncClient
) -> None:
    base = {"password": "correct horse battery", "name": "Vee"}
    default = await client.post(
        f"{V1}/auth/register", json={**base, "email": f"{uuid.uuid4().hex}@example.com"}
    )
    assert default.json()["user"]["visibility"] == "public"
    chosen = await client.post(
        f"{V1}/auth/register",
        json={**base, "email": f"{uuid.uuid4().hex}@example.com", "visibility": "private"},
    )
    assert chosen.status_code == 201, chosen.text
    assert chosen.json()["user"]["visibility"] == "private"
    dashboard = await client.post(
        "/web/account",
        json={**base, "email": f"{uuid.uuid4().hex}@example.com", "visibility": "private"},
    )
    assert dashboard.status_code == 201, dashboard.text
    assert dashboard.json()["visibility"] == "private"
    bad = await client.post(
        f"{V1}/auth/register",
        json={**base, "email": f"{uuid.uuid4().hex}@example.com", "visibility": "friends"},
    )
    problem(bad, 422)

    user = await create_user(app)
    h = user.headers
    assert (await client.get(f"{V1}/users/me", headers=h)).json()["visibility"] == "public"
    await set_visibility(client, user, "private")
    # The next read of the signed-in account (served from the auth cache) says so at once.
    assert (await client.get(f"{V1}/users/me", headers=h)).json()["visibility"] == "private"
    stranger = await create_user(app)
    profile = (await client.get(f"{V1}/users/{user.id}", headers=stranger.headers)).json()
    assert profile["visibility"] == "private"
    assert (await client.get(f"{V1}/users/{user.id}")).json()["visibility"] == "private"
    problem(await client.patch(f"{V1}/users/me", json={"visibility": "hidden"}, headers=h), 422)


async def test_the_operator_chooses_the_default_visibility(
    database_url: str, redis_url: str
) -> None:
    settings = make_settings(database_url, redis_url, default_visibility="private")
    from rhythm.app import create_app

    async for app in started(create_app(settings)):
        async with client_for(app) as client:
            # Not chosen: the operator's default; chosen: the choice.
            for chosen, expected in ({}, "private"), ({"visibility": "public"}, "public"):
                response = await client.post(
                    f"{V1}/auth/register",
                    json={
                        "email": f"{uuid.uuid4().hex}@example.com",
                        "password": "correct horse battery",
                        "name": "Vee",
                        **chosen,
                    },
                )
                assert response.status_code == 201, response.text
                assert response.json()["user"]["visibility"] == expected


# Follow requests -------------------------------------------------------------------------------


async def test_following_a_private_account_is_a_request_until_approved(
    app: FastAPI, client: AsyncClient
) -> None:
    owner = await private_user(app, client, name="Owner")
    fan = await create_user(app, name="Fan")
    first = await follow(client, fan, owner)
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["user"] == {"id": str(owner.id), "name": "Owner"}
    assert body.keys() == {"user", "requested_at"}
    again = await follow(client, fan, owner)
    assert again.status_code == 202
    assert again.json() == body
    # A requester counts nowhere, and is listed as a request on both sides.
    assert await counts(client, owner) == (0, 0)
    assert await counts(client, fan) == (0, 0)
    assert await listed(client, owner, "/users/me/followers") == []
    assert await listed(client, fan, "/users/me/following") == []
    assert await listed(client, owner, "/users/me/follow-requests") == [str(fan.id)]
    assert await listed(client, fan, "/users/me/follow-requests/sent") == [str(owner.id)]
    incoming = (await client.get(f"{V1}/users/me/follow-requests", headers=owner.headers)).json()
    assert incoming["data"] == [
        {"user": {"id": str(fan.id), "name": "Fan"}, "requested_at": body["requested_at"]}
    ]
    assert incoming["next_cursor"] is None

    approved = await approve(client, owner, fan)
    assert approved.status_code == 200, approved.text
    assert approved.json()["user"] == {"id": str(fan.id), "name": "Fan"}
    assert approved.json().keys() == {"user", "followed_at"}
    assert await counts(client, owner) == (1, 0)
    assert await counts(client, fan) == (0, 1)
    assert await listed(client, owner, "/users/me/follow-requests") == []
    assert await listed(client, fan, "/users/me/follow-requests/sent") == []
    assert await listed(client, owner, "/users/me/followers") == [str(fan.id)]
    # Now a follower: following again is "already following".
    assert (await follow(client, fan, owner)).status_code == 200
    problem(await approve(client, owner, fan), 404)


async def test_decline_cancel_and_their_errors(app: FastAPI, client: AsyncClient) -> None:
    owner = await private_user(app, client)
    fan = await create_user(app)
    other = await create_user(app)
    decline_path = f"{V1}/users/me/follow-requests/{fan.id}"
    problem(await client.delete(decline_path, headers=owner.headers), 404)
    problem(await approve(client, owner, fan), 404)
    problem(await approve(client, owner, owner), 404)
    problem(
        await client.post(f"{V1}/users/me/follow-requests/nope/approve", headers=owner.headers),
        422,
    )
    # The list of sent requests is not a request of a user "sent".
    wrong = await client.delete(f"{V1}/users/me/follow-requests/sent", headers=owner.headers)
    problem(wrong, 405)
    assert wrong.headers["allow"] == "GET"
    assert (await follow(client, fan, owner)).status_code == 202
    # Only the owner can answer it: the requester has no request from the owner.
    problem(
        await client.delete(f"{V1}/users/me/follow-requests/{owner.id}", headers=fan.headers), 404
    )
    problem(await approve(client, other, fan), 404)
    declined = await client.delete(decline_path, headers=owner.headers)
    assert declined.status_code == 204
    problem(await client.delete(decline_path, headers=owner.headers), 404)
    assert await listed(client, fan, "/users/me/follow-requests/sent") == []
    assert await counts(client, owner) == (0, 0)
    # Asking again is allowed; the requester cancels with an unfollow.
    assert (await follow(client, fan, owner)).status_code == 202
    cancel = await client.delete(f"{V1}/users/me/following/{owner.id}", headers=fan.headers)
    assert cancel.status_code == 204
    assert await listed(client, owner, "/users/me/follow-requests") == []
    problem(await client.delete(f"{V1}/users/me/following/{owner.id}", headers=fan.headers), 404)


async def test_switching_visibility_approves_pending_requests_and_keeps_followers(
    app: FastAPI, client: AsyncClient
) -> None:
    owner = await create_user(app)
    early = await create_user(app)
    assert (await follow(client, early, owner)).status_code == 201
    await set_visibility(client, owner, "private")
    # Public to private keeps the followers.
    assert await listed(client, owner, "/users/me/followers") == [str(early.id)]
    assert (await follow(client, early, owner)).status_code == 200
    fans = [await create_user(app) for _ in range(3)]
    for fan in fans:
        assert (await follow(client, fan, owner)).status_code == 202
    await set_visibility(client, owner, "public")
    assert await listed(client, owner, "/users/me/follow-requests") == []
    assert sorted(await listed(client, owner, "/users/me/followers")) == sorted(
        str(u.id) for u in [early, *fans]
    )
    assert await counts(client, owner) == (4, 0)
    # Public again: a follow is a follow.
    late = await create_user(app)
    assert (await follow(client, late, owner)).status_code == 201


async def test_a_requester_sees_nothing_private_until_approved_and_feeds_follow_at_once(
    app: FastAPI, client: AsyncClient, redis: RedisClient
) -> None:
    owner = await private_user(app, client)
    fan = await create_user(app)
    record = await night(client, owner)
    focus = await client.post(
        f"{V1}/focus/sessions",
        json={
            "session_id": "privacy-1",
            "started_at": _ago(hours=3),
            "ended_at": _ago(hours=2),
            "timezone": "UTC",
        },
        headers=owner.headers,
    )
    assert focus.status_code == 201, focus.text
    await drain(app)
    assert await feed_ids(client, fan) == []  # the feed is now built and cached
    assert (await follow(client, fan, owner)).status_code == 202

    async def sees() -> dict[str, bool]:
        h = fan.headers
        ranking = (
            await client.get(
                f"{V1}/sleep/rankings/weekly", params={"week": night_week()}, headers=h
            )
        ).json()["data"]
        board = (await client.get(f"{V1}/focus/leaderboard", headers=h)).json()["data"]
        return {
            "feed": record in await feed_ids(client, fan),
            "ranking": str(owner.id) in [r["user"]["id"] for r in ranking],
            "leaderboard": str(owner.id) in [r["user"]["id"] for r in board],
            "streak": await streak_status(client, fan, owner) == 200,
            "followers": (
                await client.get(f"{V1}/users/{owner.id}/followers", headers=h)
            ).status_code
            == 200,
        }

    assert await sees() == dict.fromkeys(
        ["feed", "ranking", "leaderboard", "streak", "followers"], False
    )
    assert (await approve(client, owner, fan)).status_code == 200
    assert await sees() == dict.fromkeys(
        ["feed", "ranking", "leaderboard", "streak", "followers"], True
    )
    # The approval's feed was served from the cache once rebuilt.
    await drain(app)
    assert await feed_ids(client, fan) == [record]
    assert await redis.exists(feed_key(fan.id, night_week()))


async def test_concurrent_requests_and_a_switch_to_public_lose_none(
    app: FastAPI, client: AsyncClient
) -> None:
    """Requests made while the owner becomes public are approved by the switch or made as
    follows after it: none stays pending on a public account."""
    owner = await private_user(app, client)
    fans = [await create_user(app) for _ in range(12)]
    calls = [follow(client, fan, owner) for fan in fans]
    switch = client.patch(f"{V1}/users/me", json={"visibility": "public"}, headers=owner.headers)
    responses = await asyncio.gather(*calls[:6], switch, *calls[6:])
    assert all(r.status_code in (200, 201, 202) for r in responses), [r.text for r in responses]
    assert await listed(client, owner, "/users/me/follow-requests") == []
    assert sorted(await listed(client, owner, "/users/me/followers")) == sorted(
        str(f.id) for f in fans
    )


# Blocks ----------------------------------------------------------------------------------------


async def test_block_unblock_and_list(app: FastAPI, client: AsyncClient) -> None:
    me = await create_user(app)
    pest = await create_user(app, name="Pest")
    first = await block(client, me, pest)
    assert first.status_code == 201, first.text
    assert first.json()["user"] == {"id": str(pest.id), "name": "Pest"}
    assert first.json().keys() == {"user", "blocked_at"}
    again = await block(client, me, pest)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert await listed(client, me, "/users/me/blocks") == [str(pest.id)]
    page = (await client.get(f"{V1}/users/me/blocks", headers=me.headers)).json()
    assert page == {"data": [first.json()], "next_cursor": None}
    assert await listed(client, pest, "/users/me/blocks") == []
    problem(await block(client, me, me), 422)
    problem(await client.put(f"{V1}/users/me/blocks/{uuid.uuid4()}", headers=me.headers), 404)
    gone = await client.delete(f"{V1}/users/me/blocks/{pest.id}", headers=me.headers)
    assert gone.status_code == 204
    problem(await client.delete(f"{V1}/users/me/blocks/{pest.id}", headers=me.headers), 404)
    assert await listed(client, me, "/users/me/blocks") == []


async def test_a_block_severs_both_ways_and_hides_each_from_the_other(
    app: FastAPI, client: AsyncClient, redis: RedisClient
) -> None:
    me = await private_user(app, client, name="Mia")
    pest = await create_user(app, name="Mike")
    third = await create_user(app)
    # Follows both ways and a pending request (the pest's to my private account).
    assert (await follow(client, me, pest)).status_code == 201
    assert (await follow(client, pest, me)).status_code == 202
    assert (await follow(client, pest, third)).status_code == 201
    record = await night(client, pest)
    await drain(app)
    assert await feed_ids(client, me) == [record]  # built and cached
    assert await streak_status(client, me, pest) == 200
    assert await redis.exists(blocking_key(me.id))  # the streak read cached both blocks sets

    assert (await block(client, me, pest)).status_code == 201
    assert await counts(client, me) == (0, 0)
    assert await counts(client, pest) == (0, 1)
    assert await listed(client, me, "/users/me/follow-requests") == []
    assert await feed_ids(client, me) == []
    for viewer, other in ((me, pest), (pest, me)):
        h = viewer.headers
        problem(await follow(client, viewer, other), 404)
        problem(await client.get(f"{V1}/users/{other.id}", headers=h), 404)
        problem(await client.get(f"{V1}/users/{other.id}/followers", headers=h), 404)
        problem(await client.get(f"{V1}/users/{other.id}/following", headers=h), 404)
        assert await streak_status(client, viewer, other) == 404
        found = await client.get(f"{V1}/users", params={"q": "Mi"}, headers=h)
        assert [u["id"] for u in found.json()["data"]] == [str(viewer.id)]
    # Others' lists leave each out for the other.
    assert await listed(client, me, f"/users/{third.id}/followers") == []
    assert await listed(client, third, f"/users/{third.id}/followers") == [str(pest.id)]
    # The block's owner may lift it; the blocked user may not.
    problem(await client.delete(f"{V1}/users/me/blocks/{me.id}", headers=pest.headers), 404)
    assert (
        await client.delete(f"{V1}/users/me/blocks/{pest.id}", headers=me.headers)
    ).status_code == 204
    assert await streak_status(client, me, pest) == 200
    assert (await client.get(f"{V1}/users/{me.id}", headers=pest.headers)).status_code == 200
    # Follows are not restored; a follow is possible again.
    assert await counts(client, me) == (0, 0)
    assert (await follow(client, me, pest)).status_code == 201
    assert await feed_ids(client, me) == [record]


async def test_a_block_stands_either_way_when_both_block(app: FastAPI, client: AsyncClient) -> None:
    a = await create_user(app)
    b = await create_user(app)
    assert (await block(client, a, b)).status_code == 201
    assert (await block(client, b, a)).status_code == 201
    assert (
        await client.delete(f"{V1}/users/me/blocks/{b.id}", headers=a.headers)
    ).status_code == 204
    # b's block still stands.
    problem(await client.get(f"{V1}/users/{b.id}", headers=a.headers), 404)
    problem(await follow(client, a, b), 404)
    assert await streak_status(client, a, b) == 404


async def test_blocks_are_bounded(app: FastAPI, client: AsyncClient) -> None:
    """MAX_BLOCKS is large; the bound is checked against the count, here reached by rows."""
    me = await create_user(app)
    others = [await create_user(app) for _ in range(2)]
    async with app.state.services[Resources].engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO users (id, email, password_hash, name)"
                " SELECT gen_random_uuid(), 'bulk' || n || '@example.com', 'x', 'Bulk'"
                " FROM generate_series(1, :n) AS n"
            ),
            {"n": MAX_BLOCKS - 1},
        )
        await conn.execute(
            text(
                "INSERT INTO blocks (blocker_id, blocked_id)"
                " SELECT :me, id FROM users WHERE name = 'Bulk'"
            ),
            {"me": me.id},
        )
    assert (await block(client, me, others[0])).status_code == 201  # the last one allowed
    assert (await block(client, me, others[0])).status_code == 200
    refused = problem(await block(client, me, others[1]), 409)
    assert refused["type"].endswith("/too-many-blocks")


# Visibility changes, and what stays visible --------------------------------------------------


async def test_private_data_follows_the_visibility_on_the_next_request(
    app: FastAPI, client: AsyncClient
) -> None:
    owner = await create_user(app)
    stranger = await create_user(app)
    follower = await create_user(app)
    assert (await follow(client, follower, owner)).status_code == 201
    assert await streak_status(client, stranger, owner) == 200  # caches the profile and blocks
    await set_visibility(client, owner, "private")
    assert await streak_status(client, stranger, owner) == 404
    assert await streak_status(client, follower, owner) == 200
    assert await streak_status(client, owner, owner) == 200
    problem(await client.get(f"{V1}/users/{owner.id}/followers", headers=stranger.headers), 404)
    problem(await client.get(f"{V1}/users/{owner.id}/following"), 404)  # anonymous
    assert (
        await client.get(f"{V1}/users/{owner.id}/followers", headers=follower.headers)
    ).status_code == 200
    # The profile stays visible, to anyone, with its visibility.
    assert (await client.get(f"{V1}/users/{owner.id}")).json()["visibility"] == "private"
    await set_visibility(client, owner, "public")
    assert await streak_status(client, stranger, owner) == 200
    assert (await client.get(f"{V1}/users/{owner.id}/following")).status_code == 200


async def test_search_needs_a_signed_in_user_and_shows_private_profiles(
    app: FastAPI, client: AsyncClient
) -> None:
    viewer = await create_user(app)
    hidden = await private_user(app, client, name="Quincy")
    problem(await client.get(f"{V1}/users", params={"q": "Quin"}), 401)
    found = await client.get(f"{V1}/users", params={"q": "Quin"}, headers=viewer.headers)
    assert found.json()["data"] == [{"id": str(hidden.id), "name": "Quincy"}]


async def test_a_public_streak_is_read_without_postgresql_once_cached(
    app: FastAPI, client: AsyncClient
) -> None:
    """The streak route stays a Redis read: the blocks between viewer and owner come from
    social's cache (filled by the first read), and only a private owner costs a query."""
    owner = await create_user(app)
    viewer = await create_user(app)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "device_sessions" not in statement:  # the batched last-use writes of sessions
            statements.append(statement)

    engine = app.state.services[Resources].engine.sync_engine
    assert await streak_status(client, viewer, owner) == 200  # fills the caches
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert await streak_status(client, viewer, owner) == 200
        assert statements == []
        await set_visibility(client, owner, "private")
        statements.clear()
        assert await streak_status(client, viewer, owner) == 404
        assert len(statements) == 1 and "follows" in statements[0], statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)
