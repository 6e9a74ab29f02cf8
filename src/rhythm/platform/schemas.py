"""Shared request-model base of every context, and the request types with documented windows
(rhythm.platform.bounds) that every route taking a date, date-time, ISO week or name uses, on
both lanes: the fast lane validates with the same types (platform.http.fastroute)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from rhythm.platform import bounds
from rhythm.platform.timeutil import WEEK_PATTERN, InvalidWeek, utc_now

T = TypeVar("T")


def reject_nul(value: Any) -> None:
    """ValueError when text anywhere in the value holds NUL (PostgreSQL cannot store it)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_nul(key)
            reject_nul(item)
    elif isinstance(value, list | tuple):
        for item in value:
            reject_nul(item)


class RequestModel(BaseModel):
    """A request body: unknown fields are refused, and so is text PostgreSQL cannot store."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        reject_nul(value)
        return value


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_ISO_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}", re.ASCII)


def _iso_datetime_text(value: Any) -> Any:
    """Only text is a date-time here: Pydantic would also read numbers as Unix times."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATETIME.match(value):
        raise ValueError("must be an ISO 8601 date-time string with an offset")
    return value


def _iso_date_text(value: Any) -> Any:
    """Only YYYY-MM-DD is a date here: Pydantic would also read numbers as Unix times."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


def _live(value: datetime) -> datetime:
    return bounds.check_live(value, utc_now())


def _week(value: Any) -> Any:
    if isinstance(value, str):
        try:
            bounds.check_week(value)
        except InvalidWeek as exc:
            raise ValueError(str(exc)) from None
    return value


IsoDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_datetime_text),
    AfterValidator(bounds.check_instant),
    Field(description=bounds.INSTANT_DOC),
]
"""A date-time in the stored window (sleep, focus, query bounds)."""

LiveDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_datetime_text),
    AfterValidator(_live),
    Field(description=f"ISO 8601 with an offset, {bounds.LIVE_WINDOW}."),
]
"""A date-time of live data (heartbeats, ActivityWatch events)."""

IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date_text),
    AfterValidator(bounds.check_date),
    Field(description=bounds.DATE_DOC),
]

IsoWeek = Annotated[
    str,
    BeforeValidator(_week),
    Field(
        min_length=8,
        max_length=8,
        description=f"ISO week YYYY-Www, e.g. 2026-W46, {bounds.WEEK_WINDOW}.",
        json_schema_extra={"pattern": f"^{WEEK_PATTERN}$"},
    ),
]

NAME_MAX = 256
Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=NAME_MAX,
        description=f"1 to {NAME_MAX} characters, no control characters.",
    ),
    AfterValidator(bounds.check_name),
]
"""An id or name chosen by a client (an ActivityWatch bucket id, a usage source, a hostname)."""
