"""Limits on what failed credentials and password checks may cost: per IP, per account, and
the headers that keep secrets out of caches."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import ValidationError

from rhythm.app import create_app
from rhythm.platform.redis import RedisClient
from rhythm.platform.settings import Settings
from tests.conftest import make_settings, started
from tests.factories import PASSWORD, create_user, problem


@pytest.fixture
async def strict_app(app: FastAPI, settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with production-like limits, on the test database and Redis (`app` cleans).
    The failure limit's window is an hour, so no window ends while a test runs."""
    strict = make_settings(
        settings.database_url or "",
        settings.redis_url or "",
        auth_failure_limit="60/hour",
        rate_limit_auth="30/hour",
    )
    async for running in started(create_app(strict)):
        yield running


def client_from(app: FastAPI, ip: str) -> AsyncClient:
    return AsyncClient(
        transport=ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 40000)),
        base_url="http://testserver",
    )


async def api_key_keys(redis: RedisClient) -> int:
    return len([key async for key in redis.scan_iter(match="auth:k:*")])


async def test_random_api_keys_are_limited_per_ip_and_leave_nothing_in_redis(
    strict_app: FastAPI, redis: RedisClient
) -> None:
    keys_before = await redis.dbsize()
    statuses: list[int] = []
    retry_after: set[str] = set()
    async with client_from(strict_app, "203.0.113.7") as stranger:
        for _ in range(30):  # 3,000 requests, 100 at a time
            batch = await asyncio.gather(
                *(
                    stranger.get(
                        "/api/v1/users/me",
                        headers={"Authorization": f"Bearer rhk_{secrets.token_urlsafe(32)}"},
                    )
                    for _ in range(100)
                )
            )
            statuses += [r.status_code for r in batch]
            retry_after |= {r.headers["Retry-After"] for r in batch if r.status_code == 429}
    assert set(statuses) == {401, 429}
    # Each key the cache could not answer was counted before PostgreSQL was asked: at most 60
    # lookups, whatever the concurrency.
    assert statuses.count(401) == 60
    assert statuses.count(429) == 2940
    assert retry_after and all(0 < int(v) <= 3600 for v in retry_after)
    assert await api_key_keys(redis) == 0
    # One counter for the IP is all a stranger leaves behind.
    assert await redis.dbsize() - keys_before <= 1


async def test_bad_tokens_and_basic_credentials_count_too(strict_app: FastAPI) -> None:
    junk = [
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"},
        {"Authorization": "Token abc"},
    ]
    basic = {"Authorization": "Basic " + base64.b64encode(b"rhk_unknown:x").decode()}
    async with client_from(strict_app, "203.0.113.8") as stranger:
        answers = [
            (await stranger.get("/api/v1/sleep/records", headers=junk[i % 3])).status_code
            for i in range(45)
        ]
        answers += [(await stranger.get("/api/0/buckets/", headers=basic)).status_code]
        answers += [
            (await stranger.get("/api/0/info", headers={"Authorization": "Basic %%%"})).status_code
            for _ in range(14)
        ]
        assert answers == [401] * 60
        over = await stranger.get("/api/0/info", headers=basic)
        problem(over, 429)
        assert int(over.headers["Retry-After"]) > 0


