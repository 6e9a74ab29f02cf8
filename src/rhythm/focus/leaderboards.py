"""Focus leaderboards: each viewer and everyone they follow, in the viewer's ISO week."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from rhythm.focus.standings import standings_of
from rhythm.focus.standings_cache import Standings
from rhythm.focus.streaks import MICROS_PER_MINUTE
from rhythm.identity.principal import Principal
from rhythm.platform.database import ReadSession
from rhythm.platform.pagination import PageRequest
from rhythm.platform.ranking import ranked
from rhythm.platform.timeutil import Week, local_date, utc_now
from rhythm.social import service as social_service


@dataclass(frozen=True)
class LeaderboardEntry:
    rank: int
    user_id: uuid.UUID
    name: str
    current_streak: int
    week_minutes: int


async def leaderboard(
    db: ReadSession,
    standings: Standings,
    viewer: Principal,
    by: str,
    page: PageRequest,
    threshold_minutes: int,
) -> tuple[Week, list[LeaderboardEntry], str | None]:
    """The viewer and everyone they follow, by current streak or by this week's minutes (the
    viewer's ISO week). Equal values share a rank; ties are ordered by the other figure, then
    by user id."""
    week = Week.of(local_date(utc_now(), viewer.timezone))
    kind = f"focus-leaderboard:{by}:{week.name}"
    users = [viewer.id, *await social_service.followee_ids(await db(), viewer.id)]
    found, _ = await standings_of(db, standings, users, week.start, week.end, threshold_minutes)
    rows = [
        (user_id, s.card.name, s.streak.current, sum(s.days.values()) // MICROS_PER_MINUTE)
        for user_id, s in found.items()
    ]
    if by == "current_streak":
        rows.sort(key=lambda r: (-r[2], -r[3], str(r[0])))
    else:
        rows.sort(key=lambda r: (-r[3], -r[2], str(r[0])))
    metric = 2 if by == "current_streak" else 3
    entries = [LeaderboardEntry(rank, *row) for rank, row in ranked(rows, lambda r: r[metric])]
    rows_page, cursor = page.slice(kind, entries)
    return week, rows_page, cursor
