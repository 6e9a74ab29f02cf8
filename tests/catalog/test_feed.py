"""catalog.feed: the provider's samples, attribute validation, hostile XML and a large feed.

Database-free. The samples are the provider's real responses, kept in tests/catalog/samples;
the measurements run in subprocesses so that their peak RSS is the
parser's alone.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

from rhythm.catalog import feed
from rhythm.catalog.feed import BaseEvent, FeedError, Rejected, Slot, Zone, parse_feed

SAMPLES = Path(__file__).resolve().parent / "samples"  # the provider's real responses
SRC = Path(__file__).resolve().parents[2] / "src"
MB = 1024 * 1024

Item = BaseEvent | Rejected


def parse(data: bytes) -> list[Item]:
    return list(parse_feed(io.BytesIO(data)))


def sample(name: str) -> list[Item]:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"provider sample {path} is not available (set RHYTHM_CATALOG_SAMPLES)")
    with path.open("rb") as stream:
        return list(parse_feed(stream))


def dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def bases(items: list[Item]) -> list[BaseEvent]:
    return [item for item in items if isinstance(item, BaseEvent)]


def rejected(items: list[Item]) -> list[Rejected]:
    return [item for item in items if isinstance(item, Rejected)]


# --- the provider's samples ------------------------------------------------------------------

CAMELA = BaseEvent(
    base_event_id=291,
    title="Camela en concierto",
    sell_mode="online",
    organizer_company_id=None,
    slots=(
        Slot(
            event_id=291,
            starts_at=dt("2021-06-30T21:00:00"),
            ends_at=dt("2021-06-30T22:00:00"),
            sell_from=dt("2020-07-01T00:00:00"),
            sell_to=dt("2021-06-30T20:00:00"),
            sold_out=False,
            zones=(
                Zone(40, "Platea", 243, Decimal("20.00"), True),
                Zone(38, "Grada 2", 100, Decimal("15.00"), False),
                Zone(30, "A28", 90, Decimal("30.00"), True),
            ),
        ),
    ),
)
PANTOMIMA_1642 = Slot(
    event_id=1642,
    starts_at=dt("2021-02-10T20:00:00"),
    ends_at=dt("2021-02-10T21:30:00"),
    sell_from=dt("2021-01-01T00:00:00"),
    sell_to=dt("2021-02-09T19:50:00"),
    sold_out=False,
    zones=(Zone(311, "A42", 2, Decimal("55.00"), True),),
)
PANTOMIMA = BaseEvent(322, "Pantomima Full", "online", 2, (PANTOMIMA_1642,))
MORANCOS = BaseEvent(
    base_event_id=1591,
    title="Los Morancos",
    sell_mode="online",
    organizer_company_id=1,
    slots=(
        Slot(
            event_id=1642,
            starts_at=dt("2021-07-31T20:00:00"),
            ends_at=dt("2021-07-31T21:00:00"),
            sell_from=dt("2021-06-26T00:00:00"),
            sell_to=dt("2021-07-31T19:50:00"),
            sold_out=False,
            zones=(
                Zone(186, "Amfiteatre", 2, Decimal("75.00"), True),
                Zone(186, "Amfiteatre", 16, Decimal("65.00"), False),
            ),
        ),
    ),
)


def test_response_1_parses_to_three_base_events() -> None:
    items = sample("provider_response_1.xml")

    assert items == [CAMELA, PANTOMIMA, MORANCOS]
    assert all(slot.starts_at.tzinfo is None for base in bases(items) for slot in base.slots)


def test_response_1_has_event_1642_under_two_base_events() -> None:
    items = bases(sample("provider_response_1.xml"))

    owners = [base.base_event_id for base in items for slot in base.slots if slot.event_id == 1642]
    assert owners == [322, 1591]


def test_a_repeated_zone_id_within_a_slot_is_kept_twice() -> None:
    (morancos,) = [b for b in bases(sample("provider_response_1.xml")) if b.base_event_id == 1591]

    zones = [zone for zone in morancos.slots[0].zones if zone.zone_id == 186]
    assert [(z.price, z.capacity, z.numbered) for z in zones] == [
        (Decimal("75.00"), 2, True),
        (Decimal("65.00"), 16, False),
    ]


@pytest.mark.parametrize(
    ("name", "capacities", "end_291", "end_1591"),
    [
        ("provider_response_2.xml", [240, 50, 90, 0, 14], "22:00", "21:20"),
        ("provider_response_3.xml", [200, 0, 80, 0, 12], "21:30", "21:00"),
    ],
)
def test_responses_2_and_3_reject_the_2021_09_31_slot_only(
    name: str, capacities: list[int], end_291: str, end_1591: str
) -> None:
    items = sample(name)

    assert [type(item) for item in items] == [BaseEvent, BaseEvent, BaseEvent, Rejected]
    camela, morancos, tributo, bad = items
    assert isinstance(camela, BaseEvent) and isinstance(morancos, BaseEvent)
    assert [
        (b.base_event_id, b.title, b.sell_mode, b.organizer_company_id) for b in bases(items)
    ] == [
        (291, "Camela en concierto", "online", None),
        (1591, "Los Morancos", "online", 1),
        (444, "Tributo a Juanito Valderrama", "offline", 1),
    ]
    assert [zone.capacity for b in (camela, morancos) for zone in b.slots[0].zones] == capacities
    assert camela.slots[0].ends_at == dt(f"2021-06-30T{end_291}:00")
    assert morancos.slots[0].ends_at == dt(f"2021-07-31T{end_1591}:00")
    assert [z.zone_id for z in morancos.slots[0].zones] == [186, 186]
    # The base event survives without its only slot, which is reported.
    assert tributo == BaseEvent(444, "Tributo a Juanito Valderrama", "offline", 1, ())
    assert isinstance(bad, Rejected)
    assert (bad.base_event_id, bad.event_id) == ("444", "1642")
    assert "event_start_date='2021-09-31T20:00:00'" in bad.reason
    assert "day is out of range for month" in bad.reason
    assert "sell_to='2021-09-31T19:50:00'" in bad.reason
    assert "sell_from" not in bad.reason


def test_the_planlist_variant_parses_like_an_eventlist() -> None:
    items = sample("provider_planlist_variant.xml")

    pantomima_1643 = Slot(
        event_id=1643,
        starts_at=dt("2021-02-11T20:00:00"),
        ends_at=dt("2021-02-11T21:30:00"),
        sell_from=dt("2021-01-01T00:00:00"),
        sell_to=dt("2021-02-10T19:50:00"),
        sold_out=False,
        zones=(Zone(311, "A42", 2, Decimal("55.00"), True),),
    )
    pantomima = BaseEvent(322, "Pantomima Full", "online", 2, (PANTOMIMA_1642, pantomima_1643))
    assert items == [CAMELA, pantomima, MORANCOS]
    assert [len(b.slots) for b in bases(items)] == [1, 2, 1]
    assert [len(s.zones) for b in bases(items) for s in b.slots] == [3, 1, 1, 2]


# --- attribute validation --------------------------------------------------------------------

BASE = {"base_event_id": "10", "sell_mode": "online", "title": "Gira", "organizer_company_id": "3"}
SLOT = {
    "event_id": "2",
    "event_start_date": "2021-02-10T20:00:00",
    "event_end_date": "2021-02-10T21:30:00",
    "sell_from": "2021-01-01T00:00:00",
    "sell_to": "2021-02-09T19:50:00",
    "sold_out": "false",
}
ZONE = {"zone_id": "5", "capacity": "10", "price": "12.50", "name": "Platea", "numbered": "true"}


def element(tag: str, attrs: dict[str, str], *children: str) -> str:
    attributes = "".join(f" {name}={quoteattr(value)}" for name, value in attrs.items())
    if not children:
        return f"<{tag}{attributes}/>"
    return f"<{tag}{attributes}>{''.join(children)}</{tag}>"


def document(*base_elements: str, root: str = "eventList") -> bytes:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}><output>{"".join(base_elements)}'
    return (body + f"</output></{root}>").encode()


def changed(attrs: dict[str, str], **changes: str | None) -> dict[str, str]:
    """`attrs` with some values replaced, or removed when given None."""
    result = {**attrs, **{k: v for k, v in changes.items() if v is not None}}
    for name, value in changes.items():
        if value is None:
            result.pop(name, None)
    return result


def good_slot(event_id: str) -> str:
    return element("event", changed(SLOT, event_id=event_id), element("zone", ZONE))


def expected_slot(event_id: int) -> Slot:
    return Slot(
        event_id=event_id,
        starts_at=dt("2021-02-10T20:00:00"),
        ends_at=dt("2021-02-10T21:30:00"),
        sell_from=dt("2021-01-01T00:00:00"),
        sell_to=dt("2021-02-09T19:50:00"),
        sold_out=False,
        zones=(Zone(5, "Platea", 10, Decimal("12.50"), True),),
    )


def test_a_fully_valid_document_round_trips() -> None:
    items = parse(document(element("base_event", BASE, good_slot("1"))))

    assert items == [BaseEvent(10, "Gira", "online", 3, (expected_slot(1),))]


SLOT_CASES = [
    # (slot attribute changes, zone attribute changes, what the reason must say)
    ({"event_id": None}, {}, "event_id is missing"),
    ({"event_id": "abc"}, {}, "event_id='abc' is not a non-negative integer"),
    ({"event_id": "-2"}, {}, "event_id='-2' is not a non-negative integer"),
    ({"event_id": "2.0"}, {}, "event_id='2.0' is not a non-negative integer"),
    ({"event_id": "99999999999999999999"}, {}, "is out of range"),
    ({"event_start_date": None}, {}, "event_start_date is missing"),
    ({"event_end_date": None}, {}, "event_end_date is missing"),
    ({"event_start_date": "2021-09-31T20:00:00"}, {}, "day is out of range for month"),
    ({"event_start_date": "2021-02-29T20:00:00"}, {}, "day is out of range for month"),
    ({"event_end_date": "2021-02-10T24:00:00"}, {}, "hour must be in 0..23"),
    ({"event_end_date": "2021-02-10 21:30:00"}, {}, "is not a date-time written"),
    ({"event_end_date": "2021-02-10"}, {}, "is not a date-time written"),
    ({"event_end_date": "2021-02-10T21:30:00Z"}, {}, "is not a date-time written"),
    ({"event_end_date": ""}, {}, "event_end_date='' is not a date-time written"),
    ({"sold_out": None}, {}, "sold_out is missing"),
    ({"sold_out": "yes"}, {}, "sold_out='yes' is not true or false"),
    ({"sold_out": "True"}, {}, "sold_out='True' is not true or false"),
    ({"sold_out": "1"}, {}, "sold_out='1' is not true or false"),
    ({"sell_from": "2021-13-01T00:00:00"}, {}, "sell_from='2021-13-01T00:00:00' is not a valid"),
    ({"sell_to": "soon"}, {}, "sell_to='soon' is not a date-time written"),
    ({"sell_to": ""}, {}, "sell_to='' is not a date-time"),
    ({}, {"price": "abc"}, "zone #1 (zone_id='5'): price='abc' is not a non-negative decimal"),
    ({}, {"price": "-1.00"}, "price='-1.00' is not a non-negative decimal"),
    ({}, {"price": "NaN"}, "price='NaN' is not a non-negative decimal"),
    ({}, {"price": "Infinity"}, "price='Infinity' is not a non-negative decimal"),
    ({}, {"price": "1e3"}, "price='1e3' is not a non-negative decimal"),
    ({}, {"price": "12,50"}, "price='12,50' is not a non-negative decimal"),
    ({}, {"price": ""}, "price='' is not a non-negative decimal"),
    ({}, {"price": None}, "price is missing"),
    ({}, {"capacity": "-"}, "capacity='-' is not a non-negative integer"),
    ({}, {"capacity": "-1"}, "capacity='-1' is not a non-negative integer"),
    ({}, {"capacity": "1.5"}, "capacity='1.5' is not a non-negative integer"),
    ({}, {"capacity": None}, "capacity is missing"),
    ({}, {"zone_id": "x"}, "zone #1 (zone_id='x'): zone_id='x' is not a non-negative integer"),
    ({}, {"zone_id": None}, "zone #1 (zone_id=None): zone_id is missing"),
    ({}, {"numbered": "maybe"}, "numbered='maybe' is not true or false"),
    ({}, {"numbered": None}, "numbered is missing"),
    ({}, {"name": None}, "name is missing"),
    ({}, {"name": "  "}, "name='  ' is blank"),
]


@pytest.mark.parametrize(("slot_changes", "zone_changes", "reason"), SLOT_CASES)
def test_a_bad_slot_or_zone_rejects_that_slot_only(
    slot_changes: dict[str, str | None], zone_changes: dict[str, str | None], reason: str
) -> None:
    if zone_changes:  # the bad zone comes first, a good one follows
        zones = element("zone", changed(ZONE, **zone_changes)) + element("zone", ZONE)
    else:
        zones = element("zone", ZONE)
    bad = element("event", changed(SLOT, **slot_changes), zones)

    items = parse(document(element("base_event", BASE, good_slot("1"), bad, good_slot("3"))))

    assert items[0] == BaseEvent(10, "Gira", "online", 3, (expected_slot(1), expected_slot(3)))
    assert len(items) == 2
    rejection = items[1]
    assert isinstance(rejection, Rejected)
    assert rejection.base_event_id == "10"
    assert rejection.event_id == changed(SLOT, **slot_changes).get("event_id")
    assert reason in rejection.reason


BASE_CASES = [
    ({"base_event_id": None}, "base_event_id is missing"),
    ({"base_event_id": "abc"}, "base_event_id='abc' is not a non-negative integer"),
    ({"base_event_id": ""}, "base_event_id='' is not a non-negative integer"),
    ({"sell_mode": None}, "sell_mode is missing"),
    ({"sell_mode": ""}, "sell_mode='' is blank"),
    ({"title": None}, "title is missing"),
    ({"title": " \t"}, "is blank"),
    ({"organizer_company_id": "x"}, "organizer_company_id='x' is not a non-negative integer"),
    ({"organizer_company_id": ""}, "organizer_company_id='' is not a non-negative integer"),
]


@pytest.mark.parametrize(("base_changes", "reason"), BASE_CASES)
def test_a_bad_base_event_is_rejected_whole(
    base_changes: dict[str, str | None], reason: str
) -> None:
    bad_base = changed(BASE, **base_changes)
    data = document(
        element("base_event", bad_base, good_slot("1"), good_slot("2")),
        element("base_event", changed(BASE, base_event_id="20"), good_slot("1")),
    )

    items = parse(data)

    assert len(items) == 2
    rejection, survivor = items
    assert isinstance(rejection, Rejected)
    assert rejection.base_event_id == bad_base.get("base_event_id")
    assert rejection.event_id is None
    assert reason in rejection.reason
    assert survivor == BaseEvent(20, "Gira", "online", 3, (expected_slot(1),))


def test_every_problem_of_an_element_is_reported_in_one_reason() -> None:
    bad_slot = element(
        "event",
        changed(SLOT, event_start_date="2021-09-31T20:00:00", sold_out="no"),
        element("zone", changed(ZONE, price="abc")),
        element("zone", ZONE),
        element("zone", changed(ZONE, zone_id="7", capacity="-")),
    )

    items = parse(document(element("base_event", BASE, bad_slot)))

    assert items[0] == BaseEvent(10, "Gira", "online", 3, ())
    rejection = items[1]
    assert isinstance(rejection, Rejected)
    assert rejection.reason == (
        "event_start_date='2021-09-31T20:00:00' is not a valid date-time"
        " (day is out of range for month); sold_out='no' is not true or false;"
        " zone #1 (zone_id='5'): price='abc' is not a non-negative decimal number;"
        " zone #3 (zone_id='7'): capacity='-' is not a non-negative integer"
    )


def test_optional_attributes_may_be_absent() -> None:
    data = document(
        element(
            "base_event",
            changed(BASE, organizer_company_id=None),
            element("event", changed(SLOT, sell_from=None, sell_to=None), element("zone", ZONE)),
        )
    )

    (base,) = parse(data)

    assert isinstance(base, BaseEvent)
    assert base.organizer_company_id is None
    assert (base.slots[0].sell_from, base.slots[0].sell_to) == (None, None)


def test_no_rules_beyond_presence_and_parsing() -> None:
    """An end before its start, a slot without zones, a capacity of 0, sold_out true: kept."""
    backwards = changed(
        SLOT,
        event_id="4",
        event_start_date="2021-02-10T22:00:00",
        event_end_date="2021-02-10T20:00:00",
        sold_out="true",
    )
    data = document(
        element(
            "base_event",
            changed(BASE, sell_mode="some-new-mode"),
            element("event", backwards, element("zone", changed(ZONE, capacity="0", price="0"))),
            element("event", changed(SLOT, event_id="5")),
        )
    )

    (base,) = parse(data)

    assert isinstance(base, BaseEvent)
    assert base.sell_mode == "some-new-mode"
    first, second = base.slots
    assert first.ends_at < first.starts_at
    assert first.sold_out is True
    assert first.zones == (Zone(5, "Platea", 0, Decimal("0"), True),)
    assert second.zones == ()


def test_blanks_around_typed_values_are_ignored_and_text_is_kept_as_written() -> None:
    data = document(
        element(
            "base_event",
            changed(BASE, base_event_id=" 10 ", title="  Gira  "),
            element(
                "event",
                changed(
                    SLOT, event_id="2 ", event_start_date=" 2021-02-10T20:00:00", sold_out=" false"
                ),
                element("zone", changed(ZONE, capacity=" 10", price="12.50 ", numbered="true ")),
            ),
        )
    )

    (base,) = parse(data)

    assert base == BaseEvent(10, "  Gira  ", "online", 3, (expected_slot(2),))


def test_long_values_are_cut_short_in_reasons() -> None:
    data = document(element("base_event", changed(BASE, base_event_id="x" * 10_000)))

    (rejection,) = parse(data)

    assert isinstance(rejection, Rejected)
    assert rejection.base_event_id == "x" * 10_000
    assert len(rejection.reason) < 200


def test_planlist_reasons_name_the_plan_attributes() -> None:
    plan = changed(SLOT, event_id=None, event_start_date=None, event_end_date=None)
    plan |= {"plan_id": "7", "plan_start_date": "2021-09-31T20:00:00"}
    data = document(
        element(
            "base_plan",
            changed(BASE, base_event_id=None) | {"base_plan_id": "9"},
            element("plan", plan, element("zone", ZONE)),
        ),
        root="planList",
    )

    items = parse(data)

    assert items[0] == BaseEvent(9, "Gira", "online", 3, ())
    rejection = items[1]
    assert isinstance(rejection, Rejected)
    assert (rejection.base_event_id, rejection.event_id) == ("9", "7")
    assert "plan_start_date='2021-09-31T20:00:00' is not a valid date-time" in rejection.reason
    assert "plan_end_date is missing" in rejection.reason


def test_elements_of_the_other_variant_and_unknown_elements_are_ignored() -> None:
    data = (
        b"<eventList><script/><output>"
        + element("base_plan", BASE | {"base_plan_id": "1"}).encode()
        + b"<note>hello</note>"
        + element(
            "base_event",
            BASE,
            "<description>text <b>bold</b></description>",
            element("event", SLOT, "<extra/>", element("zone", ZONE)),
        ).encode()
        + b"</output><!-- done --></eventList>"
    )

    assert parse(data) == [BaseEvent(10, "Gira", "online", 3, (expected_slot(2),))]


def test_encodings_other_than_utf8() -> None:
    text = (SAMPLES / "provider_response_1.xml").read_text("utf-8") if SAMPLES.exists() else None
    if text is None:
        text = document(element("base_event", BASE, good_slot("1"))).decode()
    expected = parse(text.encode("utf-8"))

    assert parse(text.replace("UTF-8", "UTF-16").encode("utf-16")) == expected
    assert parse(text.replace("UTF-8", "UTF-16").encode("utf-16-le")) == expected
    assert parse(text.replace("UTF-8", "ISO-8859-1").encode("latin-1")) == expected
    assert parse(b"\xef\xbb\xbf" + text.encode("utf-8")) == expected


# --- hostile XML ---------------------------------------------------------------------------


class Listener:
    """A loopback HTTP server that counts the requests it gets."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.hits.append(self.path)
                body = b'<!ENTITY leak "fetched">'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    thread.join()


