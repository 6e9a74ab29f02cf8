"""ActivityWatch's export document, `{"buckets": {id: {...bucket fields, "events": [...]}}}`,
read as a stream (pure), and the file of aw-webui's multipart upload that carries it.

An export of years holds millions of events: the document is pushed chunk by chunk into
ijson's C parser (yajl2), and each event is handed on as soon as ijson has built it, so memory
stays bounded by one chunk and one value (MAX_VALUE_BYTES), whatever the document's size.
ijson's `items` takes one fixed prefix, and a document's bucket ids are known only as they come:
a small router follows the document's outline (its first three levels) from ijson's parse
events, and hands each bucket's `events` to an `items` builder made for that bucket. A bucket's
members other than `events` are built whole (ijson's ObjectBuilder); members of the document
other than `buckets` are skipped, as aw-server ignores them. The multipart form is read by
python-multipart, the parser Starlette uses for forms, pushed chunk by chunk as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ijson
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from rhythm.platform.errors import Unprocessable

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

# The fastest backend ijson found (yajl2_c, its C extension, where its wheel has one): the
# module holds the push ("basecoro") builders the top-level `ijson` does not export.
_IJSON = ijson.get_backend(ijson.backend_name)

# The most bytes of the document a single value (an event, a bucket field) may span (give or
# take the two chunks it begins and ends in).
MAX_VALUE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BucketStart:
    slot: int  # the bucket's position in the document, from 0
    key: str  # its key in `buckets`


@dataclass(slots=True)  # not frozen: a frozen dataclass is built 3.5 times slower, once per event
class EventItem:
    slot: int
    index: int  # the event's position in its bucket's `events`, from 0
    value: Any  # as decoded: validated by the reader's caller


@dataclass(frozen=True, slots=True)
class EventsStart:
    """The start of a bucket's events (its first `events` array): the members read before it
    are known, and its events follow (aw-server writes them last)."""

    slot: int
    key: str
    fields: dict[str, Any]  # a copy of the members before `events`


@dataclass(frozen=True, slots=True)
class BucketEnd:
    slot: int
    key: str
    fields: dict[str, Any]  # every member of the bucket but `events`
    events: int  # how many events it held


Item = BucketStart | EventsStart | EventItem | BucketEnd


class MalformedDocument(Unprocessable):
    slug = "malformed-export"
    title = "Malformed export document"


class TooManyBuckets(Unprocessable):
    status = 413
    slug = "import-too-large"
    title = "Import too large"


_OPEN = frozenset(("start_map", "start_array"))
_CLOSE = frozenset(("end_map", "end_array"))


class _Router:
    """The target of ijson's parse events: follows the outline (document, `buckets`, a bucket,
    its `events`) and queues the items it finds in `out`."""

    def __init__(self, max_buckets: int) -> None:
        self.max_buckets = max_buckets
        self.out: list[Item] = []
        self.level = 0  # containers open around the next event, up to a bucket's members
        self.seen = False  # whether the document had `buckets`
        self.completed = False  # whether a value was completed since the last look
        self.skip = 0  # > 0: inside a value that is ignored, this many containers deep
        self.key = ""  # the member of the current object whose value comes next
        self.slot = -1
        self.fields: dict[str, Any] = {}
        self.field: ijson.ObjectBuilder | None = None
        self.field_depth = 0
        self.events_prefix = ""  # while inside a bucket's `events`: the array's prefix
        self.events: list[Any] = ijson.sendable_list()
        self.items: Any = None
        self.count = 0
        self.bucket = ""  # the current bucket's key
        self.began = False  # whether the current bucket's events began

    def send(self, event: tuple[str, str, Any]) -> None:
        prefix, kind, value = event
        if self.events_prefix:
            if prefix == self.events_prefix and kind == "end_array":
                self.events_prefix = ""
                self.flush()
            else:
                self.items.send(event)
            return
        if self.field is not None:
            self.build(kind, value)
        elif self.skip:
            self.skip += (kind in _OPEN) - (kind in _CLOSE)
            self.completed = True
        elif kind == "map_key":
            self.key = value
            if self.level == 2:
                self.begin_bucket(value)
        elif kind == "end_map":
            if self.level == 3:
                self.out.append(BucketEnd(self.slot, self.bucket, self.fields, self.count))
                self.completed = True
            self.level -= 1
        else:
            self.value(prefix, kind, value)

    def value(self, prefix: str, kind: str, value: Any) -> None:
        """The start of a member's value (or of the document)."""
        if self.level == 0:
            if kind != "start_map":
                raise MalformedDocument("The document is not a JSON object.")
            self.level = 1
        elif self.level == 1 and self.key == "buckets":
            if kind != "start_map":
                raise MalformedDocument('"buckets" is not an object.', field="buckets")
            self.seen = True
            self.level = 2
        elif self.level == 2:
            if kind != "start_map":
                raise MalformedDocument(f"Bucket {self.bucket!r} is not an object.")
            self.level = 3
        elif self.level == 3 and self.key == "events":
            if kind != "start_array":
                raise MalformedDocument(f"The events of {self.bucket!r} are not an array.")
            self.events_prefix = prefix
            self.items = _IJSON.items_basecoro(self.events, prefix + ".item")
            if not self.began:
                self.began = True
                self.out.append(EventsStart(self.slot, self.bucket, dict(self.fields)))
        elif self.level == 3:
            self.field = ijson.ObjectBuilder()
            self.field_depth = 0
            self.build(kind, value)
        elif kind in _OPEN:
            self.skip = 1

    def build(self, kind: str, value: Any) -> None:
        assert self.field is not None
        self.field.event(kind, value)
        self.field_depth += (kind in _OPEN) - (kind in _CLOSE)
        if self.field_depth == 0:
            self.fields[self.key] = self.field.value
            self.field = None
            self.completed = True

    def begin_bucket(self, key: str) -> None:
        self.flush()
        if self.slot + 1 >= self.max_buckets:
            raise TooManyBuckets(f"At most {self.max_buckets:,} buckets per import.")
        self.slot += 1
        self.bucket = key
        self.fields = {}
        self.count = 0
        self.began = False
        self.out.append(BucketStart(self.slot, key))

    def flush(self) -> None:
        """Queue the events built so far."""
        if self.events:
            slot, first = self.slot, self.count
            self.out.extend(EventItem(slot, first + i, v) for i, v in enumerate(self.events))
            self.count += len(self.events)
            self.events.clear()
            self.completed = True


