"""The access middleware: request ids, the access log and the HTTP metrics of every request
(the metrics themselves live in rhythm.platform.observability)."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rhythm.platform.observability import HTTP_METHODS, LATENCY, REQUESTS


class RequestContextMiddleware:
    """Assigns the request id, logs the request as JSON and records its metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = b""
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                request_id = value
                break
        if not _VALID_REQUEST_ID.match(request_id):
            request_id = uuid.uuid4().hex.encode()
        rid = request_id.decode()
        structlog.contextvars.bind_contextvars(request_id=rid)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            template = route_template(scope)
            method = scope["method"]
            label = method if method in HTTP_METHODS else "other"
            REQUESTS.labels(label, template, str(status)).inc()
            LATENCY.labels(label, template).observe(elapsed)
            access_log.info(
                "request",
                method=method,
                path=scope["path"],
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")


def route_template(scope: Scope) -> str:
    """The matched route's full path template, e.g. /api/v1/users/{user_id}.

    FastAPI keeps the full template of an included router's route in its effective route
    context; a route matched outside an included router carries it itself.
    """
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        context = fastapi_scope.get("effective_route_context")
        template = getattr(context, "path_format", None)
        if isinstance(template, str):
            return template
    route_path = getattr(scope.get("route"), "path", None)
    return route_path if isinstance(route_path, str) else "unmatched"


REQUEST_ID_HEADER = b"x-request-id"


_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


access_log = structlog.get_logger("rhythm.access")
