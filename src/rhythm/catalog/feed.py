"""The provider's catalog feed, read as a stream into plain values. Pure: the only I/O is reading
the binary stream it is given.

This module owns the shape of the feed and nothing else (no database, no HTTP). Two variants
are accepted, told apart by the root element:

    eventList > output > base_event > event > zone   (base_event_id, event_id, event_*_date)
    planList  > output > base_plan  > plan  > zone   (base_plan_id,  plan_id,  plan_*_date)

`parse_feed` yields, in document order, one `BaseEvent` per base element that has valid
attributes (followed by a `Rejected` for each of its slots that was dropped), or a single
`Rejected` for a base element whose own attributes are unusable. Validation is deliberately
narrow: required attributes present and parseable, nothing more (an end before its start is
kept as written; a zone_id may repeat within a slot and every occurrence is kept).

- base: base_event_id (integer), sell_mode, title required; organizer_company_id optional
  (integer). Any problem rejects the whole base event.
- slot: event_id (integer), event_start_date, event_end_date (`YYYY-MM-DDTHH:MM:SS`, a real
  calendar date), sold_out (`true`/`false`) required; sell_from, sell_to optional dates. A
  problem, including one in any of its zones, rejects that slot only; the base event keeps its
  other slots and is yielded even when none is left.
- zone: zone_id (integer), capacity (integer >= 0), price (decimal, finite, >= 0), name,
  numbered (`true`/`false`) all required.

Integers are ASCII decimal digits and must fit a signed 64-bit column; prices are digits with
an optional fraction (`20.00`), no sign or exponent; booleans are exactly `true` or `false`;
leading and trailing blanks around these typed values are ignored (XML Schema `collapse`). Text
attributes are kept exactly as written but a blank one counts as missing. Dates are naive: the
provider's local wall clock, as written.

Hardening: the feed comes from outside and is parsed as untrusted input.

- Any document type declaration (`<!DOCTYPE`, with an internal or an external subset) is
  refused with `FeedError` before lxml reads a byte of it: the prolog (everything before the
  root element) is scanned here first, in the document's own encoding, so entity definitions
  (billion laughs, quadratic blowup, XXE to `file://` or `http://`) and external DTDs are never
  seen by the parser, let alone expanded or fetched. Only UTF-8, ASCII, the ISO-8859 and
  Windows code pages and UTF-16 are accepted, so that this scan and lxml agree on what the
  bytes say (UTF-7 or EBCDIC could otherwise smuggle a `<!DOCTYPE` past it). Should one get
  through anyway, the parser's docinfo is checked again at the root element, and lxml itself
  neither substitutes entities nor loads DTDs nor touches the network.
- lxml's `iterparse` runs with `resolve_entities=False`, `no_network=True`, `load_dtd=False`,
  `dtd_validation=False` and `huge_tree=False` (libxml2's own size and depth limits stay on).
- Elements are freed as soon as they are processed (cleared, earlier siblings removed), so
  memory is bounded by one base event, not by the feed; nesting deeper than `MAX_DEPTH` is
  refused.

`FeedError` means the document as a whole is unusable: malformed or truncated XML, a document
type declaration, an unsupported encoding, excessive nesting or an unknown root element. It is
raised where the problem is met, so base events before it have already been yielded; the caller
must then treat the whole run as failed (for instance roll back, and never mark what this feed
did not list as gone).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import IO, Any, TypeVar

from lxml import etree  # type: ignore[import-untyped]

__all__ = [
    "MAX_DEPTH",
    "BaseEvent",
    "FeedError",
    "Rejected",
    "Slot",
    "Zone",
    "parse_feed",
]

MAX_DEPTH = 32  # the feed itself nests 5 deep
_PROLOG_LIMIT = 64 * 1024  # bytes allowed before the root element
_READ_SIZE = 16 * 1024
_INT64_MAX = 2**63 - 1
_SHOWN = 60  # characters of an offending value quoted in a reason

_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "attribute_defaults": False,
    "remove_comments": True,
    "remove_pis": True,
    "collect_ids": False,
    "recover": False,
}


@dataclass(frozen=True)
class Zone:
    zone_id: int
    name: str
    capacity: int
    price: Decimal
    numbered: bool


@dataclass(frozen=True)
class Slot:
    """An `<event>` (or `<plan>`)."""

    event_id: int
    starts_at: datetime  # naive: the provider's local wall clock, as written
    ends_at: datetime
    sell_from: datetime | None
    sell_to: datetime | None
    sold_out: bool
    zones: tuple[Zone, ...]  # in document order; a zone_id can repeat within a slot


@dataclass(frozen=True)
class BaseEvent:
    """A `<base_event>` (or `<base_plan>`) with its valid slots."""

    base_event_id: int
    title: str
    sell_mode: str  # "online", "offline", ... as given
    organizer_company_id: int | None
    slots: tuple[Slot, ...]


@dataclass(frozen=True)
class Rejected:
    """A base event (event_id None) or a slot that was dropped, and why."""

    base_event_id: str | None  # as written, when known
    event_id: str | None
    reason: str  # human readable: which attribute, what was wrong


class FeedError(Exception):
    """The document as a whole is unusable; the run that read it must be treated as failed."""


@dataclass(frozen=True)
class _Variant:
    base: str
    base_id: str
    slot: str
    slot_id: str
    start: str
    end: str


_VARIANTS = {
    "eventList": _Variant(
        "base_event", "base_event_id", "event", "event_id", "event_start_date", "event_end_date"
    ),
    "planList": _Variant(
        "base_plan", "base_plan_id", "plan", "plan_id", "plan_start_date", "plan_end_date"
    ),
}


def parse_feed(stream: IO[bytes]) -> Iterator[BaseEvent | Rejected]:
    """Base events of the feed in document order, or `Rejected` for what was dropped.

    Raises `FeedError` (possibly after some items were yielded) when the document as a whole
    is unusable; the caller must then treat the run as failed.
    """
    yield from _parse(_guard_prolog(stream))


# --- the prolog: refuse document type declarations before lxml sees them --------------------

_WHITESPACE = " \t\r\n"
_ENCODING = re.compile(r"""\sencoding\s*=\s*(["'])([^"']*)\1""")
# Signatures from XML 1.0 appendix F; None: ASCII-compatible (UTF-8 unless declared otherwise).
_SIGNATURES: tuple[tuple[bytes, str | None], ...] = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", None),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
_WINDOWS = {f"cp{n}" for n in range(1250, 1259)}


class _Replay:
    """The bytes read ahead, then the rest of the stream."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(size)
        if size < 0:
            data, self._head = self._head + self._stream.read(), b""
        else:
            data, self._head = self._head[:size], self._head[size:]
        return data


def _guard_prolog(stream: IO[bytes]) -> _Replay:
    """Read up to the root element's `<` and refuse DOCTYPEs and unexpected encodings."""
    head = b""
    eof = False
    while not eof:
        chunk = stream.read(_READ_SIZE)
        eof = not chunk
        head += chunk
        if len(head) < 4 and not eof:
            continue
        family = next((codec for sig, codec in _SIGNATURES if head.startswith(sig)), None)
        if family is None:
            # ASCII-compatible: the markup that matters is ASCII in every accepted encoding.
            body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
            text = body.decode("latin-1")
        else:
            decoder = codecs.getincrementaldecoder(family)(errors="replace")
            text = decoder.decode(head, final=eof)
        complete, declared = _scan_prolog(text)
        if complete:
            _check_encoding(family, declared)
            return _Replay(head, stream)
        if len(head) > _PROLOG_LIMIT:
            raise FeedError(f"no root element within the first {_PROLOG_LIMIT} bytes")
    if not head.strip():
        raise FeedError("the document is empty")
    raise FeedError("the document ends before its root element")


def _scan_prolog(text: str) -> tuple[bool, str | None]:
    """(whether the root element's start was reached, the declared encoding)."""
    start = 1 if text.startswith("\ufeff") else 0
    pos, size, declared = start, len(text), None
    while True:
        while pos < size and text[pos] in _WHITESPACE:
            pos += 1
        if size - pos < 4:
            return False, declared
        if text.startswith("<?", pos):
            end = text.find("?>", pos + 2)
            if end < 0:
                return False, declared
            if pos == start and text.startswith("<?xml", pos) and text[pos + 5] in _WHITESPACE:
                match = _ENCODING.search(text, pos, end)
                declared = match.group(2) if match else None
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
            if end < 0:
                return False, declared
            pos = end + 3
        elif text.startswith("<!", pos):
            raise FeedError("a document type declaration (<!DOCTYPE ...>) is not accepted")
        elif text[pos] == "<":
            return True, declared
        else:
            raise FeedError(f"unexpected content before the root element: {_show(text[pos])}")


def _check_encoding(family: str | None, declared: str | None) -> None:
    if declared is None:
        return
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        raise FeedError(f"unsupported encoding {_show(declared)}") from None
    if family is None:
        if name in ("utf-8", "ascii") or name.startswith("iso8859-") or name in _WINDOWS:
            return
        raise FeedError(f"unsupported encoding {_show(declared)}")
    if not name.startswith(family[:6]):
        raise FeedError(f"the declared encoding {_show(declared)} does not match the content")


# --- the document ------------------------------------------------------------------------


def _parse(source: Any) -> Iterator[BaseEvent | Rejected]:
    events = etree.iterparse(source, events=("start", "end"), **_PARSER_OPTIONS)
    variant: _Variant | None = None
    depth = 0
    in_base = False
    while True:
        try:
            event, elem = next(events)
        except StopIteration:
            break
        except etree.LxmlError as exc:
            raise FeedError(f"malformed XML: {exc}") from exc
        if event == "start":
            depth += 1
            if depth > MAX_DEPTH:
                raise FeedError(f"elements are nested more than {MAX_DEPTH} deep")
            if variant is None:
                _refuse_doctype(elem)
                variant = _VARIANTS.get(elem.tag)
                if variant is None:
                    raise FeedError(
                        f"the root element is {_show(str(elem.tag))}, not eventList or planList"
                    )
            elif depth == 3 and elem.tag == variant.base and elem.getparent().tag == "output":
                in_base = True
            continue
        level, depth = depth, depth - 1
        assert variant is not None
        if not in_base:
            if level > 1:
                _release(elem)
        elif level == 3:
            in_base = False
            yield from _base_event(elem, variant)
            _release(elem)
        elif level > 5 or elem.tag != (variant.slot if level == 4 else "zone"):
            elem.clear()  # not part of the feed: drop it now rather than with its base event
    if variant is None:
        raise FeedError("the document has no root element")


def _refuse_doctype(root: Any) -> None:
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise FeedError("a document type declaration (<!DOCTYPE ...>) is not accepted")


def _release(elem: Any) -> None:
    elem.clear()
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


def _base_event(elem: Any, variant: _Variant) -> Iterator[BaseEvent | Rejected]:
    attrib: Mapping[str, str] = elem.attrib
    raw_id = attrib.get(variant.base_id)
    errors: list[str] = []
    base_id = _field(attrib, variant.base_id, _integer, errors)
    sell_mode = _field(attrib, "sell_mode", _text, errors)
    title = _field(attrib, "title", _text, errors)
    organizer = _field(attrib, "organizer_company_id", _integer, errors, required=False)
    if errors or base_id is None or sell_mode is None or title is None:
        yield Rejected(raw_id, None, "; ".join(errors))
        return
    slots: list[Slot] = []
    rejected: list[Rejected] = []
    for child in elem:
        if child.tag == variant.slot:
            slot = _slot(child, variant, raw_id)
            if isinstance(slot, Rejected):
                rejected.append(slot)
            else:
                slots.append(slot)
    yield BaseEvent(base_id, title, sell_mode, organizer, tuple(slots))
    yield from rejected


def _slot(elem: Any, variant: _Variant, base_raw_id: str | None) -> Slot | Rejected:
    attrib: Mapping[str, str] = elem.attrib
    errors: list[str] = []
    event_id = _field(attrib, variant.slot_id, _integer, errors)
    starts_at = _field(attrib, variant.start, _datetime, errors)
    ends_at = _field(attrib, variant.end, _datetime, errors)
    sell_from = _field(attrib, "sell_from", _datetime, errors, required=False)
    sell_to = _field(attrib, "sell_to", _datetime, errors, required=False)
    sold_out = _field(attrib, "sold_out", _boolean, errors)
    zones: list[Zone] = []
    number = 0
    for child in elem:
        if child.tag != "zone":
            continue
        number += 1
        zone = _zone(child)
        if isinstance(zone, Zone):
            zones.append(zone)
        else:
            errors.append(f"zone #{number} (zone_id={_show(child.get('zone_id'))}): {zone}")
    if errors or event_id is None or starts_at is None or ends_at is None or sold_out is None:
        return Rejected(base_raw_id, attrib.get(variant.slot_id), "; ".join(errors))
    return Slot(event_id, starts_at, ends_at, sell_from, sell_to, sold_out, tuple(zones))


def _zone(elem: Any) -> Zone | str:
    """The zone, or what is wrong with it."""
    attrib: Mapping[str, str] = elem.attrib
    errors: list[str] = []
    zone_id = _field(attrib, "zone_id", _integer, errors)
    name = _field(attrib, "name", _text, errors)
    capacity = _field(attrib, "capacity", _integer, errors)
    price = _field(attrib, "price", _price, errors)
    numbered = _field(attrib, "numbered", _boolean, errors)
    if errors or zone_id is None or name is None or capacity is None or price is None:
        return ", ".join(errors)
    if numbered is None:  # pragma: no cover - reported in errors
        return ", ".join(errors)
    return Zone(zone_id, name, capacity, price, numbered)


# --- attribute values --------------------------------------------------------------------

_T = TypeVar("_T")
_DIGITS = re.compile(r"[0-9]+")
_PRICE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_DATETIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})")


