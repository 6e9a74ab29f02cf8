"""Request and response models of the usage context."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Self

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from rhythm.platform.bounds import LIVE_WINDOW, check_name
from rhythm.platform.schemas import IsoDatetime, LiveDatetime, Name, RequestModel, reject_nul
from rhythm.usage.categories import MAX_DEPTH, MAX_PATTERN, MAX_RULES, pattern_error

MAX_BULK = 1000
# The most events one /api/0 request inserts or returns. aw-client asks for `limit=-1` ("no
# limit" on aw-server) by default: here -1 means up to this maximum.
MAX_AW_EVENTS = 10_000
# A live event's (heartbeat's, inserted event's) duration is finite and at most a day: aw-server
# itself reads no further than a day back for an event reaching into a query's start.
MAX_AW_DURATION = 86_400
# An imported event's duration may be longer (years of history hold AFK periods of days, and
# heartbeats merge into events longer than a day), but at most this long, so that its end
# (timestamp + duration) stays inside the stored window whatever its timestamp.
MAX_IMPORT_DURATION = 366 * 86_400
# One import (POST /api/0/import, `rhythm usage import`): at most this many buckets and events,
# and a body of at most IMPORT_BODY_LIMIT (api.LARGE_BODY_ROUTES). aw-server's export takes
# 150 to 250 bytes per event (aw-webui's download is indented): 1 GiB holds 4 to 7 million.
MAX_IMPORT_BUCKETS = 1000
MAX_IMPORT_EVENTS = 5_000_000
IMPORT_BODY_LIMIT = 1024 * 1024 * 1024

# The body limit of the routes taking many heartbeats or events at once (api.LARGE_BODY_ROUTES).
# 1,000 heartbeats with every field at its longest take 9.1 MB as ASCII JSON, and 14.0 MB when
# all their text is two-byte UTF-8 (accented Latin, Greek, Cyrillic): 16 MiB admits both. Such a
# batch all in three-byte text (CJK, 18.8 MB) has to be sent as two requests.
BULK_BODY_LIMIT = 16 * 1024 * 1024


HOST_MAX = 240  # a v1 AFK bucket is named `aw-watcher-afk_{host}`, within the 256 of a name
HostName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=HOST_MAX,
        description=f"The device: 1 to {HOST_MAX} characters, no control characters.",
    ),
    AfterValidator(check_name),
]


class HeartbeatIn(RequestModel):
    timestamp: LiveDatetime = Field(description=f"With an offset, {LIVE_WINDOW}.")
    duration: float = Field(
        default=0, ge=0, le=86_400, strict=True, allow_inf_nan=False, description="Seconds."
    )
    app: str = Field(min_length=1, max_length=512, description="Trimmed.")
    title: str | None = Field(default=None, max_length=4096)
    url: str | None = Field(default=None, max_length=4096)
    source: Name = Field(
        default="default",
        description="Device or watcher name: 1 to 256 characters, no control characters.",
    )
    pulsetime: float = Field(
        default=30, ge=0, le=600, strict=True, allow_inf_nan=False, description="Seconds."
    )
    host: HostName | None = Field(
        default=None,
        description="The device the source runs on (default: the source's name), which its "
        "AFK status (POST /usage/afk) shares. Set when the source is first seen.",
    )

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator("app")
    @classmethod
    def _app(cls, value: str) -> str:
        app = value.strip()
        if not app:
            raise ValueError("app must not be blank")
        return app

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"app": self.app}
        if self.title is not None:
            data["title"] = self.title
        if self.url is not None:
            data["url"] = self.url
        return data


class AfkIn(RequestModel):
    """An AFK status heartbeat, as aw-watcher-afk sends to its `afkstatus` bucket."""

    timestamp: LiveDatetime = Field(description=f"With an offset, {LIVE_WINDOW}.")
    duration: float = Field(
        default=0, ge=0, le=86_400, strict=True, allow_inf_nan=False, description="Seconds."
    )
    status: Literal["afk", "not-afk"]
    host: HostName = Field(
        default="default", description="The device: the `host` (or source) of its heartbeats."
    )
    pulsetime: float = Field(
        default=30, ge=0, le=600, strict=True, allow_inf_nan=False, description="Seconds."
    )

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class Accepted(BaseModel):
    accepted: int


class UsageItem(BaseModel):
    key: str
    seconds: float


class DayReport(BaseModel):
    date: date
    timezone: str
    total_seconds: float = Field(description="The union over all sources.")
    items: list[UsageItem]


class RangeReport(BaseModel):
    from_: date = Field(alias="from")
    to: date
    timezone: str
    days: list[DayReport]


class IntervalOut(BaseModel):
    id: int
    source: str
    start: datetime
    end: datetime
    duration_seconds: float
    data: dict[str, Any]


# A day's timeline (GET /usage/timeline): at most this many window intervals and as many AFK
# periods, the longest kept (shorter ones are below a pixel at a day's scale); titles are cut.
MAX_TIMELINE_INTERVALS = 2000
TIMELINE_TITLE_MAX = 256


class TimelineWindow(BaseModel):
    start: datetime
    end: datetime
    app: str | None
    title: str | None = Field(description=f"At most {TIMELINE_TITLE_MAX} characters (cut).")


class TimelineAfk(BaseModel):
    start: datetime
    end: datetime
    status: Literal["afk", "not-afk"]


class TimelineHost(BaseModel):
    host: str
    windows: list[TimelineWindow] = Field(description="Its window intervals, oldest first.")
    afk: list[TimelineAfk] = Field(description="Its AFK status periods, oldest first.")


class DayTimeline(BaseModel):
    date: date
    timezone: str
    start: datetime = Field(description="The local day's first instant.")
    end: datetime = Field(description="The next local day's first instant.")
    hosts: list[TimelineHost] = Field(description="The devices with events that day, by name.")
    max_intervals: int = Field(
        description="The most window intervals, and the most AFK periods, one answer holds."
    )
    windows_total: int = Field(description="How many window intervals the day has.")
    afk_total: int = Field(description="How many AFK status periods the day has.")
    truncated: bool = Field(
        description="Whether the day has more of either than `max_intervals`: then only the "
        "longest are listed."
    )


GroupBy = Literal["app", "domain", "title", "category"]
CountMode = Literal["active", "all"]


# ActivityWatch's shapes (/api/0).


class AwEventIn(BaseModel):
    """An ActivityWatch event or heartbeat as aw-client sends it (unknown fields ignored).

    Timestamps are cut to the millisecond, as aw-server stores them, so that a stream sent to
    both gives identical events."""

    timestamp: LiveDatetime = Field(description=f"With an offset, {LIVE_WINDOW}.")
    duration: float = Field(
        default=0,
        ge=0,
        le=MAX_AW_DURATION,
        strict=True,
        allow_inf_nan=False,
        description=f"Seconds, finite, at most {MAX_AW_DURATION} (a day).",
    )
    data: dict[str, Any] = Field(default_factory=dict)
    id: int | None = None

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: datetime) -> datetime:
        value = value.astimezone(UTC)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)

    @field_validator("data")
    @classmethod
    def _data(cls, value: dict[str, Any]) -> dict[str, Any]:
        reject_nul(value)
        return value


class AwBucketIn(BaseModel):
    client: str = Field(default="unknown", max_length=256)
    type: str = Field(max_length=128)
    hostname: str = Field(default="unknown", max_length=256)
    name: str | None = Field(default=None, max_length=256)
    data: dict[str, Any] | None = None

    @field_validator("client", "type", "hostname", "name")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value)

    @field_validator("data")
    @classmethod
    def _data(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        reject_nul(value)
        return value


class AwImportEventIn(AwEventIn):
    """An event of an imported bucket: as AwEventIn (its `id`, if any, is ignored, as aw-server
    ignores it), with durations up to MAX_IMPORT_DURATION."""

    duration: float = Field(
        default=0,
        ge=0,
        le=MAX_IMPORT_DURATION,
        strict=True,
        allow_inf_nan=False,
        description=f"Seconds, finite, at most {MAX_IMPORT_DURATION} (366 days).",
    )


class AwImportBucketIn(AwBucketIn):
    """An imported bucket's fields (other than its events), as aw-server exports them."""

    id: str | None = Field(default=None, min_length=1, max_length=256)
    created: IsoDatetime | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value)


