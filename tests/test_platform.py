"""Platform behaviour: problem+json, request ids, health, metrics, pagination and rate limits."""

from __future__ import annotations

from httpx import AsyncClient

from rhythm.app import OWN_ERROR_FORMAT, create_app
from rhythm.platform.resources import Resources
from tests.conftest import client_for, make_settings, started
from tests.factories import create_user, problem


async def test_unknown_route_is_problem_404(client: AsyncClient) -> None:
    body = problem(await client.get("/api/v1/nope"), 404)
    assert body["type"].startswith("https://")


async def test_wrong_method_is_problem_405(client: AsyncClient) -> None:
    response = await client.delete("/health")
    problem(response, 405)
    assert "GET" in response.headers.get("allow", "")


async def test_malformed_json_is_422_with_errors(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    body = problem(response, 422)
    assert body["errors"]


async def test_request_id_is_echoed_or_generated(client: AsyncClient) -> None:
    echoed = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/health")
    assert len(generated.headers["x-request-id"]) >= 16
    hostile = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert hostile.headers["x-request-id"] != "bad id\twith spaces"


async def test_health_and_ready(client: AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok"}


async def test_ready_names_the_failing_part(database_url: str) -> None:
    settings = make_settings(database_url, "redis://127.0.0.1:1/0")
    async for app in started(create_app(settings)):
        async with client_for(app) as client:
            body = problem(await client.get("/ready"), 503)
            assert "redis" in body["detail"]
            assert body["checks"]["postgres"] == "ok"
            # Liveness does not touch dependencies.
            assert (await client.get("/health")).status_code == 200


async def test_metrics_count_requests_by_route_template(app, client: AsyncClient) -> None:
    user = await create_user(app)
    await client.get(f"/api/v1/users/{user.id}", headers=user.headers)
    text = (await client.get("/metrics")).text
    assert 'route="/api/v1/users/{user_id}"' in text
    assert "rhythm_http_request_duration_seconds_bucket" in text
    assert "rhythm_jobs" in text


async def test_limit_over_max_is_422(app, client: AsyncClient) -> None:
    user = await create_user(app)
    body = problem(
        await client.get("/api/v1/users/me/following?limit=101", headers=user.headers), 422
    )
    assert body["errors"][0]["field"] == "query.limit"
    ok = await client.get("/api/v1/users/me/following?limit=100", headers=user.headers)
    assert ok.status_code == 200


async def test_tampered_cursor_is_422(app, client: AsyncClient) -> None:
    viewer = await create_user(app)
    for _ in range(3):
        other = await create_user(app)
        await client.put(f"/api/v1/users/me/following/{other.id}", headers=viewer.headers)
    page = (await client.get("/api/v1/users/me/following?limit=1", headers=viewer.headers)).json()
    cursor = page["next_cursor"]
    assert cursor
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    for bad in [tampered, "garbage", "%%%", "A" * 40]:
        problem(
            await client.get(
                "/api/v1/users/me/following", params={"cursor": bad}, headers=viewer.headers
            ),
            422,
        )
    # A cursor from another list is refused too.
    problem(
        await client.get(
            "/api/v1/users", params={"q": "u", "cursor": cursor}, headers=viewer.headers
        ),
        422,
    )


async def test_rate_limit_per_user_with_headers(database_url: str, redis_url: str) -> None:
    settings = make_settings(database_url, redis_url, rate_limit_default="3/minute")
    async for app in started(create_app(settings)):
        await app.state.services[Resources].redis.flushdb()
        user = await create_user(app)
        other = await create_user(app)
        async with client_for(app) as client:
            for _ in range(3):
                assert (
                    await client.get("/api/v1/users/me", headers=user.headers)
                ).status_code == 200
            limited = await client.get("/api/v1/users/me", headers=user.headers)
            problem(limited, 429)
            assert 0 < int(limited.headers["Retry-After"]) <= 60
            assert limited.headers["RateLimit-Policy"] == '"user";q=3;w=60'
            assert limited.headers["RateLimit"].startswith('"user";r=0;t=')
            # Per user: another account still passes.
            assert (await client.get("/api/v1/users/me", headers=other.headers)).status_code == 200
        await app.state.services[Resources].redis.flushdb()


async def test_rate_limit_anonymous_per_ip(database_url: str, redis_url: str) -> None:
    settings = make_settings(database_url, redis_url, rate_limit_auth="2/minute")
    async for app in started(create_app(settings)):
        await app.state.services[Resources].redis.flushdb()
        async with client_for(app) as client:
            body = {"email": "x@example.com", "password": "whatever-pass"}
            for _ in range(2):
                assert (await client.post("/api/v1/auth/login", json=body)).status_code == 401
            problem(await client.post("/api/v1/auth/login", json=body), 429)
        await app.state.services[Resources].redis.flushdb()


async def test_openapi_documents_error_responses(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            errors = [s for s in operation["responses"] if s[0] in "45"]
            if path.startswith("/api/"):
                assert errors, f"{method} {path} documents no error response"
            for status in errors:
                content = operation["responses"][status]["content"]
                if path in OWN_ERROR_FORMAT:  # /search: the provider integration's contract
                    assert list(content) == ["application/json"], (path, status)
                    continue
                assert list(content) == ["application/problem+json"], (path, status)
    assert (await client.get("/docs")).status_code == 200


async def test_405_names_every_method_even_with_a_question_mark_in_the_id(
    client: AsyncClient,
) -> None:
    """A `?` decoded from the path (found by schemathesis) must not cut the path short."""
    response = await client.patch("/api/v1/users/me/following/%3Fx")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["allow"] == "DELETE, PUT"