def billion_laughs() -> str:
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE eventList [<!ENTITY lol0 "lol">{entities}]>\n'
        '<eventList><output><base_event base_event_id="1" sell_mode="&lol9;" title="&lol9;">'
        "&lol9;</base_event></output></eventList>"
    )


def quadratic_blowup() -> str:
    return (
        f'<!DOCTYPE eventList [<!ENTITY a "{"a" * 50_000}">]>'
        f'<eventList><output><base_event title="{"&a;" * 50_000}"/></output></eventList>'
    )


def xxe_file() -> str:
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE eventList [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        '<eventList><output><base_event base_event_id="1" sell_mode="online" title="&xxe;">'
        "&xxe;</base_event></output></eventList>"
    )


def xxe_http(url: str) -> str:
    return (
        f'<!DOCTYPE eventList [<!ENTITY xxe SYSTEM "{url}/entity">]>'
        '<eventList><output><base_event base_event_id="1" sell_mode="online" title="t">'
        "&xxe;</base_event></output></eventList>"
    )


def parameter_entity_http(url: str) -> str:
    return (
        f'<!DOCTYPE eventList [<!ENTITY % remote SYSTEM "{url}/parameter"> %remote;]>'
        "<eventList><output>&leak;</output></eventList>"
    )


def external_dtd(url: str) -> str:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE eventList SYSTEM "{url}/feed.dtd">'
        "<eventList><output>&leak;</output></eventList>"
    )