def _field(
    attrib: Mapping[str, str],
    name: str,
    parse: Callable[[str], _T],
    errors: list[str],
    *,
    required: bool = True,
) -> _T | None:
    raw = attrib.get(name)
    if raw is None:
        if required:
            errors.append(f"{name} is missing")
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        errors.append(f"{name}={_show(raw)} {exc}")
        return None


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("is blank")
    return raw


def _integer(raw: str) -> int:
    value = raw.strip(_WHITESPACE)
    if not _DIGITS.fullmatch(value):
        raise ValueError("is not a non-negative integer")
    if len(value) > 19 or int(value) > _INT64_MAX:
        raise ValueError("is out of range")
    return int(value)


def _price(raw: str) -> Decimal:
    value = raw.strip(_WHITESPACE)
    if not _PRICE.fullmatch(value):
        raise ValueError("is not a non-negative decimal number")
    try:
        price = Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise ValueError("is not a decimal number") from None
    if not price.is_finite() or price < 0:  # pragma: no cover - as above
        raise ValueError("is not a finite non-negative decimal number")
    return price


def _boolean(raw: str) -> bool:
    value = raw.strip(_WHITESPACE)
    if value == "true":
        return True
    if value == "false":
        return False
    raise ValueError("is not true or false")


def _datetime(raw: str) -> datetime:
    match = _DATETIME.fullmatch(raw.strip(_WHITESPACE))
    if match is None:
        raise ValueError("is not a date-time written YYYY-MM-DDTHH:MM:SS")
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        return datetime(year, month, day, hour, minute, second)  # naive on purpose
    except ValueError as exc:
        raise ValueError(f"is not a valid date-time ({exc})") from None


def _show(value: str | None) -> str:
    """A value quoted for a reason, cut short when long."""
    if value is None:
        return "None"
    if len(value) > _SHOWN:
        return repr(value[:_SHOWN]) + "..."
    return repr(value)