async def read_document(chunks: AsyncIterator[bytes], max_buckets: int) -> AsyncIterator[Item]:
    """The buckets and events of an export document, in document order: for each bucket a
    BucketStart, an EventsStart where its events begin (if they do), its events, then a
    BucketEnd with its other fields."""
    router = _Router(max_buckets)
    parser = _IJSON.parse_coro(router, use_float=True)
    pending = 0  # bytes read since a value was last completed
    try:
        async for chunk in chunks:
            if not chunk:
                continue  # to ijson, an empty chunk is the end of the document
            parser.send(chunk)
            router.flush()
            if router.out:
                for item in router.out:
                    yield item
                router.out.clear()
            if router.completed:
                router.completed, pending = False, 0
            else:
                pending += len(chunk)
                if pending > MAX_VALUE_BYTES:
                    raise MalformedDocument(f"A value spans more than {MAX_VALUE_BYTES:,} bytes.")
        parser.close()
    except ijson.JSONError as exc:
        raise MalformedDocument(f"The document is not valid JSON ({exc}).") from None
    for item in router.out:
        yield item
    if not router.seen:
        raise MalformedDocument('The document has no "buckets" object.', field="buckets")


class _Upload:
    """python-multipart's callbacks: keep the data of the form's first file."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.name: list[bytes] = []
        self.value: list[bytes] = []
        self.disposition = b""
        self.in_file = False
        self.found = False
        self.done = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_header_field": lambda buf, start, end: self.name.append(buf[start:end]),
            "on_header_value": lambda buf, start, end: self.value.append(buf[start:end]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def header_end(self) -> None:
        if b"".join(self.name).lower() == b"content-disposition":
            self.disposition = b"".join(self.value)
        self.name.clear()
        self.value.clear()

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        self.in_file = b"filename" in options and not self.done
        self.found = self.found or self.in_file
        self.disposition = b""

    def part_data(self, buf: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.data.append(buf[start:end])

    def part_end(self) -> None:
        if self.in_file:
            self.in_file, self.done = False, True


async def uploaded_file(chunks: AsyncIterator[bytes], boundary: bytes) -> AsyncIterator[bytes]:
    """The content of the first file of a multipart/form-data body (aw-webui uploads the
    document as the file `buckets.json`), as it arrives; other parts are skipped."""
    upload = _Upload()
    parser = MultipartParser(boundary, upload.callbacks())
    try:
        async for chunk in chunks:
            parser.write(chunk)
            if upload.data:
                yield b"".join(upload.data)
                upload.data.clear()
            if upload.done:
                return
    except FormParserError as exc:
        raise MalformedDocument(f"The form is malformed ({exc}).") from None
    if not upload.found:
        raise MalformedDocument("The form holds no file.")
    raise MalformedDocument("The form's file is cut short.")


def form_boundary(content_type: str) -> bytes | None:
    """The boundary of a multipart/form-data Content-Type, None for any other type."""
    kind, options = parse_options_header(content_type)
    if kind.lower() != b"multipart/form-data":
        return None
    boundary = options.get(b"boundary", b"")
    if not 0 < len(boundary) <= 70 or not boundary.isascii():
        raise MalformedDocument("A multipart/form-data body needs a boundary.")
    return boundary
