"""Lists ordered by (instant, id), newest first: the cursor's position is written and read in one
place (PageRequest.instant_page and instant_position)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from rhythm.platform.errors import Unprocessable
from rhythm.platform.pagination import CursorCodec, PageRequest

CODEC = CursorCodec("test-key")
T0 = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_the_next_page_resumes_after_the_last_item_served() -> None:
    rows = [(T0 - timedelta(minutes=i), uuid.uuid4()) for i in range(3)]
    served, cursor = PageRequest(CODEC, 2, None).instant_page("things", rows, lambda r: r)
    assert served == rows[:2] and cursor is not None
    assert PageRequest(CODEC, 2, cursor).instant_position("things") == rows[1]


def test_the_last_page_has_no_cursor() -> None:
    rows = [(T0, uuid.uuid4())]
    assert PageRequest(CODEC, 2, None).instant_page("things", rows, lambda r: r) == (rows, None)
    assert PageRequest(CODEC, 2, None).instant_position("things") is None


@pytest.mark.parametrize("position", [[], ["yesterday", str(uuid.uuid4())], [T0.isoformat(), 7]])
def test_a_signed_cursor_with_another_position_is_422(position: list[object]) -> None:
    cursor = CODEC.encode("things", position)
    with pytest.raises(Unprocessable):
        PageRequest(CODEC, 2, cursor).instant_position("things")
    with pytest.raises(Unprocessable):
        PageRequest(CODEC, 2, cursor).instant_position("other things")
