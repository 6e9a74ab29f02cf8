"""The export document read as a stream (usage/aw_document.py), without a database: whatever
the chunking, the same buckets and events as json.loads gives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rhythm.usage.aw_document import (
    MAX_VALUE_BYTES,
    BucketEnd,
    BucketStart,
    EventItem,
    EventsStart,
    MalformedDocument,
    TooManyBuckets,
    read_document,
    uploaded_file,
)

json_values = st.recursive(
    # Infinity and NaN are not JSON: ijson refuses them (test_not_json_is_malformed).
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    # yajl refuses integers beyond ±(2**63 - 1) ("integer overflow"): a malformed document.
    | st.integers(-(2**63) + 1, 2**63 - 1)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
documents = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.fixed_dictionaries(
        {"type": st.text(max_size=5), "events": st.lists(json_values, max_size=5)},
        optional={"data": json_values},
    ),
    max_size=3,
)


async def _chunked(raw: bytes, size: int) -> AsyncIterator[bytes]:
    for at in range(0, len(raw), size):
        yield raw[at : at + size]


def _read(raw: bytes, size: int, buckets: dict[str, Any]) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        started: set[str] = set()
        async for item in read_document(_chunked(raw, size), 10):
            if isinstance(item, BucketStart):
                out[item.key] = {"events": []}
            elif isinstance(item, EventsStart):
                # Where the events begin, the members before them are known (and no event yet).
                assert out[item.key] == {"events": []}
                before = list(buckets[item.key])[: list(buckets[item.key]).index("events")]
                assert item.fields == {k: buckets[item.key][k] for k in before}
                started.add(item.key)
            elif isinstance(item, EventItem):
                assert list(out)[item.slot] in started
                out[list(out)[item.slot]]["events"].append(item.value)
            else:
                assert isinstance(item, BucketEnd)
                out[item.key].update(item.fields)
                assert item.events == len(out[item.key]["events"])
        return out

    return asyncio.run(run())


@settings(max_examples=60, deadline=None)
@given(documents, st.integers(1, 40), st.booleans())
def test_any_chunking_reads_what_json_loads_reads(
    buckets: dict[str, Any], size: int, indent: bool
) -> None:
    raw = json.dumps({"x": [1, {"y": 2}], "buckets": buckets}, indent=2 if indent else None)
    assert _read(raw.encode(), size, buckets) == buckets


@pytest.mark.parametrize("size", [1, 3, 64, 10_000])
def test_the_file_of_a_form(size: int) -> None:
    content = b'{"buckets": {}}\r\n--not-the-boundary\r\n' * 50
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="buckets.json"; '
        b'filename="a.json"\r\nContent-Type: application/json\r\n\r\n'
        + content
        + b"\r\n--XyZ--\r\n"
    )

    async def run() -> bytes:
        return b"".join([c async for c in uploaded_file(_chunked(body, size), b"XyZ")])

    assert asyncio.run(run()) == content


def test_a_form_without_a_file() -> None:
    body = b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--XyZ--\r\n'

    async def run() -> None:
        async for _ in uploaded_file(_chunked(body, 5), b"XyZ"):
            pass

    with pytest.raises(MalformedDocument):
        asyncio.run(run())


async def _drain(raw: bytes, size: int = 7, max_buckets: int = 10) -> None:
    async for _ in read_document(_chunked(raw, size), max_buckets):
        pass


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b'{"buckets": {"a": {"events": [{"duration": Infinity}]}}}',
        b'{"buckets": {"a": {"events": [{"duration": NaN}]}}}',
        b'{"buckets": {}} {"buckets": {}}',
        b'{"buckets": {"a": {"events": [1, 2}}}',
        b'{"buckets": {"a": {"events": {}}}}',
        b'{"buckets": {"a": 1}}',
        b'{"buckets": []}',
        b'{"other": {}}',
        b'{"buckets": {"a": {"type": "\xff"}}}',
    ],
)
def test_not_json_or_not_an_export_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedDocument):
        asyncio.run(_drain(raw))


def test_a_value_over_the_cap_is_malformed_and_the_bucket_cap_holds() -> None:
    over = MAX_VALUE_BYTES + 3 * 64 * 1024  # past the cap by more than the two chunks it spans
    long = b'{"buckets": {"a": {"events": [{"data": {"t": "' + b"x" * over
    with pytest.raises(MalformedDocument, match="spans more than"):
        asyncio.run(_drain(long + b'"}}]}}}', size=64 * 1024))
    # Just under the cap, in small chunks, is read.
    fits = b'{"buckets": {"a": {"events": [{"t": "' + b"x" * (MAX_VALUE_BYTES - 100) + b'"}]}}}'
    asyncio.run(_drain(fits, size=64 * 1024))
    three = b'{"buckets": {"a": {}, "b": {}, "c": {}}}'
    with pytest.raises(TooManyBuckets):
        asyncio.run(_drain(three, max_buckets=2))