# An account's export (GET /users/me/export) and import: buckets, then their intervals.

BucketText = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(check_name)]


class BucketRecord(RequestModel):
    """A bucket in an export: a device's or watcher's source, as ActivityWatch names it."""

    name: Name
    type: Annotated[str, Field(min_length=1, max_length=128), AfterValidator(check_name)]
    client: BucketText
    hostname: BucketText
    created_at: IsoDatetime


class IntervalRecord(RequestModel):
    """An interval of a bucket in an export, as stored: merged heartbeats or an inserted
    event (AFK periods are the intervals of `afkstatus` buckets)."""

    bucket: Name = Field(description="The name of a bucket whose record came before.")
    start: IsoDatetime
    end: IsoDatetime
    data: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _span(self) -> Self:
        if self.end < self.start:
            raise ValueError("`end` must not be before `start`")
        if (self.end - self.start).total_seconds() > MAX_IMPORT_DURATION:
            raise ValueError(f"an interval lasts at most {MAX_IMPORT_DURATION:,} seconds")
        return self


# Category rules, in aw-webui's shape (`{"name": [...], "rule": {"type", "regex", "ignore_case"}}`).

CATEGORY_NAME_MAX = 128
CategoryName = Annotated[
    str,
    Field(min_length=1, max_length=CATEGORY_NAME_MAX),
    AfterValidator(check_name),
]


