"""Cursor pagination, the same on every list: `?limit=&cursor=` in, `{data, next_cursor}` out.

A cursor is an opaque, HMAC-signed token naming the list it belongs to and the position after
the last item served. A tampered, foreign or malformed cursor is a 422.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from rhythm.platform.errors import Unprocessable

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(
        description="Pass as `?cursor=` to get the next page; null on the last page."
    )


class CursorCodec:
    def __init__(self, key: str) -> None:
        self._key = hashlib.sha256(("cursor:" + key).encode()).digest()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def encode(self, kind: str, position: list[Any]) -> str:
        payload = json.dumps([kind, position], separators=(",", ":")).encode()
        token = self._sign(payload) + payload
        return base64.urlsafe_b64encode(token).rstrip(b"=").decode()

    def decode(self, kind: str, token: str) -> list[Any]:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            raise _bad_cursor() from None
        signature, payload = raw[:16], raw[16:]
        if len(signature) != 16 or not hmac.compare_digest(signature, self._sign(payload)):
            raise _bad_cursor()
        try:
            found_kind, position = json.loads(payload)
        except (ValueError, TypeError):
            raise _bad_cursor() from None
        if found_kind != kind or not isinstance(position, list):
            raise _bad_cursor()
        return position


def _bad_cursor() -> Unprocessable:
    return Unprocessable("The cursor is invalid or belongs to another list.", field="cursor")


class PageRequest:
    """The parsed `?limit=&cursor=` of a list request."""

    def __init__(self, codec: CursorCodec, limit: int, cursor: str | None) -> None:
        self.codec = codec
        self.limit = limit
        self.cursor = cursor

    def position(self, kind: str) -> list[Any] | None:
        return None if self.cursor is None else self.codec.decode(kind, self.cursor)

    def page(self, kind: str, rows: list[T], key: Any) -> tuple[list[T], str | None]:
        """Trim rows fetched with limit + 1 and make the cursor of the next page."""
        if len(rows) <= self.limit:
            return rows, None
        rows = rows[: self.limit]
        return rows, self.codec.encode(kind, key(rows[-1]))

    def instant_position(self, kind: str) -> tuple[datetime, uuid.UUID] | None:
        """Where a list ordered by (instant, id) resumes: the last item served's instant and id
        (see instant_page)."""
        after = self.position(kind)
        if after is None:
            return None
        try:
            return datetime.fromisoformat(after[0]), uuid.UUID(after[1])
        except (ValueError, TypeError, AttributeError, IndexError):
            raise _bad_cursor() from None

    def instant_page(
        self, kind: str, rows: list[T], key: Callable[[T], tuple[datetime, uuid.UUID]]
    ) -> tuple[list[T], str | None]:
        """page() of a list ordered by (instant, id); `key` gives an item's instant and id."""

        def position(row: T) -> list[str]:
            instant, item_id = key(row)
            return [instant.isoformat(), str(item_id)]

        return self.page(kind, rows, position)

    def slice(self, kind: str, entries: list[T]) -> tuple[list[T], str | None]:
        """A page of a list computed whole (a ranking): the cursor holds the offset."""
        after = self.position(kind)
        start = int(after[0]) if after else 0
        window = entries[start : start + self.limit + 1]
        if len(window) > self.limit:
            return window[: self.limit], self.codec.encode(kind, [start + self.limit])
        return window, None