async def test_valid_credentials_and_other_ips_are_not_affected(strict_app: FastAPI) -> None:
    user = await create_user(strict_app)
    async with client_from(strict_app, "198.51.100.1") as owner:
        created = await owner.post(
            "/api/v1/auth/api-keys", json={"name": "watcher"}, headers=user.headers
        )
        key = created.json()["key"]
    async with client_from(strict_app, "203.0.113.9") as stranger:
        for _ in range(61):
            await stranger.get("/api/v1/users/me", headers={"Authorization": "Bearer x"})
        problem(await stranger.get("/api/v1/users/me", headers={"Authorization": "Bearer x"}), 429)
        # A valid token from the limited IP costs no extra Redis round trip and still works.
        assert (await stranger.get("/api/v1/users/me", headers=user.headers)).status_code == 200
    async with client_from(strict_app, "198.51.100.1") as owner:
        me = await owner.get("/api/v1/users/me", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 200


async def test_a_revoked_key_is_refused_and_counted(
    strict_app: FastAPI, redis: RedisClient
) -> None:
    user = await create_user(strict_app)
    async with client_from(strict_app, "198.51.100.2") as http:
        created = (
            await http.post("/api/v1/auth/api-keys", json={"name": "old"}, headers=user.headers)
        ).json()
        headers = {"Authorization": f"Bearer {created['key']}"}
        assert (await http.get("/api/v1/users/me", headers=headers)).status_code == 200
        await http.delete(f"/api/v1/auth/api-keys/{created['id']}", headers=user.headers)
        answers = [(await http.get("/api/v1/users/me", headers=headers)).status_code]
        await redis.flushdb()  # the revocation mark is gone: PostgreSQL answers, still counted
        answers += [
            (await http.get("/api/v1/users/me", headers=headers)).status_code for _ in range(61)
        ]
        assert answers == [401] * 61 + [429]
        assert await api_key_keys(redis) == 0


# Login lockout ---------------------------------------------------------------------------------


async def register(http: Any, email: str) -> None:
    body = {"email": email, "password": PASSWORD, "name": "Ada"}
    response = await http.post("/api/v1/auth/register", json=body)
    assert response.status_code == 201, response.text


async def thirty_wrong_logins(http: Any, email: str) -> list[int]:
    attempts = [
        http.post("/api/v1/auth/login", json={"email": email, "password": f"wrong-{i}"})
        for i in range(30)
    ]
    return sorted(r.status_code for r in await asyncio.gather(*attempts))


async def test_concurrent_wrong_passwords_get_ten_guesses(client: AsyncClient) -> None:
    email = f"race-{uuid.uuid4().hex}@example.com"
    await register(client, email)
    assert await thirty_wrong_logins(client, email) == [401] * 10 + [429] * 20
    right = {"email": email, "password": PASSWORD}
    problem(await client.post("/api/v1/auth/login", json=right), 429)


async def test_concurrent_wrong_passwords_against_the_real_server(live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server, timeout=60) as http:
        email = f"race-live-{uuid.uuid4().hex}@example.com"
        await register(http, email)
        statuses = await thirty_wrong_logins(http, email)
    assert statuses == [401] * 10 + [429] * 20


async def test_a_success_clears_the_count(client: AsyncClient) -> None:
    await register(client, "clear@example.com")
    for _ in range(2):
        for _ in range(9):
            wrong = {"email": "clear@example.com", "password": "wrong-password"}
            problem(await client.post("/api/v1/auth/login", json=wrong), 401)
        right = {"email": "clear@example.com", "password": PASSWORD}
        assert (await client.post("/api/v1/auth/login", json=right)).status_code == 200


# Password checks on signed-in routes ------------------------------------------------------------


async def test_wrong_current_passwords_count_against_the_account(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await create_user(app)
    change = {"current_password": "not-the-password", "new_password": "a-new-password"}
    deletion = {"password": "not-the-password"}
    answers = []
    for i in range(10):
        if i % 2:
            response = await client.post(
                "/api/v1/users/me/password", json=change, headers=user.headers
            )
        else:
            response = await client.request(
                "DELETE", "/api/v1/users/me", json=deletion, headers=user.headers
            )
        answers.append(response.status_code)
    assert answers == [403] * 10
    right = {"current_password": PASSWORD, "new_password": "a-new-password"}
    problem(await client.post("/api/v1/users/me/password", json=right, headers=user.headers), 429)
    login = {"email": user.email, "password": PASSWORD}
    problem(await client.post("/api/v1/auth/login", json=login), 429)


async def test_password_routes_have_the_auth_routes_limit(strict_app: FastAPI) -> None:
    """30 an hour per IP and per account (strict_app): argon2 runs at most that often."""
    user = await create_user(strict_app)
    change = {"current_password": "x", "new_password": "a-new-password"}
    async with client_from(strict_app, "198.51.100.3") as http:
        statuses = [
            (
                await http.post("/api/v1/users/me/password", json=change, headers=user.headers)
            ).status_code
            for _ in range(31)
        ]
    assert statuses[-1] == 429
    assert statuses[:10] == [403] * 10  # then the account's failure window answers 429
    async with client_from(strict_app, "198.51.100.4") as elsewhere:
        # The same account from another IP: the per-account limit still holds.
        again = await elsewhere.post("/api/v1/users/me/password", json=change, headers=user.headers)
        problem(again, 429)
        assert "auth-user" in again.headers["RateLimit-Policy"]


# Secrets in responses --------------------------------------------------------------------------


async def test_responses_with_secrets_are_not_stored(app: FastAPI, client: AsyncClient) -> None:
    body = {"email": "nostore@example.com", "password": PASSWORD, "name": "Ada"}
    registered = await client.post("/api/v1/auth/register", json=body)
    login = await client.post(
        "/api/v1/auth/login", json={"email": body["email"], "password": PASSWORD}
    )
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    headers = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    key = await client.post("/api/v1/auth/api-keys", json={"name": "k"}, headers=headers)
    for response in (registered, login, refreshed, key):
        assert response.status_code in {200, 201}, response.text
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Pragma"] == "no-cache"


# The signing key -------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "ok"), [("k" * 31, False), ("é" * 16, True), ("k" * 32, True)])
def test_a_production_key_has_at_least_32_bytes(key: str, ok: bool) -> None:
    values = {"env": "production", "secret_key": key, "database_url": "postgresql://h/d"}
    if ok:
        Settings(**values)  # type: ignore[arg-type]
    else:
        with pytest.raises(ValidationError, match="at least 32 bytes"):
            Settings(**values)  # type: ignore[arg-type]


def test_the_cli_says_so_in_one_sentence(tmp_path: Any) -> None:
    env = {
        **os.environ,
        "RHYTHM_ENV": "production",
        "RHYTHM_SECRET_KEY": "too-short",
        "RHYTHM_DATABASE_URL": "postgresql://127.0.0.1:9/none",
        "RHYTHM_REDIS_URL": "redis://127.0.0.1:9/0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "rhythm", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "rhythm: configuration error: RHYTHM_SECRET_KEY must be at least 32 bytes when "
        "RHYTHM_ENV=production."
    ]
