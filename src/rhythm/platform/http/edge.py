"""The HTTP edge: the request body limit and the security headers of every response.

One pure ASGI layer in front of both lanes (api.FastLane and FastAPI's stack), inside the
observability middleware, so a refusal is logged and counted like any other answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rhythm.platform.http.problems import ContentTooLarge

# Every request body is refused past this, except on the routes given larger limits
# (api.LARGE_BODY_ROUTES).
DEFAULT_BODY_LIMIT = 1024 * 1024

# No response is to be sniffed as another type or shown in a frame. The CSP names only
# frame-ancestors: /docs (Swagger UI) loads its scripts from a CDN and must keep working.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
]


class BodyLimits:
    """The body limit of each route: DEFAULT_BODY_LIMIT unless a (method, template) says more."""

    def __init__(self, larger: Mapping[tuple[str, str], int]) -> None:
        self.larger = dict(larger)
        self.patterns = [
            (method, re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path))), limit)
            for (method, path), limit in larger.items()
        ]

    def for_route(self, method: str, template: str) -> int:
        return self.larger.get((method, template), DEFAULT_BODY_LIMIT)

    def for_request(self, scope: Scope) -> int:
        method, path = scope["method"], scope["path"]
        for route_method, pattern, limit in self.patterns:
            if route_method == method and pattern.fullmatch(path):
                return limit
        return DEFAULT_BODY_LIMIT


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class HttpEdge:
    """Refuses a body over its route's limit with a 413 problem, and adds SECURITY_HEADERS.

    A Content-Length over the limit is refused before anything is read. Otherwise the bytes
    actually received are counted, whatever Content-Length said or whether the body is
    chunked, and reading stops with ContentTooLarge at the first chunk past the limit; both
    lanes render that as the same 413 problem (platform.http.problems: render_error, _http_error).
    The larger limits are looked up only for a body past the default, so the common request
    pays for a header scan and two closures.
    """

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
            await send(message)

        length = _content_length(scope)
        if length is not None and length > DEFAULT_BODY_LIMIT:
            limit = self.limits.for_request(scope)
            if length > limit:
                await ContentTooLarge(limit).response()(scope, receive, send_with_headers)
                return
        received = 0
        limit = DEFAULT_BODY_LIMIT
        refused: ContentTooLarge | None = None

        async def receive_limited() -> Message:
            nonlocal received, limit, refused
            if refused is not None:
                raise refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    limit = self.limits.for_request(scope)
                    if received > limit:
                        refused = ContentTooLarge(limit)
                        raise refused
            return message

        try:
            await self.app(scope, receive_limited, send_with_headers)
        except ContentTooLarge as exc:
            # Both lanes answer it themselves; this is for an app that let it through.
            if started:
                raise
            await exc.response()(scope, receive, send_with_headers)