def external_dtd_public(url: str) -> str:
    return (
        f'<!DOCTYPE eventList PUBLIC "-//EVIL//DTD//EN" "{url}/public.dtd">'
        "<eventList><output/></eventList>"
    )


def nested(depth: int) -> str:
    return "<eventList>" + "<a>" * depth + "</a>" * depth + "</eventList>"


def nested_in_base_event(depth: int) -> str:
    inner = "<x>" * depth + "</x>" * depth
    base = f'<base_event base_event_id="1">{inner}</base_event>'
    return f"<eventList><output>{base}</output></eventList>"


def doctype_payloads(url: str) -> dict[str, str]:
    return {
        "billion_laughs": billion_laughs(),
        "quadratic_blowup": quadratic_blowup(),
        "xxe_file": xxe_file(),
        "xxe_http": xxe_http(url),
        "parameter_entity_http": parameter_entity_http(url),
        "external_dtd": external_dtd(url),
        "external_dtd_public": external_dtd_public(url),
        "bare_doctype": "<!DOCTYPE eventList><eventList/>",
        "doctype_after_comment": "<!-- hi --><?pi x?>\n<!DOCTYPE eventList []><eventList/>",
    }


def test_the_listener_does_count_hits(listener: Listener) -> None:
    """So that `hits == 0` below means something."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{listener.url}/probe", timeout=5) as response:
        assert response.status == 200
    assert listener.hits == ["/probe"]


@pytest.mark.parametrize(
    "name",
    list(doctype_payloads("http://x")),
)
def test_any_doctype_is_refused_and_nothing_is_fetched(listener: Listener, name: str) -> None:
    payload = doctype_payloads(listener.url)[name]

    for encoding in ("utf-8", "utf-16"):
        data = payload.replace('<?xml version="1.0"?>', "").encode(encoding)
        with pytest.raises(FeedError, match="document type declaration"):
            parse(data)

    assert listener.hits == []


@pytest.mark.parametrize("name", list(doctype_payloads("http://x")))
def test_without_the_prolog_scan_lxml_still_refuses_and_fetches_nothing(
    listener: Listener, name: str
) -> None:
    """Defence in depth: the parser settings and the docinfo check hold on their own."""
    data = doctype_payloads(listener.url)[name].encode()

    with pytest.raises(FeedError) as raised:
        list(feed._parse(io.BytesIO(data)))

    assert "root:" not in str(raised.value)  # /etc/passwd's first line never shows up
    assert listener.hits == []


def test_schema_locations_and_xincludes_are_not_followed(listener: Listener) -> None:
    data = (
        '<eventList xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        f' xsi:noNamespaceSchemaLocation="{listener.url}/eventList.xsd"'
        ' xmlns:xi="http://www.w3.org/2001/XInclude">'
        f'<output><xi:include href="{listener.url}/include.xml" parse="xml"/></output>'
        "</eventList>"
    ).encode()

    assert parse(data) == []
    assert listener.hits == []


def test_a_doctype_mentioned_inside_a_comment_is_just_a_comment() -> None:
    data = b'<?xml version="1.0"?><!-- <!DOCTYPE eventList> --><eventList/>'

    assert parse(data) == []


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (nested(10_000).encode(), "nested more than"),
        (nested_in_base_event(10_000).encode(), "nested more than"),
        (nested(feed.MAX_DEPTH).encode(), "nested more than"),
        (b"<eventList><output><base_event base_event_id='1'", "malformed XML"),
        (b"<eventList><output></eventList>", "malformed XML"),
        (b"<eventList/><eventList/>", "malformed XML"),
        (b"<eventList><output>&undefined;</output></eventList>", "malformed XML"),
        (b"<eventList><output><base_event title='a<b'/></output></eventList>", "malformed XML"),
        (b"", "empty"),
        (b"  \n\t", "empty"),
        (b'<?xml version="1.0"?>', "ends before its root element"),
        (b"<!-- never closed", "ends before its root element"),
        (b'{"eventList": []}', "unexpected content before the root element"),
        (b"\x00\x00<\x00", "unexpected content before the root element"),
        (b"<foo/>", "root element is 'foo'"),
        (b"<output><base_event/></output>", "root element is 'output'"),
        (b'<eventList xmlns="urn:other"/>', "root element is '{urn:other}eventList'"),
        (b"<EventList/>", "root element is 'EventList'"),
        (b'<?xml version="1.0" encoding="UTF-7"?><eventList/>', "unsupported encoding"),
        (b'<?xml version="1.0" encoding="UTF-16"?><eventList/>', "unsupported encoding"),
        (b'<?xml version="1.0" encoding="no-such-codec"?><eventList/>', "unsupported encoding"),
        (
            '<?xml version="1.0" encoding="UTF-8"?><eventList/>'.encode("utf-16"),
            "does not match",
        ),
        (b"<!--" + b"x" * (100 * 1024) + b"--><eventList/>", "no root element within"),
    ],
)
def test_unusable_documents_raise_feed_error(data: bytes, match: str) -> None:
    with pytest.raises(FeedError, match=match):
        parse(data)


def test_utf7_cannot_smuggle_a_doctype() -> None:
    data = b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE x +AFs-+AF0-+AD4-<eventList/>'

    with pytest.raises(FeedError):
        parse(data)


def test_a_truncated_feed_raises_after_what_was_complete() -> None:
    data = document(
        element("base_event", BASE, good_slot("1")),
        element("base_event", changed(BASE, base_event_id="20"), good_slot("1")),
    )
    cut = data[: data.index(b'base_event_id="20"') + 40]

    seen: list[Item] = []
    with pytest.raises(FeedError, match="malformed XML"):
        for item in parse_feed(io.BytesIO(cut)):
            seen.append(item)

    assert seen == [BaseEvent(10, "Gira", "online", 3, (expected_slot(1),))]


def test_truncated_samples_raise(tmp_path: Path) -> None:
    path = SAMPLES / "provider_response_1.xml"
    if not path.exists():
        pytest.skip(f"provider sample {path} is not available")
    data = path.read_bytes()
    for size in range(0, len(data) - 12, 97):  # "</eventList>\n" is the last 13 bytes
        with pytest.raises(FeedError):
            parse(data[:size])


# --- measured in a subprocess --------------------------------------------------------------

MEASURE = """
import json, resource, sys, time
from rhythm.catalog.feed import BaseEvent, FeedError, parse_feed


