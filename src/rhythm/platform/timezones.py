"""IANA time zone names as a validated type."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, Field


@lru_cache(maxsize=1)
def available_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str:
    if name not in available_zones():
        raise ValueError(f"'{name}' is not an IANA time zone name (e.g. 'Europe/Paris')")
    return name


TimeZoneName = Annotated[
    str,
    Field(min_length=1, max_length=64, examples=["Europe/Paris"]),
    AfterValidator(check_timezone),
]
