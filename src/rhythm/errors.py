"""Every error rhythm returns is RFC 9457 problem+json. This module owns that shape."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

ModelT = TypeVar("ModelT", bound=BaseModel)

PROBLEM_BASE = "https://rhythm.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = structlog.get_logger("rhythm.errors")


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


class RhythmError(Exception):
    """Base of every domain error. Subclasses set status, slug and title."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"
    # When true, the request's transaction is committed although the request fails:
    # reuse detection must revoke a session even while it answers 401.
    commit: bool = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        errors: Sequence[FieldError] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        self.errors = list(errors) if errors is not None else None
        super().__init__(self.detail)


class NotFound(RhythmError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Unauthorized(RhythmError):
    status = 401
    slug = "unauthorized"
    title = "Unauthorized"

    def __init__(self, detail: str = "Missing or invalid credentials.", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Conflict(RhythmError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class Unprocessable(RhythmError):
    status = 422
    slug = "validation-error"
    title = "Validation error"

    def __init__(self, detail: str, *, field: str | None = None, **kw: Any) -> None:
        if field is not None:
            kw.setdefault("errors", [FieldError(field=field, message=detail)])
        super().__init__(detail, **kw)


class TooManyRequests(RhythmError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"


class DatabaseUnavailable(RhythmError):
    """PostgreSQL refused, dropped or did not answer a connection (down, restarting, or every
    pooled connection busy): the request was not carried out, and may be retried."""

    status = 503
    slug = "database-unavailable"
    title = "Database unavailable"

    def __init__(
        self, detail: str = "PostgreSQL is not answering; retry in a moment.", **kw: Any
    ) -> None:
        kw.setdefault("headers", {"Retry-After": "2"})
        super().__init__(detail, **kw)


# SQLSTATEs of a connection PostgreSQL refused or ended: class 08 (connection exception), and
# 57P01-57P03 (terminated by an administrator, crash shutdown, starting up or shutting down).
_CONNECTION_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a lost, refused or timed-out connection to
    PostgreSQL, rather than a bug or a bad statement.

    The one place that decides it, for every lane: SQLAlchemy's wrappers, asyncpg's own errors
    (the hot writers talk to asyncpg directly), a refused or timed-out socket, and the pool's
    timeout. A Redis failure in the chain is not one: it is Redis's.
    """
    current: BaseException | None = exc
    for _ in range(8):
        if current is None or isinstance(current, RedisError):
            return False
        if isinstance(current, OSError | PoolTimeout):  # TimeoutError is an OSError
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, asyncpg.exceptions.ConnectionDoesNotExistError):
            return True
        if isinstance(current, asyncpg.InterfaceError) and "closed" in str(current):
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_CONNECTION_SQLSTATES):
            return True
        orig = getattr(current, "orig", None)
        if isinstance(orig, BaseException):
            current = orig
        elif current.__cause__ is not None:
            current = current.__cause__
        else:
            current = None if current.__suppress_context__ else current.__context__
    return False


class ContentTooLarge(StarletteHTTPException):
    """A request body over its route's limit (rhythm.edge).

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
    table: list[tuple[re.Pattern[str], list[str]]] | None = getattr(
        app.state, "allowed_methods", None
    )
    if table is None:
        table = [
            (
                re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"),
                sorted(m.upper() for m in item),
            )
            for path, item in app.openapi().get("paths", {}).items()
        ]
        app.state.allowed_methods = table
    methods: set[str] = set()
    for pattern, verbs in table:
        # The decoded path, as the router matched it: request.url re-parses it, and a `?` or
        # `#` decoded from a path parameter would cut it short there.
        if pattern.match(request.scope["path"]):
            methods.update(verbs)
    return sorted(methods)


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


def parse_body(model: type[ModelT], raw: bytes) -> ModelT:
    """A JSON request body validated as FastAPI would (errors located under `body`), for the
    routes of the fast lane."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = []
        for error in exc.errors(include_url=False):
            located = dict(error)
            located["loc"] = ("body", *error.get("loc", ()))
            errors.append(located)
        raise RequestValidationError(errors) from None


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
