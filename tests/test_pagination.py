"""The cursor codec (rhythm.platform.pagination): what it encodes it decodes, for the list it was
made for and under the key that made it; anything else is a 422 on `cursor`. No database."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rhythm.platform.errors import Unprocessable
from rhythm.platform.pagination import CursorCodec

CODEC = CursorCodec("test-secret-key-with-enough-entropy-0123456789")

kinds = st.text(min_size=1, max_size=40)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=60)
)
positions = st.lists(scalars, max_size=6)


def assert_rejected(kind: str, token: str, codec: CursorCodec = CODEC) -> None:
    with pytest.raises(Unprocessable) as raised:
        codec.decode(kind, token)
    assert raised.value.status == 422
    assert raised.value.errors is not None
    assert [e.field for e in raised.value.errors] == ["cursor"]


@given(kinds, positions)
def test_a_cursor_decodes_to_the_position_it_was_made_from(kind: str, position: list[Any]) -> None:
    token = CODEC.encode(kind, position)
    assert token.isascii() and "=" not in token  # fits a query string as is
    assert CODEC.decode(kind, token) == position


@given(kinds, positions, st.data())
def test_a_tampered_cursor_is_rejected(kind: str, position: list[Any], data: st.DataObject) -> None:
    raw = bytearray(base64.urlsafe_b64decode(CODEC.encode(kind, position) + "=="))
    index = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[index] ^= data.draw(st.integers(min_value=1, max_value=255))
    assert_rejected(kind, base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode())


@given(kinds, kinds, positions)
def test_a_cursor_of_another_list_is_rejected(kind: str, other: str, position: list[Any]) -> None:
    if kind != other:
        assert_rejected(other, CODEC.encode(kind, position))


@given(kinds, positions)
def test_a_cursor_made_under_another_key_is_rejected(kind: str, position: list[Any]) -> None:
    foreign = CursorCodec("another-secret-key-with-enough-entropy-98765")
    assert_rejected(kind, foreign.encode(kind, position))


@given(st.text(max_size=200))
def test_a_malformed_cursor_is_rejected_never_an_error(token: str) -> None:
    assert_rejected("feed", token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "=",
        "not base64 at all!",
        "ü",
        "A" * 21,  # decodes to fewer bytes than a signature
        base64.urlsafe_b64encode(b"\0" * 16 + b'["feed",[1]]').decode(),  # unsigned
    ],
)
def test_malformed_cursors(token: str) -> None:
    assert_rejected("feed", token)


def test_a_signed_payload_of_the_wrong_shape_is_rejected() -> None:
    # Only the server can sign, but a payload it did not make is refused all the same.
    for payload in (b'"feed"', b'["feed",1]', b'["feed"]', b"{}", b"[1,2,3]", b"not json"):
        token = base64.urlsafe_b64encode(CODEC._sign(payload) + payload).rstrip(b"=").decode()
        assert_rejected("feed", token)
