"""Request and response models of the editors context: WakaTime's wire formats."""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rhythm.platform.bounds import LIVE_AHEAD, check_name
from rhythm.platform.schemas import RequestModel, reject_nul

# The most heartbeats one bulk request carries (wakatime-cli sends at most 25 at a time).
MAX_BULK = 1000
# The body limit of the bulk route (api.LARGE_BODY_ROUTES): 1,000 heartbeats with every field
# at its longest are about 4.5 MB of ASCII JSON.
BULK_BODY_LIMIT = 8 * 1024 * 1024
TIME_WINDOW = "epoch seconds, from 0 (1970-01-01T00:00:00Z) to 5 minutes ahead of the server"
MAX_COUNT = 2**31 - 1
CATEGORY_PATTERN = r"^[a-z][a-z ]{0,31}$"
DEFAULT_TIMEOUT_MINUTES = 15
MAX_RANGE_DAYS = 366

Count = Annotated[int | None, Field(default=None, ge=0, le=MAX_COUNT)]


class WakaHeartbeatIn(BaseModel):
    """A heartbeat as wakatime-cli sends it. Fields this server does not use (`dependencies`,
    the Go CLI's line changes and AI counters...) are accepted and ignored, so newer clients
    keep working; every field it uses is bounded."""

    model_config = ConfigDict(extra="ignore")

    entity: str = Field(min_length=1, max_length=2048, description="A file path, app or domain.")
    type: Literal["file", "app", "domain", "url"] = "file"
    category: str | None = Field(
        default=None,
        max_length=32,
        pattern=CATEGORY_PATTERN,
        description="coding, debugging, building, writing tests...: lower-case letters and "
        "spaces, at most 32. Absent: coding.",
    )
    time: float = Field(strict=True, allow_inf_nan=False, description=f"Seconds: {TIME_WINDOW}.")
    project: str | None = Field(default=None, max_length=256)
    branch: str | None = Field(default=None, max_length=256)
    language: str | None = Field(default=None, max_length=128)
    is_write: bool | None = None
    lines: Count = None
    lineno: Count = None
    cursorpos: Count = None
    user_agent: str | None = Field(
        default=None, max_length=512, description="Absent: the request's User-Agent header."
    )
    dependencies: list[Annotated[str, Field(max_length=1024)]] | None = Field(
        default=None, max_length=1000, description="Accepted and not stored."
    )

    @field_validator("time")
    @classmethod
    def _live(cls, value: float) -> float:
        if not 0 <= value <= time.time() + LIVE_AHEAD.total_seconds():
            raise ValueError(f"must be {TIME_WINDOW}")
        return value

    @field_validator("entity", "project", "branch", "language", "user_agent")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None:
            reject_nul(value)
            check_name(value)
        return value


def check_machine(value: str | None) -> str | None:
    """The X-Machine-Name header: at most 256 characters, no control characters."""
    if value is None or value == "":
        return None
    if len(value) > 256:
        raise ValueError("must be at most 256 characters")
    return check_name(value)


class HeartbeatRecord(WakaHeartbeatIn):
    """An editor heartbeat in an export (GET /users/me/export): as a WakaTime client sent it,
    with the machine it came from (the X-Machine-Name header)."""

    machine: str | None = Field(default=None, max_length=256)

    @field_validator("machine")
    @classmethod
    def _machine(cls, value: str | None) -> str | None:
        return check_machine(value)


# The fields an export gives of a heartbeat, in order (`dependencies` is never stored).
HEARTBEAT_RECORD_FIELDS = (
    "entity",
    "type",
    "category",
    "time",
    "project",
    "branch",
    "language",
    "is_write",
    "lines",
    "lineno",
    "cursorpos",
    "user_agent",
    "machine",
)


class HeartbeatData(BaseModel):
    id: str
    entity: str
    type: str
    category: str
    time: float
    project: str | None
    branch: str | None
    language: str | None
    is_write: bool
    lines: int | None
    lineno: int | None
    cursorpos: int | None
    user_agent: str
    machine_name: str | None


class HeartbeatCreated(BaseModel):
    data: HeartbeatData


class BulkResponses(BaseModel):
    # A pair as a 2-item array of either (a tuple's JSON Schema, `prefixItems`, is not read
    # alike by every OpenAPI tool: schemathesis refused it).
    responses: list[Annotated[list[dict[str, Any] | int], Field(min_length=2, max_length=2)]] = (
        Field(
            description='One `[body, status]` pair per heartbeat, in order: `[{"data": {...}}, '
            '201]` when stored (or already stored), `[{"error": ..., "errors": [...]}, 400]` '
            "when refused. wakatime-cli retries the ones that are not 201 or 202, except 400."
        )
    )


# Durations as WakaTime writes them ---------------------------------------------------------------


