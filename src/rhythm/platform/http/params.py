"""Query parameters on both lanes: `?limit=&cursor=` as FastAPI dependencies and, for the fast lane,
parsed by the same types (page_from_query, query_value), errors located as FastAPI locates them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from rhythm.platform.http.shared import shared
from rhythm.platform.pagination import DEFAULT_LIMIT, MAX_LIMIT, CursorCodec, PageRequest
from rhythm.platform.schemas import T

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page, 1 to 100.")]


Cursor = Annotated[
    str | None,
    Query(
        max_length=512,
        description="Opaque cursor from a previous page's `next_cursor` (at most 512 characters).",
    ),
]


# The plain Starlette routes validate with these very types (page_from_query).
LIMIT = TypeAdapter(Limit)


CURSOR = TypeAdapter(Cursor)


async def page_request(
    request: Request, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> PageRequest:
    return PageRequest(shared(request, CursorCodec), limit, cursor)


PageParams = Annotated[PageRequest, Depends(page_request)]


async def first_page(request: Request) -> PageRequest:
    """The default first page, for responses that embed one (no query parameters)."""
    return PageRequest(shared(request, CursorCodec), DEFAULT_LIMIT, None)


FirstPage = Annotated[PageRequest, Depends(first_page)]


def page_from_query(request: Request) -> PageRequest:
    """`?limit=&cursor=` parsed by hand, with the same rules and 422s as `PageParams`, for the
    plain Starlette routes that serve the hottest lists."""
    params = request.query_params
    raw_limit = params.get("limit")
    limit = (
        DEFAULT_LIMIT if raw_limit is None else query_value(LIMIT, ("query", "limit"), raw_limit)
    )
    cursor = query_value(CURSOR, ("query", "cursor"), params.get("cursor"))
    return PageRequest(shared(request, CursorCodec), limit, cursor)


def query_value(adapter: TypeAdapter[T], location: tuple[str, str], raw: Any) -> T:
    """A query or path parameter validated by the same type as the route's FastAPI twin, with
    the same 422, for the fast lane (api.FastLane)."""
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = []
        for error in exc.errors(include_url=False):
            located = dict(error)
            located["loc"] = (*location, *error.get("loc", ()))
            errors.append(located)
        raise RequestValidationError(errors) from None
