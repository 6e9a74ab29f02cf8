"""Request and response models of the usage context."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from rhythm.schemas import IsoDatetime, RequestModel

MAX_BULK = 1000
# The body limit of the routes taking many heartbeats or events at once (api.LARGE_BODY_ROUTES).
# 1,000 heartbeats with every field at its longest take 9.1 MB as ASCII JSON, and 14.0 MB when
# all their text is two-byte UTF-8 (accented Latin, Greek, Cyrillic): 16 MiB admits both. Such a
# batch all in three-byte text (CJK, 18.8 MB) has to be sent as two requests.
BULK_BODY_LIMIT = 16 * 1024 * 1024


def _not_ahead(value: datetime) -> datetime:
    from rhythm.usage.service import too_far_ahead

    if too_far_ahead(value):
        raise ValueError("timestamp is more than 5 minutes in the future")
    return value.astimezone(UTC)


class HeartbeatIn(RequestModel):
    timestamp: IsoDatetime = Field(description="With an offset; at most 5 minutes ahead.")
    duration: float = Field(default=0, ge=0, le=86_400, strict=True, description="Seconds.")
    app: str = Field(min_length=1, max_length=512, description="Trimmed.")
    title: str | None = Field(default=None, max_length=4096)
    url: str | None = Field(default=None, max_length=4096)
    source: str = Field(
        default="default", min_length=1, max_length=256, description="Device or watcher name."
    )
    pulsetime: float = Field(default=30, ge=0, le=600, strict=True, description="Seconds.")

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: datetime) -> datetime:
        return _not_ahead(value)

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


GroupBy = Literal["app", "domain", "title"]


# ActivityWatch's shapes (/api/0).


class AwEventIn(BaseModel):
    """An ActivityWatch event or heartbeat as aw-client sends it (unknown fields ignored).

    Timestamps are cut to the millisecond, as aw-server stores them, so that a stream sent to
    both gives identical events."""

    timestamp: IsoDatetime
    duration: float = Field(default=0, ge=0, strict=True)
    data: dict[str, Any] = Field(default_factory=dict)
    id: int | None = None

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: datetime) -> datetime:
        value = _not_ahead(value)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)


class AwBucketIn(BaseModel):
    client: str = Field(default="unknown", max_length=256)
    type: str = Field(max_length=128)
    hostname: str = Field(default="unknown", max_length=256)
    name: str | None = None
    data: dict[str, Any] | None = None