def duration_text(seconds: float) -> str:
    """`2 hrs 5 mins`, `1 hr`, `45 secs`, `0 secs`."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} sec" if whole == 1 else f"{whole} secs"
    hours, minutes = divmod(whole // 60, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hr" if hours == 1 else f"{hours} hrs")
    if minutes:
        parts.append(f"{minutes} min" if minutes == 1 else f"{minutes} mins")
    return " ".join(parts)


def digital(seconds: float) -> str:
    hours, minutes = divmod(int(seconds) // 60, 60)
    return f"{hours}:{minutes:02d}"


class GrandTotal(BaseModel):
    digital: str
    decimal: str
    hours: int
    minutes: int
    text: str
    total_seconds: float

    @classmethod
    def of(cls, seconds: float) -> GrandTotal:
        hours, minutes = divmod(int(seconds) // 60, 60)
        return cls(
            digital=digital(seconds),
            decimal=f"{seconds / 3600:.2f}",
            hours=hours,
            minutes=minutes,
            text=duration_text(seconds),
            total_seconds=round(seconds, 3),
        )


class SummaryItem(BaseModel):
    name: str
    total_seconds: float
    percent: float
    digital: str
    decimal: str
    text: str
    hours: int
    minutes: int
    seconds: int

    @classmethod
    def of(cls, name: str, seconds: float, whole: float) -> SummaryItem:
        hours, minutes = divmod(int(seconds) // 60, 60)
        return cls(
            name=name,
            total_seconds=round(seconds, 3),
            percent=round(100 * seconds / whole, 2) if whole > 0 else 0.0,
            digital=digital(seconds),
            decimal=f"{seconds / 3600:.2f}",
            text=duration_text(seconds),
            hours=hours,
            minutes=minutes,
            seconds=int(seconds) % 60,
        )


class DayRange(BaseModel):
    date: date
    start: datetime
    end: datetime
    text: str
    timezone: str


class DaySummary(BaseModel):
    grand_total: GrandTotal
    categories: list[SummaryItem]
    projects: list[SummaryItem]
    languages: list[SummaryItem]
    editors: list[SummaryItem]
    operating_systems: list[SummaryItem]
    machines: list[SummaryItem]
    dependencies: list[SummaryItem] = Field(description="Always empty: not stored.")
    branches: list[SummaryItem] | None = Field(
        default=None, description="Only with `project`, as WakaTime gives them."
    )
    entities: list[SummaryItem] | None = Field(
        default=None, description="Only with `project`, as WakaTime gives them."
    )
    range: DayRange


class CumulativeTotal(BaseModel):
    seconds: float
    text: str
    decimal: str
    digital: str


class DailyAverage(BaseModel):
    holidays: int
    days_including_holidays: int
    days_minus_holidays: int
    seconds: float
    text: str
    seconds_including_other_language: float
    text_including_other_language: str


class Summaries(BaseModel):
    data: list[DaySummary]
    start: datetime
    end: datetime
    cumulative_total: CumulativeTotal
    daily_average: DailyAverage


class StatusBar(BaseModel):
    data: DaySummary
    cached_at: datetime


class AllTimeRange(BaseModel):
    start: datetime | None
    start_date: date | None
    start_text: str | None
    end: datetime
    end_date: date
    end_text: str
    timezone: str


class AllTimeData(BaseModel):
    total_seconds: float
    text: str
    decimal: str
    digital: str
    is_up_to_date: bool
    percent_calculated: int
    range: AllTimeRange
    timeout: int


class AllTime(BaseModel):
    data: AllTimeData


class ProjectOut(BaseModel):
    id: str
    name: str
    urlencoded_name: str
    created_at: datetime = Field(description="Its first heartbeat.")
    last_heartbeat_at: datetime


class Projects(BaseModel):
    data: list[ProjectOut]


class EditorSettingsOut(BaseModel):
    timeout_minutes: int = Field(
        description="Heartbeats less than this many minutes apart join into one duration."
    )


class EditorSettingsUpdate(RequestModel):
    timeout_minutes: int = Field(ge=1, le=120, strict=True, description="1 to 120 minutes.")


# The dashboard's editor time (GET /api/v1/editors/summary) -------------------------------------

MAX_SUMMARY_ITEMS = 100


class EditorTime(BaseModel):
    name: str = Field(description="`Unknown` for time sent without one.")
    seconds: float


class EditorSummary(BaseModel):
    from_: date = Field(alias="from")
    to: date
    timezone: str
    total_seconds: float
    projects: list[EditorTime] = Field(
        description=f"Most time first, at most {MAX_SUMMARY_ITEMS}; time with no project is "
        "`Unknown`."
    )
    languages: list[EditorTime] = Field(
        description=f"Most time first, at most {MAX_SUMMARY_ITEMS}; time with no language is "
        "`Unknown`."
    )
