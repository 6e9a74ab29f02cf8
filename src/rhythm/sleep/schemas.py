"""Request and response models of the sleep context."""

from __future__ import annotations

import hashlib
import json
import unicodedata
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from fastapi import Query
from pydantic import AfterValidator, BaseModel, Field, model_validator

from rhythm.identity.schemas import UserSummary
from rhythm.platform.bounds import INSTANT_WINDOW
from rhythm.platform.http.params import Cursor, Limit
from rhythm.platform.pagination import DEFAULT_LIMIT
from rhythm.platform.schemas import IsoDatetime, IsoWeek, RequestModel
from rhythm.platform.timeutil import local_iso
from rhythm.platform.timezones import TimeZoneName
from rhythm.sleep.models import (
    HIGHEST_RATING,
    LOWEST_RATING,
    MAX_TAGS,
    NOTE_LENGTH,
    TAG_LENGTH,
    SleepRecord,
)

# Text that ends a line, or is not text at all: never in a tag. A note keeps tabs and new lines.
_LINE_BREAKS = {"\u2028", "\u2029"}
_NOTE_WHITESPACE = {"\t", "\n", "\r"}


def _control(text: str, allowed: set[str]) -> bool:
    return any(
        (unicodedata.category(c) == "Cc" or c in _LINE_BREAKS) and c not in allowed for c in text
    )


def _tag(value: str) -> str:
    """A tag trimmed and in NFC (so that two spellings of one word are one tag)."""
    # Checked before trimming: Python counts some control characters as spaces.
    if _control(value, set()):
        raise ValueError("must not contain control characters or line breaks")
    tag = unicodedata.normalize("NFC", value.strip())
    if not tag:
        raise ValueError("must not be blank")
    if len(tag) > TAG_LENGTH:  # NFC may lengthen a few rare characters
        raise ValueError(f"must be at most {TAG_LENGTH} characters")
    return tag


def _distinct(tags: list[str]) -> list[str]:
    """The first spelling of each tag, ignoring case, in the order given."""
    seen: dict[str, str] = {}
    for tag in tags:
        seen.setdefault(tag.casefold(), tag)
    return list(seen.values())


def _note(value: str) -> str:
    if _control(value, _NOTE_WHITESPACE):
        raise ValueError("must not contain control characters other than tabs and new lines")
    return value


PRIVATE = "Yours alone: never shown to the people who follow you."
Rating = Annotated[
    int,
    Field(
        ge=LOWEST_RATING,
        le=HIGHEST_RATING,
        strict=True,
        description=f"How the night felt, {LOWEST_RATING} (bad) to {HIGHEST_RATING} (great). "
        + PRIVATE,
    ),
]
Tag = Annotated[
    str,
    Field(min_length=1, max_length=TAG_LENGTH),
    AfterValidator(_tag),
]
Tags = Annotated[
    list[Tag],
    Field(
        max_length=MAX_TAGS,
        description=f"At most {MAX_TAGS} tags of 1 to {TAG_LENGTH} characters (surrounding "
        "spaces are trimmed; no control characters or line breaks). Repeats, ignoring case, "
        "are kept once, as first written. " + PRIVATE,
    ),
    AfterValidator(_distinct),
]
Note = Annotated[
    str,
    Field(
        max_length=NOTE_LENGTH,
        description=f"At most {NOTE_LENGTH} characters; tabs and new lines but no other control "
        "characters. A blank note is stored as none (null). " + PRIVATE,
    ),
    AfterValidator(_note),
]


class NightDetails(RequestModel):
    """The owner's private notes on a night: only the owner's own reads return them, never
    the followings feed, the rankings or Today's friends' nights."""

    rating: Rating | None = None
    tags: Tags | None = None
    note: Note | None = None


