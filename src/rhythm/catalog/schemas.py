"""Response models of the catalog's routes: the provider integration's /search contract, the
richer /api/v1/events view and the admin routes' syncs and slot states."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    NaiveDatetime,
    PlainSerializer,
    WithJsonSchema,
)

from rhythm.platform.pagination import Page

Instant = Annotated[
    AwareDatetime,
    # As the catalog has always written them: `+00:00`, where Pydantic would write `Z`.
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
    Field(description="ISO 8601 with an offset (UTC, `+00:00`)."),
]
"""A moment in rhythm's own time (when a sync ran, when an event was first seen)."""

WallClock = Annotated[
    NaiveDatetime,
    Field(description="ISO 8601 without an offset: the provider's local wall clock, as written."),
]
"""A date-time of the feed, naive on purpose (catalog.feed)."""


# /search: the provider integration's public contract.


class SearchEvent(BaseModel):
    id: str
    title: str
    start_date: str
    start_time: str
    end_date: str
    end_time: str
    min_price: float | None
    max_price: float | None


class SearchData(BaseModel):
    events: list[SearchEvent]


class SearchAnswer(BaseModel):
    data: SearchData
    error: None


class SearchErrorDetail(BaseModel):
    code: str
    message: str


class SearchError(BaseModel):
    error: SearchErrorDetail
    data: None


# /api/v1/events and the admin routes.


class ZoneOut(BaseModel):
    """A zone of a slot. One slot can list a zone_id twice (with other prices): `ordinal`
    tells the occurrences apart."""

    zone_id: int
    ordinal: int
    name: str
    capacity: int
    price: str = Field(description="A decimal as the provider wrote it, e.g. `75.00`.")
    numbered: bool


class SlotOut(BaseModel):
    """A slot (an event of a base event) as it stands now."""

    id: uuid.UUID
    event_id: int
    starts_at: WallClock
    ends_at: WallClock
    sell_from: WallClock | None
    sell_to: WallClock | None
    sold_out: bool
    min_price: float | None
    max_price: float | None
    currently_listed: bool
    zones: list[ZoneOut]


class EventOut(BaseModel):
    """A base event that was online in at least one sync, with its slots in the window."""

    base_event_id: int
    title: str
    sell_mode: str
    organizer_company_id: int | None
    first_seen_at: Instant
    last_seen_at: Instant
    currently_listed: bool
    slots: list[SlotOut]


EventPage = Page[EventOut]


class SyncOut(BaseModel):
    id: int
    source: str = Field(description="The provider's URL, or the file synced.")
    started_at: Instant
    finished_at: Instant | None
    status: str = Field(description="`running`, `succeeded`, `unchanged` or `failed`.")
    counts: dict[str, int] = Field(
        description="Events and zones added, changed and removed, and slots rejected."
    )
    errors: list[str] = Field(description="Why items of the feed were rejected.")
    catalog_version: int


class SyncList(BaseModel):
    data: list[SyncOut]


class SlotState(BaseModel):
    """A slot as a sync left it, with its base event's values then."""

    base_event_id: int
    event_id: int
    title: str
    sell_mode: str
    organizer_company_id: int | None
    starts_at: WallClock
    ends_at: WallClock
    sell_from: WallClock | None
    sell_to: WallClock | None
    sold_out: bool
    zones: list[ZoneOut]


class SyncSlots(BaseModel):
    sync_id: int
    slots: list[SlotState]


class SyncStarted(BaseModel):
    job_id: int = Field(description="The queued job's id.")


class SearchQuery(BaseModel):
    """The query of GET /search, on both lanes; the bounds are checked by the route itself, so
    that their errors keep the provider contract's own format."""

    starts_at: str | None = None
    ends_at: str | None = None
