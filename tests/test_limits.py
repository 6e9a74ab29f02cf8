"""The HTTP edge (body limits, security headers) and /metrics' bounds, through HTTP."""

from __future__ import annotations

import json
import random
import re
import socket
import string
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime

import psutil
import pytest
from httpx import AsyncClient
from sqlalchemy import text

from rhythm.api import LARGE_BODY_ROUTES
from rhythm.app import create_app
from rhythm.platform.database import commit
from rhythm.platform.http.edge import DEFAULT_BODY_LIMIT
from rhythm.platform.http.health import JobCounts
from rhythm.platform.observability import HTTP_METHODS
from rhythm.platform.queue import defer
from rhythm.platform.resources import Resources
from rhythm.platform.settings import Settings
from rhythm.usage.schemas import BULK_BODY_LIMIT
from tests.conftest import client_for, make_settings, serving, started
from tests.factories import create_user, problem

MiB = 1024 * 1024
SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
}
BULK = "/api/v1/usage/heartbeats/bulk"


def assert_secured(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in SECURITY.items():
        assert headers.get(name) == value, (name, dict(headers))


def assert_too_large(response: object, limit: int) -> None:
    body = problem(response, 413)
    assert body["type"].endswith("/content-too-large")
    assert f"{limit:,}" in body["detail"]
    assert_secured(response)


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A body of `total` bytes sent without Content-Length (chunked)."""
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


def heartbeats(count: int, title_length: int) -> list[dict[str, object]]:
    now = datetime.now(UTC).isoformat()
    return [{"timestamp": now, "app": "editor", "title": "t" * title_length}] * count


# Body limits, on the ASGI app.


async def test_content_length_over_the_default_is_413_before_auth(client: AsyncClient) -> None:
    for path in ("/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/usage/heartbeats"):
        response = await client.post(
            path, content=b"x" * (DEFAULT_BODY_LIMIT + 1), headers={"content-type": "text/plain"}
        )
        assert_too_large(response, DEFAULT_BODY_LIMIT)
        assert response.headers["x-request-id"]


async def test_a_body_at_the_default_limit_is_read(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login",
        content=b" " * (DEFAULT_BODY_LIMIT - 2) + b"{}",
        headers={"content-type": "application/json"},
    )
    problem(response, 422)


async def test_chunked_body_over_the_limit_is_413_on_both_lanes(app, client: AsyncClient) -> None:
    user = await create_user(app)
    # FastAPI's lane, and the fast lane (POST /usage/heartbeats reads its body itself).
    for path in ("/api/v1/auth/login", "/api/v1/usage/heartbeats"):
        response = await client.post(
            path,
            content=chunks(DEFAULT_BODY_LIMIT + 1),
            headers={**user.headers, "content-type": "application/json"},
        )
        assert "content-length" not in response.request.headers
        assert_too_large(response, DEFAULT_BODY_LIMIT)


async def test_bulk_routes_take_more_than_the_default(app, client: AsyncClient) -> None:
    user = await create_user(app)
    body = json.dumps(heartbeats(1000, 2000)).encode()
    assert DEFAULT_BODY_LIMIT < len(body) < BULK_BODY_LIMIT
    accepted = await client.post(
        BULK, content=body, headers={**user.headers, "content-type": "application/json"}
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"accepted": 1000}
    assert_secured(accepted)
    too_large = await client.post(BULK, content=b" " * (BULK_BODY_LIMIT + 1), headers=user.headers)
    assert_too_large(too_large, BULK_BODY_LIMIT)
    chunked = await client.post(BULK, content=chunks(BULK_BODY_LIMIT + 1), headers=user.headers)
    assert_too_large(chunked, BULK_BODY_LIMIT)


async def test_the_largest_valid_bulk_request_fits_its_limit(app, client: AsyncClient) -> None:
    """1,000 heartbeats with every field at its maximum length (usage.schemas.HeartbeatIn)."""
    user = await create_user(app)
    now = datetime.now(UTC).isoformat()
    longest = {
        "timestamp": now,
        "duration": 86_400.0,
        "app": "a" * 512,
        "title": "é" * 4096,
        "url": "u" * 4096,
        "source": "s" * 256,
        "pulsetime": 600.0,
    }
    body = json.dumps([longest] * 1000, ensure_ascii=False).encode()
    assert len(body) <= BULK_BODY_LIMIT
    response = await client.post(
        BULK, content=body, headers={**user.headers, "content-type": "application/json"}
    )
    assert response.status_code == 202, response.text[:500]


async def test_openapi_documents_413_on_every_route_with_a_body(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    with_body = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if "requestBody" not in operation:
                continue
            with_body += 1
            response = operation["responses"]["413"]
            assert "application/problem+json" in response["content"]
            limit = LARGE_BODY_ROUTES.get((method.upper(), path), DEFAULT_BODY_LIMIT)
            assert f"{limit:,}" in response["description"]
    assert with_body >= 10
    assert (
        f"{BULK_BODY_LIMIT:,}" in schema["paths"][BULK]["post"]["responses"]["413"]["description"]
    )


# Security headers on every kind of answer.


async def test_every_response_carries_the_security_headers(app, client: AsyncClient) -> None:
    user = await create_user(app)
    answers = [
        (await client.get("/health"), 200),  # FastAPI's lane
        (await client.get("/api/v1/users/me", headers=user.headers), 200),  # the fast lane
        (await client.get("/api/v1/users/me"), 401),  # the fast lane's error
        (await client.head("/api/v1/users/me", headers=user.headers), 200),
        (await client.head("/health"), 405),  # (FastAPI routes take no HEAD)
        (await client.get("/api/v1/nope"), 404),
        (await client.delete("/health"), 405),
        (await client.post("/api/v1/auth/login", content=b"{"), 422),
        (await client.post("/api/v1/usage/heartbeats", headers=user.headers, content=b"{"), 422),
        (await client.get("/docs"), 200),
        (await client.get("/metrics"), 200),
    ]
    for response, status in answers:
        assert response.status_code == status, (response.request.url, response.text)
        assert_secured(response)


async def test_a_500_carries_the_security_headers(settings: Settings) -> None:
    app = create_app(settings)

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)
    async for running in started(app):
        async with client_for(running) as client:
            response = await client.get("/broken")
            problem(response, 500)
            assert_secured(response)


async def test_docs_page_still_loads_its_scripts(client: AsyncClient) -> None:
    response = await client.get("/docs")
    assert "swagger-ui-bundle.js" in response.text
    # The CSP only forbids framing: nothing restricts where Swagger UI's scripts come from.
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src" not in response.headers["content-security-policy"]


# Metrics.


def request_series(text: str) -> set[str]:
    return set(re.findall(r"^rhythm_http_requests_total(\{[^}]*\})", text, re.M))


async def test_made_up_methods_create_no_new_series(client: AsyncClient) -> None:
    paths = ["/health", "/api/v1/users/me", "/x/{}"]
    for path in paths:  # the "other" series these paths can have
        await client.request("BREW", path.format(0))
    before = request_series((await client.get("/metrics")).text)
    rng = random.Random(10)
    for _ in range(1000):
        method = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))
        await client.request(method, rng.choice(paths).format(rng.random()))
    after = request_series((await client.get("/metrics")).text)
    assert after - before == set()
    assert {'method="other",route="unmatched",status="404"'} <= {s[1:-1] for s in after}
    methods = {m for labels in after for m in re.findall(r'method="([^"]*)"', labels)}
    assert methods <= {*HTTP_METHODS, "other"}


async def test_metrics_token_is_required_when_set(database_url: str, redis_url: str) -> None:
    token = "metrics-token-0123456789"
    settings = make_settings(database_url, redis_url, metrics_token=token)
    async for app in started(create_app(settings)):
        async with client_for(app) as client:
            problem(await client.get("/metrics"), 401)
            problem(await client.get("/metrics", headers={"Authorization": "Bearer nope"}), 401)
            problem(await client.get("/metrics", headers={"Authorization": token}), 401)
            ok = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200
            assert "rhythm_http_requests_total" in ok.text
            assert_secured(ok)


async def test_job_counts_appear_and_are_served_from_memory(settings: Settings) -> None:
    """A scrape reads job counts the process counted at most JobCounts.max_age ago."""
    async for app in started(create_app(settings)):
        app.state.services[JobCounts].max_age = 3600.0
        async with client_for(app) as client:
            async with app.state.services[Resources].session_factory() as session:
                await defer(session, "platform:counted", queue="platform-test")
                await commit(session)
            try:
                first = (await client.get("/metrics")).text
                assert 'rhythm_jobs{status="todo",task="platform:counted"} 1.0' in first
                async with app.state.services[Resources].session_factory() as session:
                    await defer(session, "platform:counted", queue="platform-test")
                    await commit(session)
                # The second scrape does not query: it serves the counts of the first.
                second = (await client.get("/metrics")).text
                assert 'rhythm_jobs{status="todo",task="platform:counted"} 1.0' in second
            finally:
                async with app.state.services[Resources].engine.begin() as conn:
                    await conn.execute(
                        text("DELETE FROM procrastinate_jobs WHERE task_name = 'platform:counted'")
                    )


# A real server process: raw HTTP, and the worker's memory.


def rss(process: psutil.Process) -> int:
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


class PeakRss:
    """The largest RSS of the server and its workers while the block runs, sampled."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self.done = threading.Event()

    def __enter__(self) -> PeakRss:
        self.thread = threading.Thread(target=self._sample)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, rss(self.process))
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    while length and len(body) < int(length.group(1)):
        piece = sock.recv(65536)
        if not piece:
            break
        body += piece
    return status, head + b"\r\n\r\n" + body


