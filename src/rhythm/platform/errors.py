"""The errors every service raises, and the RFC 9457 problem shape they become; nothing of HTTP
here (rhythm.platform.http.problems renders them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import structlog
from pydantic import BaseModel
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

PROBLEM_BASE = "https://rhythm.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = structlog.get_logger("rhythm.platform.errors")


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
    """A 404. A subclass names what is missing, `class BucketNotFound(NotFound, what="Bucket")`,
    and gets its slug and title from that one word: `bucket-not-found`, "Bucket not found"."""

    status = 404
    slug = "not-found"
    title = "Not found"

    def __init_subclass__(cls, *, what: str | None = None, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if what is not None:
            cls.slug = f"{what.lower().replace(' ', '-')}-not-found"
            cls.title = f"{what} not found"


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
# Connection exceptions (08), the server shutting down or starting (57P01-03), and no slot for
# one more connection (53300: "too many clients already", a role's or database's limit).
_CONNECTION_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


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


class ItemRefused(Exception):
    """One item of a batch refused, such as a record of an import: `key` names the item as the
    caller gave it (the import's line number), `error` says why."""

    def __init__(self, key: int, error: RhythmError) -> None:
        super().__init__(f"{key}: {error.detail}")
        self.key = key
        self.error = error
