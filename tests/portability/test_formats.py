"""The export's file formats without a database: JSON Lines, CSV cells, a streamed ZIP, and an
import body cut into lines whatever its chunks."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from rhythm.portability.formats import LineTooLong, csv_writer, line_writer, lines, zip_stream

AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


async def pieces(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def collect(chunks: AsyncIterator[bytes], limit: int = 100) -> list[tuple[int, bytes]]:
    return [line async for line in lines(chunks, limit)]


def test_a_line_is_one_object_with_its_kind_first_and_json_text_as_is() -> None:
    write = line_writer("usage_interval", ("bucket", "start", "data"), frozenset({"data"}))
    text = write([("w", AT, '{"app": "x", "n": [1, 2]}'), ("w", AT, None)]).decode()
    first, second = text.splitlines()
    assert text.endswith("\n")
    assert list(json.loads(first)) == ["kind", "bucket", "start", "data"]
    assert json.loads(first) == {
        "kind": "usage_interval",
        "bucket": "w",
        "start": "2026-01-02T03:04:05.678901Z",
        "data": {"app": "x", "n": [1, 2]},
    }
    assert json.loads(second)["data"] is None
    assert datetime.fromisoformat(json.loads(first)["start"]) == AT


def test_csv_cells() -> None:
    header, write = csv_writer(("name", "at", "tags", "rule", "on", "gone"))
    assert header == b"name,at,tags,rule,on,gone\r\n"
    row = write([('a "quoted", name', AT, ["x", "y"], '{"type": "none"}', True, None)])
    assert row == (
        b'"a ""quoted"", name",2026-01-02T03:04:05.678901+00:00,"[""x"",""y""]",'
        b'"{""type"": ""none""}",true,\r\n'
    )


async def test_lines_across_chunks_with_either_line_end() -> None:
    body = pieces(b'{"a": 1}\r', b'\n{"b"', b": 2}\n\n", b'{"c": 3}')
    assert await collect(body) == [(1, b'{"a": 1}'), (2, b'{"b": 2}'), (3, b""), (4, b'{"c": 3}')]
    assert await collect(pieces()) == []
    assert await collect(pieces(b"x" * 100 + b"\n", b"y")) == [(1, b"x" * 100), (2, b"y")]


async def test_a_line_too_long_is_refused_before_it_is_all_held() -> None:
    with pytest.raises(LineTooLong) as too_long:
        await collect(pieces(b"ok\n", b"x" * 60, b"x" * 60, b"never read\n"))
    assert too_long.value.number == 2
    for body in (b"x" * 101 + b"\n", b"x" * 101 + b"\r\n", b"x" * 101):
        with pytest.raises(LineTooLong):
            await collect(pieces(body))
    assert await collect(pieces(b"x" * 100 + b"\r\n")) == [(1, b"x" * 100)]


async def test_a_zip_written_as_it_streams() -> None:
    async def members() -> AsyncIterator[tuple[str, AsyncIterator[bytes]]]:
        yield "a.csv", pieces(b"h\r\n", b"1\r\n" * 1000)
        yield "empty.csv", pieces(b"h\r\n")

    parts = [part async for part in zip_stream(members(), b"a comment")]
    assert len(parts) > 2
    archive = zipfile.ZipFile(io.BytesIO(b"".join(parts)))
    assert archive.testzip() is None
    assert archive.comment == b"a comment"
    assert archive.namelist() == ["a.csv", "empty.csv"]
    assert archive.read("a.csv") == b"h\r\n" + b"1\r\n" * 1000
    assert archive.read("empty.csv") == b"h\r\n"