class CategoryRuleIn(RequestModel):
    type: Literal["regex", "none"] = Field(
        description="`regex`: matches an event when the regex is found in any of its data's "
        "text values (app, title, url). `none`: a parent with no rule of its own."
    )
    regex: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PATTERN,
        description=f"RE2 syntax (no backreferences or lookaround), at most {MAX_PATTERN} "
        "characters; required for `regex`, absent for `none`.",
    )
    ignore_case: bool = False

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None and (reason := pattern_error(value)) is not None:
            raise ValueError(f"invalid regex: {reason}")
        return value

    @model_validator(mode="after")
    def _type(self) -> Self:
        if self.type == "regex" and self.regex is None:
            raise ValueError("a `regex` rule needs a `regex`")
        if self.type == "none" and self.regex is not None:
            raise ValueError("a `none` rule has no `regex`")
        return self


class CategoryIn(RequestModel):
    name: list[CategoryName] = Field(
        min_length=1,
        max_length=MAX_DEPTH,
        description=f'The path, e.g. `["Work", "Programming"]`: 1 to {MAX_DEPTH} names of '
        f"1 to {CATEGORY_NAME_MAX} characters.",
    )
    rule: CategoryRuleIn


_CATEGORY_ID = re.compile(r"[1-9][0-9]{0,18}")


def _category_id(value: object) -> object:
    # Only ASCII digits: int() would also take spaces, signs, underscores and other scripts'
    # digits, and one such id would name another category.
    if isinstance(value, str) and not _CATEGORY_ID.fullmatch(value):
        raise ValueError("must be a category id: 1 to 19 ASCII digits")
    return value


CategoryIdPath = Annotated[
    int,
    BeforeValidator(_category_id),
    Path(ge=1, le=2**63 - 1, description="A category's id."),
]


class CategoryRule(BaseModel):
    type: Literal["regex", "none"]
    regex: str | None
    ignore_case: bool


class CategoryOut(BaseModel):
    id: int
    name: list[str]
    rule: CategoryRule


CATEGORIES_DOC = (
    f"At most {MAX_RULES} per user. An event's category is the deepest path whose rule matches "
    "(the later rule among equally deep ones), as aw-core's `categorize`; a report's "
    "`group_by=category` applies the rules as they are when it is read."
)
