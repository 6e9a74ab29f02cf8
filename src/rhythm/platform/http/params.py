"""Query parameters: `?limit=&cursor=` as FastAPI dependencies, and the same types as fields of
the query models of fast routes (platform.http.fastroute)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from rhythm.platform.http.shared import shared
from rhythm.platform.pagination import DEFAULT_LIMIT, MAX_LIMIT, CursorCodec, PageRequest

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page, 1 to 100.")]


Cursor = Annotated[
    str | None,
    Query(
        max_length=512,
        description="Opaque cursor from a previous page's `next_cursor` (at most 512 characters).",
    ),
]


def page_of(request: Request, limit: int = DEFAULT_LIMIT, cursor: str | None = None) -> PageRequest:
    """The page a request asks for, its cursor read with the app's codec."""
    return PageRequest(shared(request, CursorCodec), limit, cursor)


async def page_request(
    request: Request, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> PageRequest:
    return page_of(request, limit, cursor)


PageParams = Annotated[PageRequest, Depends(page_request)]


async def first_page(request: Request) -> PageRequest:
    """The default first page, for responses that embed one (no query parameters)."""
    return page_of(request)


FirstPage = Annotated[PageRequest, Depends(first_page)]