def send_until_answered(sock: socket.socket, head: bytes, body: Iterator[bytes]) -> None:
    """Sends the head, then the body until it is all sent or the server stops reading."""
    sock.sendall(head)
    sock.settimeout(5)
    try:
        for piece in body:
            sock.sendall(piece)
    except OSError:
        pass  # the server answered and closed, or stopped reading


def fifty_mb_chunked() -> Iterator[bytes]:
    piece = b" " * 65536
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    for _ in range(50 * MiB // len(piece)):
        yield frame
    yield b"0\r\n\r\n"


def fifty_mb() -> Iterator[bytes]:
    piece = b" " * 65536
    for _ in range(50 * MiB // len(piece)):
        yield piece


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[tuple[int, str]]:
    with serving(settings) as (process, base):
        yield process.pid, base.removeprefix("http://")


def connect(address: str) -> socket.socket:
    host, port = address.split(":")
    return socket.create_connection((host, int(port)))


def post_head(address: str, path: str, headers: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n"
        f"{headers}\r\n"
    ).encode()


def test_content_length_is_refused_before_the_body_is_sent(server: tuple[int, str]) -> None:
    _, address = server
    with connect(address) as sock:
        # Only the head: the answer comes without a byte of the body.
        sock.sendall(post_head(address, "/api/v1/auth/login", f"Content-Length: {50 * MiB}\r\n"))
        sock.settimeout(30)
        status, raw = read_response(sock)
    assert status == 413
    assert b"content-too-large" in raw
    assert b"x-content-type-options: nosniff" in raw.lower()


@pytest.mark.parametrize(
    ("framing", "body"),
    [
        ("Transfer-Encoding: chunked\r\n", fifty_mb_chunked),
        # Says 100 bytes, sends 50 MB: the server takes 100 as the body, and the rest is not
        # a request it will hold in memory.
        ("Content-Length: 100\r\n", fifty_mb),
    ],
)
def test_fifty_mb_attempts_do_not_grow_the_worker(
    server: tuple[int, str], framing: str, body: Callable[[], Iterator[bytes]]
) -> None:
    pid, address = server
    idle = rss(psutil.Process(pid))

    def attempt() -> int:
        with connect(address) as sock:
            send_until_answered(sock, post_head(address, "/api/v1/auth/login", framing), body())
            sock.settimeout(30)
            status, raw = read_response(sock)
        assert raw.lower().count(b"x-content-type-options: nosniff") == 1
        return status

    with PeakRss(pid) as peak:
        statuses = [attempt()]
        # Four at once, as in the issue (+350 MB before).
        threads = [threading.Thread(target=lambda: statuses.append(attempt())) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    expected = 413 if "chunked" in framing else 422  # 100 bytes of spaces: not JSON
    assert statuses == [expected] * 5
    # The refused bodies are never held: 50 MB would show here.
    assert peak.peak - idle < 20 * MiB, (idle, peak.peak)
