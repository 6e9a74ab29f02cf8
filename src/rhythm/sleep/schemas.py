"""Request and response models of the sleep context."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from rhythm.identity.schemas import UserSummary
from rhythm.platform.schemas import IsoDatetime, RequestModel
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