def peak_rss():
    # ru_maxrss survives execve on Linux, so a child forked from a big pytest starts with
    # pytest's figure; VmHWM belongs to this process image alone. ru_maxrss elsewhere.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


if len(sys.argv) > 2:
    limit = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
before = peak_rss()
results = {}
started = time.perf_counter()
for path in sys.argv[1].split(","):
    counts = {"bases": 0, "slots": 0, "zones": 0, "rejected": 0, "error": None}
    try:
        with open(path, "rb") as stream:
            for item in parse_feed(stream):
                if isinstance(item, BaseEvent):
                    counts["bases"] += 1
                    counts["slots"] += len(item.slots)
                    counts["zones"] += sum(len(slot.zones) for slot in item.slots)
                else:
                    counts["rejected"] += 1
    except FeedError as exc:
        counts["error"] = "FeedError: " + str(exc)[:200]
    except BaseException as exc:
        counts["error"] = type(exc).__name__
    results[path] = counts
elapsed = time.perf_counter() - started
after = peak_rss()
print(json.dumps({"results": results, "seconds": elapsed, "rss_before": before, "rss_peak": after}))
"""


def measure(paths: list[Path], address_space: int | None = None) -> dict[str, object]:
    argv = [sys.executable, "-c", MEASURE, ",".join(str(p) for p in paths)]
    if address_space is not None:
        argv.append(str(address_space))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_hostile_documents_fail_in_bounded_memory(tmp_path: Path, listener: Listener) -> None:
    payloads = {
        **{name: text.encode() for name, text in doctype_payloads(listener.url).items()},
        "nested": nested(10_000).encode(),
        "nested_in_base_event": nested_in_base_event(10_000).encode(),
        "utf16_billion_laughs": billion_laughs()
        .replace('<?xml version="1.0"?>', "")
        .encode("utf-16"),
    }
    paths = []
    for name, data in payloads.items():
        path = tmp_path / f"{name}.xml"
        path.write_bytes(data)
        paths.append(path)

    # An expanded billion laughs needs gigabytes; 1 GiB of address space fails it loudly.
    report = measure(paths, address_space=1024 * MB)

    results = report["results"]
    assert isinstance(results, dict)
    for path in paths:
        error = results[str(path)]["error"]
        assert error is not None and error.startswith("FeedError"), (path.name, error)
    peak = report["rss_peak"]
    assert isinstance(peak, int)
    assert peak < 100 * MB
    assert listener.hits == []


def write_large_feed(path: Path, base_events: int, zones: int) -> None:
    """Written one base event at a time, never held whole in memory."""
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<eventList version="1.0">\n<output>\n')
        for b in range(1, base_events + 1):
            parts = [
                f'<base_event base_event_id="{b}" sell_mode="online"'
                f' organizer_company_id="{b % 7}" title="Event number {b}">\n'
                '<event event_start_date="2021-07-31T20:00:00"'
                f' event_end_date="2021-07-31T21:00:00" event_id="{b}"'
                ' sell_from="2021-06-26T00:00:00" sell_to="2021-07-31T19:50:00" sold_out="false">\n'
            ]
            parts.extend(
                f'<zone zone_id="{z}" capacity="{z * 3}" price="{z}.50"'
                f' name="Zone {z} of event {b}" numbered="{"true" if z % 2 else "false"}"/>\n'
                for z in range(1, zones + 1)
            )
            parts.append("</event>\n</base_event>\n")
            out.write("".join(parts))
        out.write("</output>\n</eventList>\n")


@pytest.mark.timeout(600)
def test_large_feed_5000_base_events_x_200_zones_in_bounded_memory_slow(tmp_path: Path) -> None:
    """5,000 base events x 1 slot x 200 zones (~100 MB): parsed whole, peak RSS under 300 MB."""
    path = tmp_path / "large.xml"
    started = time.perf_counter()
    write_large_feed(path, base_events=5_000, zones=200)
    generated = time.perf_counter() - started

    report = measure([path])

    counts = report["results"][str(path)]  # type: ignore[index]
    assert counts == {
        "bases": 5_000,
        "slots": 5_000,
        "zones": 1_000_000,
        "rejected": 0,
        "error": None,
    }
    peak, before, seconds = report["rss_peak"], report["rss_before"], report["seconds"]
    assert isinstance(peak, int) and isinstance(before, int) and isinstance(seconds, float)
    print(
        f"\nlarge feed: {path.stat().st_size / MB:.1f} MB written in {generated:.1f} s,"
        f" parsed in {seconds:.1f} s; peak RSS {peak / MB:.1f} MB"
        f" (+{(peak - before) / MB:.1f} MB over the {before / MB:.1f} MB after imports)"
    )
    # Memory is the property; the time printed above is a figure, not an assertion (no timing
    # assertions in tests: a loaded machine made this one fail on time alone).
    assert peak < 300 * MB