def _unchanged(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _kept(description: str) -> Any:
    """A field a PATCH may omit (it is kept) but never set to null."""
    return Field(default=None, description=description, json_schema_extra=_unchanged)


class ClockIn(RequestModel):
    at: IsoDatetime | None = Field(
        default=None,
        description="Bedtime with an offset, from 1970-01-01T00:00:00Z to at most 5 minutes "
        "ahead; defaults to now.",
    )
    timezone: TimeZoneName | None = Field(
        default=None, description="IANA zone of the bedtime; defaults to the user's."
    )


class ClockOut(NightDetails):
    at: IsoDatetime | None = Field(
        default=None,
        description="Wake time with an offset, from 1970-01-01T00:00:00Z to at most 5 minutes "
        "ahead; defaults to now.",
    )
    timezone: TimeZoneName | None = Field(
        default=None, description="IANA zone of the wake time; defaults to the user's."
    )


class Backfill(NightDetails):
    sleep_at: IsoDatetime
    wake_at: IsoDatetime
    sleep_timezone: TimeZoneName | None = None
    wake_timezone: TimeZoneName | None = None


class NightRecord(RequestModel):
    """A night in an export (GET /users/me/export): a backfill's fields (Backfill), each zone
    given, with its private notes (NightDetails), and the night still open (`wake_at` null) if
    the user is asleep."""

    sleep_at: IsoDatetime
    wake_at: IsoDatetime | None = None
    sleep_timezone: TimeZoneName
    wake_timezone: TimeZoneName | None = None
    # NightDetails' fields, after the times.
    rating: Rating | None = None
    tags: Tags | None = None
    note: Note | None = None

    @model_validator(mode="after")
    def _woken(self) -> Self:
        if (self.wake_at is None) != (self.wake_timezone is None):
            raise ValueError("`wake_at` and `wake_timezone` are given together or not at all")
        return self


class SleepRecordPatch(NightDetails):
    """Omitted fields are kept. Times and zones are never null, and are checked as on creation;
    `rating`, `tags` and `note` may be null, which clears them."""

    sleep_at: IsoDatetime = _kept(f"New bedtime, ISO 8601 with an offset, {INSTANT_WINDOW}.")
    sleep_timezone: TimeZoneName = _kept("IANA zone of the bedtime.")
    wake_at: IsoDatetime = _kept(
        f"New wake time, ISO 8601 with an offset, {INSTANT_WINDOW}. On an open night, closes it."
    )
    wake_timezone: TimeZoneName = _kept(
        "IANA zone of the wake time. Closing an open night without it takes yours."
    )


class SharedSleepRecord(BaseModel):
    """A night as the owner's followers see it: without its rating, tags and note."""

    id: uuid.UUID
    user_id: uuid.UUID
    sleep_at: datetime
    wake_at: datetime | None
    sleep_timezone: str
    wake_timezone: str | None
    sleep_at_local: str = Field(description="Bedtime on its zone's wall clock, with offset.")
    wake_at_local: str | None
    duration_seconds: int | None = Field(description="Real elapsed seconds, DST included.")
    status: Literal["sleeping", "completed"]
    week: str = Field(description="ISO week of the local bedtime date, e.g. 2026-W46.")
    created_at: datetime


class SleepRecordOut(SharedSleepRecord):
    """One of your nights, with your private notes on it."""

    # Defaults only so that the schema adds them without making them required (they are
    # always written).
    rating: int | None = Field(default=None, description="1 to 5, or null.")
    tags: list[str] = Field(default_factory=list)
    note: str | None = None


def shared_record(record: SleepRecord) -> SharedSleepRecord:
    return SharedSleepRecord(
        id=record.id,
        user_id=record.user_id,
        sleep_at=record.sleep_at,
        wake_at=record.wake_at,
        sleep_timezone=record.sleep_timezone,
        wake_timezone=record.wake_timezone,
        sleep_at_local=local_iso(record.sleep_at, record.sleep_timezone),
        wake_at_local=(
            local_iso(record.wake_at, record.wake_timezone)
            if record.wake_at is not None and record.wake_timezone is not None
            else None
        ),
        duration_seconds=record.duration_seconds,
        status="sleeping" if record.wake_at is None else "completed",
        week=record.week,
        created_at=record.created_at,
    )


def record_out(record: SleepRecord) -> SleepRecordOut:
    """A night as its owner reads it."""
    return SleepRecordOut(
        **shared_record(record).model_dump(),
        rating=record.rating,
        tags=record.tags,
        note=record.note,
    )


class ClockInOut(BaseModel):
    record: SleepRecordOut
    records: list[SleepRecordOut] = Field(description="First page of your records, newest first.")
    next_cursor: str | None


class RecordOut(BaseModel):
    record: SleepRecordOut


class FeedItem(SharedSleepRecord):
    user: UserSummary


def feed_item(record: SleepRecord, name: str) -> FeedItem:
    """A night of someone the viewer follows, as the followings feed shows it."""
    return FeedItem(
        **shared_record(record).model_dump(), user=UserSummary(id=record.user_id, name=name)
    )


class WeekPage(BaseModel):
    week: str
    week_start: date
    week_end: date
    next_cursor: str | None


class FollowingFeed(WeekPage):
    data: list[FeedItem]


class RankingRow(BaseModel):
    rank: int
    user: UserSummary
    total_seconds: int
    nights: int
    average_seconds: int
    longest_seconds: int


class WeeklyRanking(WeekPage):
    data: list[RankingRow]


# The followings feed is served from JSON kept in Redis (sleep.feed_cache), assembled without
# re-validation. Each piece's shape is written once, here; the cache's script joins the same
# pieces. RECORD_SHAPE is part of the cached records' keys: it follows SharedSleepRecord's schema,
# so a changed shape reads new keys and never serves JSON cached in the old one (bump
# RECORD_REVISION when record_json changes what it writes without changing the schema).
RECORD_REVISION = 1
RECORD_SHAPE = hashlib.sha256(
    json.dumps([RECORD_REVISION, SharedSleepRecord.model_json_schema()], sort_keys=True).encode()
).hexdigest()[:12]


def record_json(record: SleepRecord) -> str:
    """A record's JSON as the feed caches it (SharedSleepRecord: nothing private)."""
    return shared_record(record).model_dump_json()


# A feed item (FeedItem) is its record's JSON with the owner appended:
# record[:-1] + OPEN + owner id + NAME + JSON of the owner's name + CLOSE.
FEED_ITEM_USER = (',"user":{"id":"', '","name":', "}}")


def feed_item_json(record: str, owner: uuid.UUID, name: str) -> str:
    opening, naming, closing = FEED_ITEM_USER
    return record[:-1] + opening + str(owner) + naming + json.dumps(name) + closing


def following_feed_json(
    week: str, week_start: date, week_end: date, data: str, next_cursor: str | None
) -> str:
    """A FollowingFeed whose `data` items (feed_item_json, comma-separated) are JSON already."""
    return (
        f'{{"week":"{week}","week_start":"{week_start}","week_end":"{week_end}",'
        f'"data":[{data}],"next_cursor":{json.dumps(next_cursor)}}}'
    )


WeekParam = Annotated[
    IsoWeek | None,
    Query(
        description="ISO week, e.g. 2026-W46, of ISO years 1970 to 2199. Defaults to the "
        "previous week in your timezone.",
    ),
]


class FollowingQuery(BaseModel):
    """The query of GET /sleep/following, on both lanes."""

    week: WeekParam = None
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor = None
