"""The Today page's one call: last night's sleep, today's focus, today's screen time and the
friends' nights, each read through its own context's service, on one local day."""

from __future__ import annotations

from datetime import timedelta

from rhythm.focus import standings as focus_standings
from rhythm.focus.standings_cache import Standings
from rhythm.identity.principal import Principal
from rhythm.platform.database import ReadSession
from rhythm.platform.timeutil import local_date, local_day_start, utc_now
from rhythm.sleep import records as sleep_records
from rhythm.sleep.schemas import feed_item, record_out
from rhythm.usage import reports as usage_reports
from rhythm.usage.schemas import UsageItem
from rhythm.web.schemas import FRIENDS_NIGHTS_LIMIT, TOP_ITEMS, ScreenTimeToday, Today


async def today(
    db: ReadSession,
    standings: Standings,
    principal: Principal,
    zone: str,
    focus_threshold_minutes: int,
) -> Today:
    day = local_date(utc_now(), zone)
    start, end = local_day_start(day, zone), local_day_start(day + timedelta(days=1), zone)
    session = await db()
    night = await sleep_records.last_night(session, principal.id, start, end)
    friends, more = await sleep_records.friends_nights(
        session, principal.id, start, end, FRIENDS_NIGHTS_LIMIT
    )
    usage = await usage_reports.day_summary(
        session, principal.id, day, zone, ("app", "category"), TOP_ITEMS
    )
    focus = await focus_standings.user_streak(
        db, standings, principal.id, principal.id, focus_threshold_minutes, day
    )
    return Today(
        date=day,
        timezone=zone,
        sleep=None if night is None else record_out(night),
        focus=focus,
        screen_time=ScreenTimeToday(
            total_seconds=usage.total_seconds,
            top_apps=[UsageItem(key=k, seconds=s) for k, s in usage.top["app"]],
            top_categories=[UsageItem(key=k, seconds=s) for k, s in usage.top["category"]],
        ),
        friends_nights=[feed_item(f.record, f.name) for f in friends],
        more_friends_nights=more,
    )
