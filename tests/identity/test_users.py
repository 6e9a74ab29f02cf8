"""The account itself: profile, password, deletion and search."""

from __future__ import annotations

from httpx import AsyncClient

from rhythm.platform.resources import Resources
from tests.factories import PASSWORD, create_user, delete_account, problem


async def test_patch_me_updates_name_and_timezone_at_once(app, client: AsyncClient) -> None:
    user = await create_user(app, name="Old", timezone="UTC")
    assert (await client.get("/api/v1/users/me", headers=user.headers)).json()["name"] == "Old"
    response = await client.patch(
        "/api/v1/users/me", json={"name": "New", "timezone": "Asia/Tokyo"}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "New"
    me = (await client.get("/api/v1/users/me", headers=user.headers)).json()
    assert (me["name"], me["timezone"]) == ("New", "Asia/Tokyo")


async def test_patch_me_survives_redis_flush(app, client: AsyncClient) -> None:
    user = await create_user(app, name="Before")
    await client.patch("/api/v1/users/me", json={"name": "After"}, headers=user.headers)
    await app.state.services[Resources].redis.flushdb()
    assert (await client.get("/api/v1/users/me", headers=user.headers)).json()["name"] == "After"


async def test_patch_me_rejects_bad_input(app, client: AsyncClient) -> None:
    user = await create_user(app)
    for body in [{"timezone": "Nowhere/City"}, {"name": ""}, {"name": "x" * 101}, {"email": "x"}]:
        problem(await client.patch("/api/v1/users/me", json=body, headers=user.headers), 422)


async def test_change_password_revokes_other_sessions(app, client: AsyncClient) -> None:
    user = await create_user(app)
    other = await client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
    )
    other_headers = {"Authorization": f"Bearer {other.json()['access_token']}"}
    wrong = await client.post(
        "/api/v1/users/me/password",
        json={"current_password": "not-the-password", "new_password": "brand-new-password"},
        headers=user.headers,
    )
    problem(wrong, 403)
    response = await client.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "brand-new-password"},
        headers=user.headers,
    )
    assert response.status_code == 204, response.text
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 200
    problem(await client.get("/api/v1/users/me", headers=other_headers), 401)
    old = await client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    problem(old, 401)
    new = await client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": "brand-new-password"}
    )
    assert new.status_code == 200


async def test_delete_me_erases_account_and_follows(app, client: AsyncClient) -> None:
    alice = await create_user(app)
    bob = await create_user(app)
    await client.put(f"/api/v1/users/me/following/{bob.id}", headers=alice.headers)
    await client.put(f"/api/v1/users/me/following/{alice.id}", headers=bob.headers)
    response = await delete_account(client, alice)
    assert response.status_code == 204
    problem(await client.get("/api/v1/users/me", headers=alice.headers), 401)
    problem(await client.get(f"/api/v1/users/{alice.id}", headers=bob.headers), 404)
    profile = (await client.get(f"/api/v1/users/{bob.id}", headers=bob.headers)).json()
    assert profile["followers_count"] == 0 and profile["following_count"] == 0
    login = await client.post(
        "/api/v1/auth/login", json={"email": alice.email, "password": PASSWORD}
    )
    problem(login, 401)
    # The email can be registered again.
    again = await client.post(
        "/api/v1/auth/register",
        json={"email": alice.email, "password": "0123456789", "name": "Alice 2"},
    )
    assert again.status_code == 201


async def test_search_by_prefix_with_pagination(app, client: AsyncClient) -> None:
    viewer = await create_user(app, name="Zed")
    for name in ["Anna", "annabel", "Annie", "Bob", "ann_x", "Ann%"]:
        await create_user(app, name=name)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": "ann", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/users", params=params, headers=viewer.headers)).json()
        seen.extend(u["name"] for u in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen, key=str.lower) == sorted(
        ["Anna", "annabel", "Annie", "ann_x", "Ann%"], key=str.lower
    )
    assert len(seen) == len(set(seen))
    # LIKE wildcards in the query are literal.
    literal = await client.get("/api/v1/users", params={"q": "ann_"}, headers=viewer.headers)
    assert [u["name"] for u in literal.json()["data"]] == ["ann_x"]


async def test_search_requires_a_query(app, client: AsyncClient) -> None:
    user = await create_user(app)
    problem(await client.get("/api/v1/users", headers=user.headers), 422)
    problem(await client.get("/api/v1/users?q=", headers=user.headers), 422)
