"""Every error rhythm returns is RFC 9457 problem+json. This module owns that shape."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from rhythm.platform.errors import (
    PROBLEM_BASE,
    PROBLEM_MEDIA_TYPE,
    DatabaseUnavailable,
    FieldError,
    Problem,
    RhythmError,
    database_unavailable,
    log,
)


class ContentTooLarge(StarletteHTTPException):
    """A request body over its route's limit (rhythm.platform.http.edge).

    An HTTPException rather than a RhythmError: FastAPI's body reader passes HTTPExceptions
    raised while reading on unchanged, but turns any other error into a 400.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than this route's {limit:,} bytes.")
        self.limit = limit

    def response(self) -> JSONResponse:
        # The rest of the body is never read, so the connection cannot carry another request:
        # say so, or a keep-alive client sends its next request into the unread bytes.
        return problem_response(
            413,
            slug="content-too-large",
            title="Content too large",
            detail=str(self.detail),
            headers={"Connection": "close"},
        )


def problem_response(
    status: int,
    *,
    slug: str | None = None,
    title: str | None = None,
    detail: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or phrase.lower().replace(" ", "-")),
        "title": title or phrase,
        "status": status,
        "detail": detail or title or phrase,
    }
    if errors is not None:
        body["errors"] = [e.model_dump() for e in errors]
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _location(loc: Sequence[int | str]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _rhythm_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RhythmError)
    return problem_response(
        exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(field=_location(err.get("loc", ())), message=str(err.get("msg", "invalid")))
        for err in exc.errors()
    ]
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
    return problem_response(
        422, slug="validation-error", title="Validation error", detail=summary, errors=errors
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc, ContentTooLarge):
        return exc.response()
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(exc.headers or {})
    if exc.status_code == 400:
        # FastAPI answers 400 for a body it cannot decode at all (bad UTF-8, wrong encoding);
        # to a client that is one more malformed body, so it gets the same 422 as bad JSON.
        message = detail or "The request body could not be decoded."
        return problem_response(
            422,
            slug="validation-error",
            title="Validation error",
            detail=message,
            errors=[FieldError(field="body", message=message)],
        )
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    return problem_response(exc.status_code, detail=detail, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method the OpenAPI schema documents for the requested path.

    Starlette's own Allow header names only the first route that matched the path; a path
    served by several routes (GET and DELETE on /users/me) needs the union.
    """
    app = request.app
    table: list[tuple[re.Pattern[str], list[str], int]] | None = getattr(
        app.state, "allowed_methods", None
    )
    if table is None:
        table = [
            (
                re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"),
                sorted(m.upper() for m in item),
                len([part for part in path.split("/") if part and "{" not in part]),
            )
            for path, item in app.openapi().get("paths", {}).items()
        ]
        app.state.allowed_methods = table
    # The decoded path, as the router matched it: request.url re-parses it, and a `?` or `#`
    # decoded from a path parameter would cut it short there.
    matched = [
        (literal, verbs)
        for pattern, verbs, literal in table
        if pattern.match(request.scope["path"])
    ]
    # The most literal documents win: `…/events/count` is not an event id of `…/events/{id}`.
    most = max((literal for literal, _ in matched), default=0)
    return sorted({verb for literal, verbs in matched if literal == most for verb in verbs})


# PostgreSQL refuses text it cannot store (NUL bytes, bad encodings) with these SQLSTATEs.
_UNSTORABLE_TEXT = {"22021", "22P05"}


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    if database_unavailable(exc):
        log.warning("database_unavailable", path=request.url.path, error=repr(exc)[:200])
        return await _rhythm_error(request, DatabaseUnavailable())
    # SQLAlchemy wraps the driver's error in .orig; the raw asyncpg connection raises it bare.
    orig = getattr(exc, "orig", exc)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in _UNSTORABLE_TEXT:
        return problem_response(
            422,
            slug="validation-error",
            title="Validation error",
            detail="The request contains text that cannot be stored.",
        )
    log.error("unhandled_error", path=request.url.path, exc_info=exc)
    return problem_response(500, detail="An unexpected error occurred. It has been logged.")


async def render_error(request: Request, exc: Exception) -> JSONResponse:
    """The problem response for an error raised outside FastAPI's handlers (api.FastLane)."""
    if isinstance(exc, RhythmError):
        return await _rhythm_error(request, exc)
    if isinstance(exc, RequestValidationError):
        return await _validation_error(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return await _http_error(request, exc)
    return await _unhandled(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RhythmError, _rhythm_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Handled here rather than by the catch-all below, which re-raises into the server's log:
    # while PostgreSQL restarts, every request would log a traceback for an expected 503.
    for database_error in (SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        app.add_exception_handler(database_error, _unhandled)
    app.add_exception_handler(Exception, _unhandled)


def problem_doc(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the given error statuses, all problem+json."""
    return {
        status: {"model": Problem, "description": HTTPStatus(status).phrase} for status in statuses
    }
