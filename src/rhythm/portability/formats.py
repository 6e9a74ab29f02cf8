"""The export's files, written and read without I/O of their own (pure): a kind's rows as JSON
Lines or as CSV, a ZIP written as it is streamed, and an import's body cut into lines."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()


def line_writer(
    kind: str, fields: Sequence[str], json_fields: frozenset[str]
) -> Callable[[Iterable[Sequence[Any]]], bytes]:
    """A function writing rows (values in `fields` order) as JSON Lines of this kind: one
    object a line, `kind` first. The values of `json_fields` that arrive as text are JSON
    already (PostgreSQL's jsonb text) and are written as they are.

    Each line is a msgspec Struct of the kind encoded in C: a third of the time a dict takes,
    which is most of an export's Python time at a million records."""
    record = msgspec.defstruct(f"{kind}_record", [("kind", str), *((name, Any) for name in fields)])
    raw_at = [index for index, name in enumerate(fields) if name in json_fields]

    def made(row: Sequence[Any]) -> Any:
        values = list(row)
        for index in raw_at:
            if isinstance(value := values[index], str):
                values[index] = msgspec.Raw(value)
        return record(kind, *values)

    def write(rows: Iterable[Sequence[Any]]) -> bytes:
        if raw_at:
            return _encoder.encode_lines([made(row) for row in rows])
        return _encoder.encode_lines([record(kind, *row) for row in rows])

    return write


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | dict):
        return _encoder.encode(value).decode()
    return value


def csv_writer(fields: Sequence[str]) -> tuple[bytes, Callable[[Iterable[Sequence[Any]]], bytes]]:
    """A CSV's header line, and a function writing rows (values in `fields` order) as its
    lines: text as is (JSON fields too), lists and objects as JSON, null as an empty cell."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")

    def take() -> bytes:
        value = text.getvalue().encode()
        text.seek(0)
        text.truncate()
        return value

    writer.writerow(fields)
    header = take()

    def write(rows: Iterable[Sequence[Any]]) -> bytes:
        writer.writerows([_cell(value) for value in row] for row in rows)
        return take()

    return header, write


class _Sink(io.RawIOBase):
    """Where zipfile writes (unseekable): the bytes wait here until the stream takes them."""

    def __init__(self) -> None:
        super().__init__()
        self.pending = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.pending += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self.pending)
        self.pending.clear()
        return data


async def zip_stream(
    members: AsyncIterator[tuple[str, AsyncIterator[bytes]]], comment: bytes = b""
) -> AsyncIterator[bytes]:
    """A ZIP of `members` (name, its pieces), written as its pieces arrive: zipfile writes to
    an unseekable stream with data descriptors, so nothing but the piece at hand is held.
    Deflate's fastest level: CSV shrinks well even so, and level 6 took twice the CPU."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.comment = comment
        async for name, pieces in members:
            with archive.open(name, "w", force_zip64=True) as member:
                async for piece in pieces:
                    member.write(piece)
                    if sink.pending:
                        yield sink.take()
            yield sink.take()
    yield sink.take()


class LineTooLong(Exception):
    def __init__(self, number: int) -> None:
        super().__init__(f"line {number}")
        self.number = number


async def lines(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[tuple[int, bytes]]:
    """The lines of a body as it arrives, numbered from 1, without their line ends (`\\n` or
    `\\r\\n`); LineTooLong for one longer than `limit` bytes, before it is all held."""
    number = 0
    pending = b""
    async for chunk in chunks:
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            number += 1
            line = pending[start:end].removesuffix(b"\r")
            if len(line) > limit:
                raise LineTooLong(number)
            yield number, line
            start = end + 1
        pending = pending[start:]
        if len(pending) > limit + 1:  # its `\r` may still be to come
            raise LineTooLong(number + 1)
    if len(pending.removesuffix(b"\r")) > limit:
        raise LineTooLong(number + 1)
    if pending:
        yield number + 1, pending.removesuffix(b"\r")
