"""Request and response models of the focus context."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field

from rhythm.identity.schemas import UserSummary
from rhythm.platform.schemas import IsoDatetime, RequestModel
from rhythm.platform.timezones import TimeZoneName

# Any character but control characters and "/" (it names the session in a URL path).
SESSION_ID_PATTERN = r"^[^\x00-\x1f\x7f/]{1,128}$"
SessionId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=SESSION_ID_PATTERN,
        description="Chosen by the client, unique per user: 1 to 128 characters, no control "
        "characters and no '/'.",
        examples=["laptop-2026-11-22T09:00"],
    ),
]


class FocusSessionIn(RequestModel):
    session_id: SessionId
    started_at: IsoDatetime = Field(
        description="With an offset, from 1970-01-01T00:00:00Z; at most 1 h in the future."
    )
    ended_at: IsoDatetime = Field(
        description="With an offset, after started_at, at most 24 h later (and before "
        "2200-01-01T00:00:00Z)."
    )
    timezone: TimeZoneName = Field(description="IANA zone whose local midnights split it.")


class DayShare(BaseModel):
    date: date
    started_at: datetime
    ended_at: datetime
    seconds: float


class FocusSessionOut(BaseModel):
    session_id: str
    started_at: datetime
    ended_at: datetime
    timezone: str
    duration_seconds: float
    days: list[DayShare] = Field(description="The session split at local midnight.")
    created_at: datetime


class StreakOut(BaseModel):
    user_id: uuid.UUID
    current_streak: int = Field(description="The run ending today or yesterday, frozen days in.")
    longest_streak: int
    last_qualified_date: date | None
    qualified_days_count: int = Field(description="Qualified days; frozen days are not counted.")
    freezes_held: int = Field(ge=0, le=2)
    today_minutes: int = Field(description="Focused minutes today, in the user's timezone.")
    threshold_minutes: int


class SessionRecorded(BaseModel):
    session: FocusSessionOut
    streak: StreakOut


class FocusDayOut(BaseModel):
    date: date
    minutes: int = Field(description="Whole minutes of the union of that date's sessions.")
    qualified: bool
    frozen: bool = Field(description="Missed, and covered by a streak freeze.")


class LeaderboardRow(BaseModel):
    rank: int = Field(description="Equal values share a rank (1, 2, 2, 4).")
    user: UserSummary
    current_streak: int
    week_minutes: int


class Leaderboard(BaseModel):
    by: str
    week: str = Field(description="The current ISO week in your timezone.")
    week_start: date
    week_end: date
    data: list[LeaderboardRow]
    next_cursor: str | None
