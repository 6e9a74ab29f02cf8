"""Accounts, tokens, device sessions and API keys, through the HTTP API."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

import jwt
from httpx import AsyncClient

from rhythm.identity.authenticator import Authenticator
from rhythm.platform.resources import Resources
from tests.factories import PASSWORD, create_user, problem

SECRET = "test-secret-key-with-enough-entropy-0123456789"


async def register(client: AsyncClient, email: str, **extra: str) -> dict:
    body = {"email": email, "password": "0123456789", "name": "Ada", **extra}
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_register_returns_user_and_tokens(client: AsyncClient) -> None:
    body = await register(client, "Ada@Example.com", timezone="Europe/Paris")
    assert body["token_type"] == "bearer"
    assert 800 <= body["expires_in"] <= 900
    assert body["user"]["email"] == "Ada@Example.com"
    assert body["user"]["timezone"] == "Europe/Paris"
    assert {"id", "email", "name", "timezone", "visibility", "created_at"} == body["user"].keys()
    assert body["user"]["visibility"] == "public"  # RHYTHM_DEFAULT_VISIBILITY's default
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json() == body["user"]


async def test_register_defaults_timezone_to_utc(client: AsyncClient) -> None:
    body = await register(client, "utc@example.com")
    assert body["user"]["timezone"] == "UTC"


async def test_duplicate_email_is_409_case_insensitively(client: AsyncClient) -> None:
    await register(client, "dup@example.com")
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "DUP@example.COM", "password": "0123456789", "name": "B"},
    )
    problem(response, 409)


async def test_register_validation(client: AsyncClient) -> None:
    cases = [
        {"email": "a@example.com", "password": "short", "name": "A"},
        {"email": "a@example.com", "password": "x" * 129, "name": "A"},
        {"email": "a@example.com", "password": "0123456789", "name": "A", "timezone": "Mars/Base"},
        {"email": "not-an-email", "password": "0123456789", "name": "A"},
        {"email": "a@example.com", "password": "0123456789", "name": "   "},
    ]
    for body in cases:
        response = await client.post("/api/v1/auth/register", json=body)
        details = problem(response, 422)
        assert details["errors"], details
        assert all({"field", "message"} == e.keys() for e in details["errors"])


async def test_password_length_bounds_are_inclusive(client: AsyncClient) -> None:
    for i, password in enumerate(["x" * 10, "y" * 128]):
        response = await client.post(
            "/api/v1/auth/register",
            json={"email": f"bound{i}@example.com", "password": password, "name": "B"},
        )
        assert response.status_code == 201, response.text


async def test_login_opens_a_device_session(client: AsyncClient) -> None:
    await register(client, "login@example.com")
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": "LOGIN@example.com", "password": "0123456789", "device_name": "phone"},
    )
    assert response.status_code == 200, response.text
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    sessions = (await client.get("/api/v1/auth/sessions", headers=headers)).json()
    assert {s["device_name"] for s in sessions["data"]} == {"registration", "phone"}
    current = [s for s in sessions["data"] if s["current"]]
    assert len(current) == 1 and current[0]["device_name"] == "phone"
    assert sessions["next_cursor"] is None


async def test_unknown_email_and_wrong_password_give_identical_401(client: AsyncClient) -> None:
    await register(client, "known@example.com")
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": "known@example.com", "password": "wrong-password"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "wrong-password"}
    )
    problem(wrong, 401)
    assert wrong.content == unknown.content
    assert wrong.status_code == unknown.status_code


async def test_login_locks_after_ten_failures(client: AsyncClient) -> None:
    await register(client, "locked@example.com")
    for _ in range(10):
        response = await client.post(
            "/api/v1/auth/login", json={"email": "locked@example.com", "password": "bad-password"}
        )
        assert response.status_code == 401
    response = await client.post(
        "/api/v1/auth/login", json={"email": "locked@example.com", "password": "0123456789"}
    )
    problem(response, 429)
    assert int(response.headers["Retry-After"]) > 0
    assert "RateLimit" in response.headers and "RateLimit-Policy" in response.headers
    # Another account is not affected.
    await register(client, "free@example.com")
    ok = await client.post(
        "/api/v1/auth/login", json={"email": "free@example.com", "password": "0123456789"}
    )
    assert ok.status_code == 200


async def test_refresh_rotates_both_tokens(client: AsyncClient) -> None:
    body = await register(client, "rot@example.com")
    response = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}
    )
    assert response.status_code == 200, response.text
    pair = response.json()
    assert pair["refresh_token"] != body["refresh_token"]
    assert pair["access_token"] != body["access_token"]
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
    )
    assert me.status_code == 200
    # The new refresh token works once more.
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 200


async def test_refresh_reuse_revokes_the_session(client: AsyncClient) -> None:
    body = await register(client, "reuse@example.com")
    first = await client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert first.status_code == 200
    new_pair = first.json()
    reused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}
    )
    problem(reused, 401)
    # The whole device session is gone: the rotated tokens stop working too.
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {new_pair['access_token']}"}
    )
    problem(me, 401)
    later = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": new_pair["refresh_token"]}
    )
    problem(later, 401)


async def test_twenty_concurrent_refreshes_produce_one_success(client: AsyncClient) -> None:
    body = await register(client, "race@example.com")
    responses = await asyncio.gather(
        *[
            client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
            for _ in range(20)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    assert statuses.count(401) == 19, statuses


async def test_unknown_refresh_token_is_401(client: AsyncClient) -> None:
    problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": "rt_nope"}), 401)


async def test_logout_takes_effect_immediately(app, client: AsyncClient) -> None:
    user = await create_user(app)
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 200
    response = await client.post("/api/v1/auth/logout", headers=user.headers)
    assert response.status_code == 204
    problem(await client.get("/api/v1/users/me", headers=user.headers), 401)
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    problem(refresh, 401)


async def test_logout_survives_a_redis_flush(app, client: AsyncClient, redis) -> None:
    """Redis holds only a cache: after FLUSHALL the revocation still holds, from PostgreSQL."""
    user = await create_user(app)
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 200
    assert (await client.post("/api/v1/auth/logout", headers=user.headers)).status_code == 204
    await app.state.services[Resources].redis.flushdb()
    problem(await client.get("/api/v1/users/me", headers=user.headers), 401)


async def test_logout_all_revokes_every_session(app, client: AsyncClient) -> None:
    user = await create_user(app)
    login = await client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
    )
    other = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (await client.post("/api/v1/auth/logout-all", headers=user.headers)).status_code == 204
    problem(await client.get("/api/v1/users/me", headers=user.headers), 401)
    problem(await client.get("/api/v1/users/me", headers=other), 401)


async def test_delete_one_session(app, client: AsyncClient) -> None:
    user = await create_user(app)
    login = await client.post(
        "/api/v1/auth/login",
        json={"email": user.email, "password": PASSWORD, "device_name": "laptop"},
    )
    laptop = {"Authorization": f"Bearer {login.json()['access_token']}"}
    sessions = (await client.get("/api/v1/auth/sessions", headers=user.headers)).json()["data"]
    laptop_id = next(s["id"] for s in sessions if s["device_name"] == "laptop")
    response = await client.delete(f"/api/v1/auth/sessions/{laptop_id}", headers=user.headers)
    assert response.status_code == 204
    problem(await client.get("/api/v1/users/me", headers=laptop), 401)
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 200
    problem(await client.delete(f"/api/v1/auth/sessions/{laptop_id}", headers=user.headers), 404)


async def test_other_users_session_is_404(app, client: AsyncClient) -> None:
    alice = await create_user(app)
    bob = await create_user(app)
    bobs = (await client.get("/api/v1/auth/sessions", headers=bob.headers)).json()["data"]
    response = await client.delete(f"/api/v1/auth/sessions/{bobs[0]['id']}", headers=alice.headers)
    problem(response, 404)
    assert (await client.get("/api/v1/users/me", headers=bob.headers)).status_code == 200
    problem(
        await client.delete(f"/api/v1/auth/sessions/{uuid.uuid4()}", headers=alice.headers), 404
    )


async def test_api_keys(app, client: AsyncClient) -> None:
    user = await create_user(app)
    created = await client.post(
        "/api/v1/auth/api-keys", json={"name": "desktop tracker"}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["key"].startswith("rhk_") and key["name"] == "desktop tracker"
    key_headers = {"Authorization": f"Bearer {key['key']}"}
    me = await client.get("/api/v1/users/me", headers=key_headers)
    assert me.status_code == 200 and me.json()["id"] == str(user.id)
    listed = (await client.get("/api/v1/auth/api-keys", headers=user.headers)).json()
    assert [k["id"] for k in listed["data"]] == [key["id"]]
    assert "key" not in listed["data"][0]
    assert key["key"] not in json.dumps(listed)
    deleted = await client.delete(f"/api/v1/auth/api-keys/{key['id']}", headers=user.headers)
    assert deleted.status_code == 204
    problem(await client.get("/api/v1/users/me", headers=key_headers), 401)


async def test_other_users_api_key_is_404(app, client: AsyncClient) -> None:
    alice = await create_user(app)
    bob = await create_user(app)
    key = (
        await client.post("/api/v1/auth/api-keys", json={"name": "k"}, headers=bob.headers)
    ).json()
    problem(await client.delete(f"/api/v1/auth/api-keys/{key['id']}", headers=alice.headers), 404)
    ok = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {key['key']}"})
    assert ok.status_code == 200


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_forged_token_matrix(app, client: AsyncClient) -> None:
    user = await create_user(app)
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    now = int(time.time())
    forged = {
        "alg none": _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + ".",
        "wrong key": jwt.encode(claims, "another-secret-key-0123456789-abcdef", algorithm="HS256"),
        "expired": jwt.encode({**claims, "exp": now - 10, "iat": now - 1000}, SECRET, "HS256"),
        "wrong aud": jwt.encode({**claims, "aud": "someone-else"}, SECRET, "HS256"),
        "wrong iss": jwt.encode({**claims, "iss": "evil"}, SECRET, "HS256"),
        "refresh as access": user.refresh_token,
        "typ refresh": jwt.encode({**claims, "typ": "refresh"}, SECRET, "HS256"),
        "missing sid": jwt.encode({k: v for k, v in claims.items() if k != "sid"}, SECRET, "HS256"),
        "HS512": jwt.encode(claims, SECRET, algorithm="HS512"),
        "garbage": "not.a.jwt",
        "random session": jwt.encode({**claims, "sid": str(uuid.uuid4())}, SECRET, "HS256"),
    }
    for case, token in forged.items():
        response = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, case
        problem(response, 401)
    for header in ["Basic abc", "Bearer", "", "Token x"]:
        problem(await client.get("/api/v1/users/me", headers={"Authorization": header}), 401)
    problem(await client.get("/api/v1/users/me"), 401)
    # The genuine token still works.
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 200


async def test_last_used_at_is_written_in_batches(app, client: AsyncClient) -> None:
    from sqlalchemy import text as sql_text

    user = await create_user(app)
    async with app.state.services[Resources].engine.begin() as conn:
        await conn.execute(
            sql_text("UPDATE device_sessions SET last_used_at = '2020-01-01' WHERE user_id = :u"),
            {"u": user.id},
        )
    app.state.services[Authenticator]._touched.clear()
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 200
    await app.state.services[Authenticator].flush_touches()
    sessions = (await client.get("/api/v1/auth/sessions", headers=user.headers)).json()["data"]
    assert sessions[0]["last_used_at"] > "2026-01-01"


async def test_an_api_keys_last_use_is_written_too(app, client: AsyncClient) -> None:
    user = await create_user(app)
    made = await client.post("/api/v1/auth/api-keys", json={"name": "w"}, headers=user.headers)
    key = made.json()["key"]
    listed = (await client.get("/api/v1/auth/api-keys", headers=user.headers)).json()["data"]
    assert listed[0]["last_used_at"] is None
    app.state.services[Authenticator]._touched.clear()
    used = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {key}"})
    assert used.status_code == 200
    await app.state.services[Authenticator].flush_touches()
    listed = (await client.get("/api/v1/auth/api-keys", headers=user.headers)).json()["data"]
    assert listed[0]["last_used_at"] > "2026-01-01"


async def test_concurrent_touch_flushes_of_shared_sessions_never_deadlock(app) -> None:
    """Each API worker flushes its own batch; batches that share sessions, in opposite orders,
    once deadlocked. Now they lock in id order and skip what the other holds."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text as sql_text

    from rhythm.identity import repository

    user = await create_user(app)
    ids = [uuid.uuid4() for _ in range(300)]
    async with app.state.services[Resources].engine.begin() as conn:
        await conn.execute(
            sql_text(
                "INSERT INTO device_sessions (id, user_id, device_name, expires_at, last_used_at)"
                " SELECT id, :u, 'bench', now() + interval '1 day', '2020-01-01'"
                " FROM unnest(CAST(:ids AS uuid[])) AS id"
            ),
            {"u": user.id, "ids": ids},
        )
    base = datetime.now(UTC)

    async def flush(order: list[uuid.UUID], at: datetime) -> None:
        async with app.state.services[Resources].session_factory() as session, session.begin():
            # The plan a large device_sessions table gets: an index lookup per batch entry,
            # which locks rows in the batch's order.
            for setting in ("enable_hashjoin", "enable_mergejoin", "enable_seqscan"):
                await session.execute(sql_text(f"SET LOCAL {setting} = off"))
            await repository.touch_sessions(session, dict.fromkeys(order, at))
            await asyncio.sleep(0.01)  # hold the row locks while the other flush runs

    for round_ in range(10):
        at = base + timedelta(seconds=round_)
        await asyncio.gather(flush(ids, at), flush(ids[::-1], at))
    async with app.state.services[Resources].engine.begin() as conn:
        latest = (
            await conn.execute(
                sql_text("SELECT min(last_used_at) FROM device_sessions WHERE id = ANY(:ids)"),
                {"ids": ids},
            )
        ).scalar_one()
    assert latest == base + timedelta(seconds=9)
