"""Focused minutes per date, for a calendar heatmap."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.focus import repository
from rhythm.focus.schemas import FocusDayOut
from rhythm.focus.streaks import MICROS_PER_MINUTE, frozen_days
from rhythm.identity.principal import Principal
from rhythm.platform.errors import Unprocessable
from rhythm.platform.timeutil import local_date, utc_now

MAX_DAYS_PER_CALL = 366


async def focus_days(
    session: AsyncSession, principal: Principal, first: date, last: date, threshold_minutes: int
) -> list[FocusDayOut]:
    if first > last:
        raise Unprocessable("`from` must not be after `to`.", field="query.from")
    if (last - first).days + 1 > MAX_DAYS_PER_CALL:
        raise Unprocessable(f"At most {MAX_DAYS_PER_CALL} days per call.", field="query.to")
    minimum = threshold_minutes * MICROS_PER_MINUTE
    totals = dict(await repository.day_totals(session, principal.id, first, last))
    qualified = (await repository.qualified_dates(session, [principal.id], minimum)).get(
        principal.id, []
    )
    frozen = frozen_days(qualified, local_date(utc_now(), principal.timezone))
    out: list[FocusDayOut] = []
    day = first
    while day <= last:
        micros = totals.get(day, 0)
        out.append(
            FocusDayOut(
                date=day,
                minutes=micros // MICROS_PER_MINUTE,
                qualified=micros >= minimum,
                frozen=day in frozen,
            )
        )
        day += timedelta(days=1)
    return out
