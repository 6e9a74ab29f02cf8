"""Request and response models of the sleep context."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from rhythm.identity.schemas import UserSummary
from rhythm.platform.http.params import Cursor, Limit
from rhythm.platform.pagination import DEFAULT_LIMIT
from rhythm.platform.schemas import IsoDatetime, IsoWeek, RequestModel
from rhythm.platform.timeutil import local_iso
from rhythm.platform.timezones import TimeZoneName
from rhythm.sleep.models import SleepRecord


class ClockIn(RequestModel):
    at: IsoDatetime | None = Field(
        default=None,
        description="Bedtime with an offset, from 1970-01-01T00:00:00Z to at most 5 minutes "
        "ahead; defaults to now.",
    )
    timezone: TimeZoneName | None = Field(
        default=None, description="IANA zone of the bedtime; defaults to the user's."
    )


class ClockOut(RequestModel):
    at: IsoDatetime | None = Field(
        default=None,
        description="Wake time with an offset, from 1970-01-01T00:00:00Z to at most 5 minutes "
        "ahead; defaults to now.",
    )
    timezone: TimeZoneName | None = Field(
        default=None, description="IANA zone of the wake time; defaults to the user's."
    )


class Backfill(RequestModel):
    sleep_at: IsoDatetime
    wake_at: IsoDatetime
    sleep_timezone: TimeZoneName | None = None
    wake_timezone: TimeZoneName | None = None


class SleepRecordOut(BaseModel):
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


def record_out(record: SleepRecord) -> SleepRecordOut:
    return SleepRecordOut(
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


class ClockInOut(BaseModel):
    record: SleepRecordOut
    records: list[SleepRecordOut] = Field(description="First page of your records, newest first.")
    next_cursor: str | None


class RecordOut(BaseModel):
    record: SleepRecordOut


class FeedItem(SleepRecordOut):
    user: UserSummary


def feed_item(record: SleepRecord, name: str) -> FeedItem:
    """A night of someone the viewer follows, as the followings feed shows it."""
    return FeedItem(
        **record_out(record).model_dump(), user=UserSummary(id=record.user_id, name=name)
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
# pieces. RECORD_SHAPE is part of the cached records' keys: it follows SleepRecordOut's schema,
# so a changed shape reads new keys and never serves JSON cached in the old one (bump
# RECORD_REVISION when record_json changes what it writes without changing the schema).
RECORD_REVISION = 1
RECORD_SHAPE = hashlib.sha256(
    json.dumps([RECORD_REVISION, SleepRecordOut.model_json_schema()], sort_keys=True).encode()
).hexdigest()[:12]


def record_json(record: SleepRecord) -> str:
    """A record's JSON as the feed caches it (SleepRecordOut)."""
    return record_out(record).model_dump_json()


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
