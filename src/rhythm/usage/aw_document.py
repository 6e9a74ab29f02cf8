"""ActivityWatch's export document, `{"buckets": {id: {...bucket fields, "events": [...]}}}`,
read as a stream (pure).

An export of years holds millions of events: the document is read chunk by chunk and each
event is handed on as soon as it is decoded, so memory stays bounded by one chunk and one
value (MAX_VALUE_CHARS), whatever the document's size. Members other than `buckets` (and a
bucket's members other than `events`) are decoded whole, so they too are bounded by
MAX_VALUE_CHARS.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from rhythm.platform.errors import Unprocessable

# The longest single JSON value (an event, a bucket field) accepted, in characters.
MAX_VALUE_CHARS = 1024 * 1024

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = frozenset("0123456789.eE+-")


@dataclass(frozen=True, slots=True)
class BucketStart:
    slot: int  # the bucket's position in the document, from 0
    key: str  # its key in `buckets`


@dataclass(frozen=True, slots=True)
class EventItem:
    slot: int
    index: int  # the event's position in its bucket's `events`, from 0
    value: Any  # as decoded: validated by the reader's caller


@dataclass(frozen=True, slots=True)
class BucketEnd:
    slot: int
    key: str
    fields: dict[str, Any]  # every member of the bucket but `events`
    events: int  # how many events it held


Item = BucketStart | EventItem | BucketEnd


class MalformedDocument(Unprocessable):
    slug = "malformed-export"
    title = "Malformed export document"


class _Text:
    """The document's text, decoded from UTF-8 as chunks arrive."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self.chunks = chunks
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.consumed = 0  # characters dropped before buf

    async def more(self) -> bool:
        """Append the next chunk; False at the end of the document."""
        if self.eof:
            return False
        try:
            text = self.decoder.decode(await anext(self.chunks))
        except StopAsyncIteration:
            text = self.decoder.decode(b"", final=True)
            self.eof = True
        except UnicodeDecodeError:
            raise MalformedDocument("The document is not UTF-8.") from None
        self.consumed += self.pos
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return True

    def fail(self, what: str) -> MalformedDocument:
        return MalformedDocument(f"{what} at character {self.consumed + self.pos:,}.")

    async def peek(self) -> str:
        """The next character that is not whitespace ('' at the end), not consumed."""
        while True:
            match = _SPACE.match(self.buf, self.pos)
            assert match is not None
            self.pos = match.end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not await self.more():
                return ""

    async def expect(self, char: str) -> None:
        if await self.peek() != char:
            raise self.fail(f"Expected {char!r}")
        self.pos += 1

    async def value(self) -> Any:
        """The next JSON value, decoded whole."""
        await self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError:
                end = -1
            # A number running to the end of what has arrived, or up to a character that may
            # continue it ("1." of "1.5"), may go on in the next chunk.
            if end != -1 and (self.eof or (end < len(self.buf) and self.buf[end] not in _NUMBER)):
                self.pos = end
                return value
            if len(self.buf) - self.pos > MAX_VALUE_CHARS:
                raise self.fail(f"A value longer than {MAX_VALUE_CHARS:,} characters")
            if not await self.more():
                if end != -1:
                    self.pos = end
                    return value
                raise self.fail("Invalid JSON")

    async def members(self) -> AsyncIterator[str]:
        """An object's keys, after its '{': the caller reads each member's value."""
        await self.expect("{")
        if await self.peek() == "}":
            self.pos += 1
            return
        while True:
            if await self.peek() != '"':
                raise self.fail("Expected a key")
            key = await self.value()
            await self.expect(":")
            yield key
            following = await self.peek()
            self.pos += 1
            if following == "}":
                return
            if following != ",":
                self.pos -= 1
                raise self.fail("Expected ',' or '}'")

    async def elements(self) -> AsyncIterator[int]:
        """An array's positions, after its '[': the caller reads each element."""
        await self.expect("[")
        if await self.peek() == "]":
            self.pos += 1
            return
        index = 0
        while True:
            yield index
            index += 1
            following = await self.peek()
            self.pos += 1
            if following == "]":
                return
            if following != ",":
                self.pos -= 1
                raise self.fail("Expected ',' or ']'")


async def read_document(chunks: AsyncIterator[bytes], max_buckets: int) -> AsyncIterator[Item]:
    """The buckets and events of an export document, in document order: for each bucket a
    BucketStart, its events, then a BucketEnd with its other fields."""
    text = _Text(chunks)
    seen = False
    async for key in text.members():
        if key != "buckets":
            await text.value()  # ignored, as aw-server ignores it
            continue
        seen = True
        slot = 0
        async for bucket_key in text.members():
            if slot >= max_buckets:
                raise TooManyBuckets(f"At most {max_buckets:,} buckets per import.")
            yield BucketStart(slot, bucket_key)
            fields: dict[str, Any] = {}
            count = 0
            async for field in text.members():
                if field != "events":
                    fields[field] = await text.value()
                    continue
                async for index in text.elements():
                    yield EventItem(slot, index, await text.value())
                    count = index + 1
            yield BucketEnd(slot, bucket_key, fields, count)
            slot += 1
    if await text.peek() != "":
        raise text.fail("Unexpected text after the document")
    if not seen:
        raise MalformedDocument('The document has no "buckets" object.', field="buckets")


class TooManyBuckets(Unprocessable):
    status = 413
    slug = "import-too-large"
    title = "Import too large"


MAX_PART_HEADERS = 16 * 1024


async def uploaded_file(chunks: AsyncIterator[bytes], boundary: bytes) -> AsyncIterator[bytes]:
    """The content of the first file of a multipart/form-data body (aw-webui uploads the
    document as the file `buckets.json`), as it arrives; other parts are skipped."""
    delimiter = b"\r\n--" + boundary
    buf = b"\r\n"  # the body's first delimiter has no CRLF before it
    source = aiter(chunks)

    async def more() -> bool:
        nonlocal buf
        try:
            buf += await anext(source)
        except StopAsyncIteration:
            return False
        return True

    while True:
        # At a delimiter: the end of the form, or a part's headers.
        while (at := buf.find(delimiter)) < 0 or len(buf) < at + len(delimiter) + 2:
            if len(buf) > MAX_PART_HEADERS + len(delimiter) and at < 0:
                buf = buf[-len(delimiter) :]
            if not await more():
                raise MalformedDocument("The form holds no file.")
        buf = buf[at + len(delimiter) :]
        if buf.startswith(b"--"):
            raise MalformedDocument("The form holds no file.")
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > MAX_PART_HEADERS or not await more():
                raise MalformedDocument("A form part's headers are malformed.")
        headers, buf = buf[:end].lower(), buf[end + 4 :]
        if b"filename=" not in headers:
            continue  # a field, not a file: the loop above skips its value
        while (at := buf.find(delimiter)) < 0:
            keep = len(delimiter) - 1
            if len(buf) > keep:
                yield buf[:-keep]
                buf = buf[-keep:]
            if not await more():
                raise MalformedDocument("The form's file is cut short.")
        yield buf[:at]
        return


def form_boundary(content_type: str) -> bytes | None:
    """The boundary of a multipart/form-data Content-Type, None for any other type."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        value = value.strip('"')
        if name.lower() == "boundary" and 0 < len(value) <= 70 and value.isascii():
            return value.encode("ascii")
    raise MalformedDocument("A multipart/form-data body needs a boundary.")
