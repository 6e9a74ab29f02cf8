"""Users' focus standings as served: each one's streak on their own today and daily totals,
from the cached standing (standings_cache.py), with PostgreSQL for what the cache does not hold."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import structlog
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.focus import repository
from rhythm.focus.schemas import StreakOut
from rhythm.focus.standings_cache import CACHED_DAYS, Standing, Standings
from rhythm.focus.streaks import MICROS_PER_MINUTE, Anchor, Streak, as_of, summarize
from rhythm.identity import service as identity_service
from rhythm.platform.database import ReadSession
from rhythm.platform.timeutil import local_date, utc_now
from rhythm.social import service as social_service
from rhythm.social.blocks_cache import UNKNOWN

log = structlog.get_logger("rhythm.focus")


@dataclass(frozen=True)
class UserStanding:
    card: identity_service.Card
    streak: Streak
    days: dict[date, int]  # daily totals in the range asked for


async def standings_of(
    db: ReadSession,
    standings: Standings,
    user_ids: Sequence[uuid.UUID],
    first: date,
    last: date,
    threshold_minutes: int,
    viewer: uuid.UUID | None = None,
) -> tuple[dict[uuid.UUID, UserStanding], int]:
    """Each existing user's streak on their own today, with their daily totals in
    [first, last]: from Redis, with PostgreSQL for what it does not hold (then cached); and the
    block state between `viewer` and the first user as the cache holds it
    (social_service.blocks_lua; unknown without a viewer or Redis)."""
    now = utc_now()
    block_state = UNKNOWN
    try:
        cached, cached_state = await standings.read(user_ids, first, last, viewer)
        block_state = UNKNOWN if cached_state is None else cached_state
    except RedisError as exc:
        log.warning("focus_cache_unavailable", error=str(exc))
        cached = []
    profiles = [c.profile for c in cached] if cached else [None] * len(user_ids)
    cards = await identity_service.cached_cards(db, standings.redis, user_ids, profiles)
    found: dict[uuid.UUID, tuple[Standing, dict[date, int]]] = {}
    for user_id, entry in zip(user_ids, cached, strict=False):
        if entry.standing is not None and entry.standing.threshold_minutes == threshold_minutes:
            found[user_id] = (entry.standing, entry.days)
    missing = [u for u in user_ids if u in cards and u not in found]
    if missing:
        rebuilt = await _load_standings(await db(), missing, threshold_minutes, now)
        for user_id, (standing, recent) in rebuilt.items():
            found[user_id] = (standing, {d: m for d, m in recent if first <= d <= last})
        try:
            await standings.store(
                [(user_id, standing, recent) for user_id, (standing, recent) in rebuilt.items()]
            )
        except RedisError as exc:
            log.warning("focus_cache_unavailable", error=str(exc))
    result: dict[uuid.UUID, UserStanding] = {}
    for user_id in user_ids:
        card = cards.get(user_id)
        if card is None or user_id not in found:
            continue
        standing, days = found[user_id]
        today = local_date(now, card.timezone)
        result[user_id] = UserStanding(card, as_of(standing.anchor, today), days)
    return result, block_state


async def _load_standings(
    session: AsyncSession, user_ids: list[uuid.UUID], threshold_minutes: int, now: datetime
) -> dict[uuid.UUID, tuple[Standing, list[tuple[date, int]]]]:
    since = now.date() - timedelta(days=CACHED_DAYS)
    rows = await repository.anchors(session, user_ids)
    recent = await repository.recent_days(session, user_ids, since)
    stale = [u for u, row in rows.items() if row.threshold_minutes != threshold_minutes]
    recounted = (
        await repository.qualified_dates(session, stale, threshold_minutes * MICROS_PER_MINUTE)
        if stale
        else {}
    )
    loaded: dict[uuid.UUID, tuple[Standing, list[tuple[date, int]]]] = {}
    for user_id in user_ids:
        row = rows.get(user_id)
        if row is None:
            anchor, version = Anchor(), 0
        elif user_id in stale:
            anchor, version = summarize(recounted.get(user_id, [])), row.version
        else:
            anchor = Anchor(
                row.last_qualified, row.run, row.freezes, row.longest, row.qualified_days
            )
            version = row.version
        standing = Standing(version, since, threshold_minutes, anchor)
        loaded[user_id] = (standing, recent.get(user_id, []))
    return loaded


async def user_streak(
    db: ReadSession,
    standings: Standings,
    viewer_id: uuid.UUID,
    user_id: uuid.UUID,
    threshold_minutes: int,
    day: date | None = None,
) -> StreakOut:
    """A user's streak figures, on their own today, when the viewer may see them (social's
    rules: else a 404, as for an id nobody has); `today_minutes` are those of `day` (default:
    the user's own today; any other zone's today is within a day of UTC's too)."""
    today = utc_now().date()
    # Whatever the user's zone, their today is within a day of UTC's.
    found, block_state = await standings_of(
        db,
        standings,
        [user_id],
        today - timedelta(days=2),
        today + timedelta(days=3),
        threshold_minutes,
        viewer_id,
    )
    entry = found.get(user_id)
    if entry is None or not await social_service.may_see(
        db, standings.redis, viewer_id, entry.card, block_state
    ):
        raise identity_service.UserNotFound(f"No user {user_id}.")
    counted = day or local_date(utc_now(), entry.card.timezone)
    return streak_out(user_id, entry.streak, entry.days.get(counted, 0), threshold_minutes)


def streak_out(user_id: uuid.UUID, streak: Streak, today_micros: int, threshold: int) -> StreakOut:
    return StreakOut(
        user_id=user_id,
        current_streak=streak.current,
        longest_streak=streak.longest,
        last_qualified_date=streak.last_qualified,
        qualified_days_count=streak.qualified_days,
        freezes_held=streak.freezes_held,
        today_minutes=today_micros // MICROS_PER_MINUTE,
        threshold_minutes=threshold,
    )
