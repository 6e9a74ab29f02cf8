"""Recording focus sessions: idempotent, split at local midnight, written by group commit.

Every session change recalculates, in its own transaction and under a per-user lock, the
totals of the dates it touches (the union of that date's parts) and then the whole streak from
the set of qualified dates (streaks.summarize). Late data is therefore never a special case.
The cached standing (standings_cache.py) is dropped before the commit and stored again after it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rhythm.focus import repository
from rhythm.focus.schemas import (
    DayShare,
    FocusSessionIn,
    FocusSessionOut,
    SessionRecorded,
    StreakOut,
)
from rhythm.focus.standings import streak_out
from rhythm.focus.standings_cache import CACHED_DAYS, Standing, Standings
from rhythm.focus.streaks import MICROS_PER_MINUTE, Anchor, as_of, summarize
from rhythm.identity.principal import Principal
from rhythm.platform.batching import GroupCommit
from rhythm.platform.database import after_commit, wrote_for
from rhythm.platform.errors import Conflict, ItemRefused, NotFound, RhythmError, Unprocessable
from rhythm.platform.pagination import PageRequest
from rhythm.platform.redis import RedisClient
from rhythm.platform.timeutil import DayPart, local_date, split_at_local_midnight, utc_now

log = structlog.get_logger("rhythm.focus")

MAX_SESSION = timedelta(hours=24)
MAX_AHEAD = timedelta(hours=1)


class IdempotencyConflict(Conflict):
    slug = "idempotency-conflict"
    title = "Idempotency conflict"


class FocusSessionNotFound(NotFound, what="Focus session"):
    """The caller has no focus session of this session_id."""


@dataclass(frozen=True)
class Recorded:
    created: bool  # False: an identical replay, answered with the first response
    body: str


def _check(body: FocusSessionIn, now: datetime) -> None:
    if body.ended_at <= body.started_at:
        raise Unprocessable("ended_at must be after started_at.", field="ended_at")
    if body.ended_at - body.started_at > MAX_SESSION:
        raise Unprocessable("A focus session lasts at most 24 hours.", field="ended_at")
    if body.started_at > now + MAX_AHEAD:
        raise Unprocessable("started_at is more than an hour in the future.", field="started_at")


def _same(existing: repository.StoredSession, body: FocusSessionIn) -> bool:
    return (
        existing.started_at == body.started_at
        and existing.ended_at == body.ended_at
        and existing.timezone == body.timezone
    )


@dataclass(frozen=True)
class _Pending:
    user_id: uuid.UUID
    timezone: str  # the user's, for the streak's "today"
    body: FocusSessionIn
    parts: list[DayPart]


class SessionWriter:
    """Records new focus sessions by group commit (batching.GroupCommit), one writer per API
    process. A batch is one transaction: each session is inserted, its dates' unions and its
    user's streak are recalculated and its response is stored, all before the commit that
    answers it."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        standings: Standings,
        threshold_minutes: int,
    ) -> None:
        self.standings = standings
        self.threshold_minutes = threshold_minutes
        self._commits: GroupCommit[_Pending, Recorded] = GroupCommit(
            session_factory, self._write, "focus"
        )

    async def record(self, principal: Principal, body: FocusSessionIn) -> Recorded:
        _check(body, utc_now())
        parts = split_at_local_midnight(body.started_at, body.ended_at, body.timezone)
        return await self._commits.submit(_Pending(principal.id, principal.timezone, body, parts))

    async def flush(self) -> None:
        await self._commits.flush()

    async def _write(
        self, session: AsyncSession, batch: list[_Pending]
    ) -> list[Recorded | Exception]:
        return await _record_batch(session, self.standings, batch, self.threshold_minutes)


async def _record_batch(
    session: AsyncSession, standings: Standings, batch: list[_Pending], threshold_minutes: int
) -> list[Recorded | Exception]:
    now = utc_now()
    for item in batch:
        wrote_for(session, item.user_id)
    await repository.lock_users(session, [item.user_id for item in batch])
    first: dict[tuple[uuid.UUID, str], int] = {}
    for index, item in enumerate(batch):
        first.setdefault((item.user_id, item.body.session_id), index)
    new = {
        index: repository.NewSession(
            uuid.uuid4(),
            batch[index].user_id,
            batch[index].body.session_id,
            batch[index].body.started_at,
            batch[index].body.ended_at,
            batch[index].body.timezone,
            batch[index].parts,
        )
        for index in first.values()
    }
    created = await repository.insert_sessions(session, list(new.values()))
    inserted = {index: s for index, s in new.items() if s.pk in created}
    # Sessions recorded before this batch: a replay, or a conflict.
    taken = [key for key, index in first.items() if index not in inserted]
    stored = await repository.sessions_by_keys(session, taken) if taken else {}

    zones = {batch[i].user_id: batch[i].timezone for i in inserted}
    touched = sorted({(s.user_id, p.day) for s in inserted.values() for p in s.parts})
    days = await repository.recompute_days(session, touched, list(zones)) if touched else {}
    anchors: dict[uuid.UUID, Anchor] = {}
    streaks: dict[uuid.UUID, StreakOut] = {}
    for user_id, zone in zones.items():
        anchors[user_id], streaks[user_id] = _streak_after(
            user_id, zone, days[user_id], threshold_minutes, now
        )
    texts: dict[int, str] = {}
    for index, s in inserted.items():
        out = session_out(s.session_id, s.started_at, s.ended_at, s.timezone, created[s.pk])
        texts[index] = SessionRecorded(session=out, streak=streaks[s.user_id]).model_dump_json()
    if anchors:
        versions = await repository.save_anchors(
            session, anchors, threshold_minutes, [(inserted[i].pk, t) for i, t in texts.items()]
        )
        await _replace_standings(
            session, standings, versions, threshold_minutes, anchors, days, now
        )

    outcomes: list[Recorded | Exception] = []
    for index, item in enumerate(batch):
        key = (item.user_id, item.body.session_id)
        origin = first[key]
        if index == origin and index in texts:
            outcomes.append(Recorded(True, texts[index]))
            continue
        if origin in inserted:
            previous = batch[origin].body
            same = (previous.started_at, previous.ended_at, previous.timezone) == (
                item.body.started_at,
                item.body.ended_at,
                item.body.timezone,
            )
            outcomes.append(Recorded(False, texts[origin]) if same else _conflict(item.body))
            continue
        existing = stored.get(key)
        if existing is not None and _same(existing, item.body):
            outcomes.append(Recorded(False, existing.response))
        else:
            outcomes.append(_conflict(item.body))
    return outcomes


def _conflict(body: FocusSessionIn) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"Session {body.session_id!r} was recorded with different times or timezone."
    )


async def delete_session(
    session: AsyncSession,
    standings: Standings,
    principal: Principal,
    session_id: str,
    threshold_minutes: int,
) -> None:
    await repository.lock_users(session, [principal.id])
    dates = await repository.delete_session(session, principal.id, session_id)
    if dates is None:
        raise FocusSessionNotFound(f"No focus session {session_id!r}.")
    now = utc_now()
    days = await repository.recompute_days(
        session, [(principal.id, d) for d in dates], [principal.id]
    )
    anchor, _ = _streak_after(
        principal.id, principal.timezone, days[principal.id], threshold_minutes, now
    )
    versions = await repository.save_anchors(session, {principal.id: anchor}, threshold_minutes)
    await _replace_standings(
        session, standings, versions, threshold_minutes, {principal.id: anchor}, days, now
    )


def _streak_after(
    user_id: uuid.UUID,
    timezone: str,
    days: list[tuple[date, int]],
    threshold_minutes: int,
    now: datetime,
) -> tuple[Anchor, StreakOut]:
    """The streak recalculated from all of the user's daily totals."""
    minimum = threshold_minutes * MICROS_PER_MINUTE
    anchor = summarize(day for day, micros in days if micros >= minimum)
    today = local_date(now, timezone)
    streak = streak_out(user_id, as_of(anchor, today), dict(days).get(today, 0), threshold_minutes)
    return anchor, streak


async def _replace_standings(
    session: AsyncSession,
    standings: Standings,
    versions: dict[uuid.UUID, int],
    threshold_minutes: int,
    anchors: dict[uuid.UUID, Anchor],
    days: dict[uuid.UUID, list[tuple[date, int]]],
    now: datetime,
) -> None:
    """Drop the cached standings before the commit, store the new ones after it."""
    since = now.date() - timedelta(days=CACHED_DAYS)
    entries = [
        (user_id, Standing(version, since, threshold_minutes, anchors[user_id]), days[user_id])
        for user_id, version in versions.items()
    ]
    try:
        await standings.invalidate(versions)
    except RedisError as exc:
        log.warning("focus_cache_unavailable", error=str(exc))

    async def store() -> None:
        await standings.store(entries)

    after_commit(session, store)


def session_out(
    session_id: str, started_at: datetime, ended_at: datetime, timezone: str, created_at: datetime
) -> FocusSessionOut:
    parts = split_at_local_midnight(started_at, ended_at, timezone)
    return FocusSessionOut(
        session_id=session_id,
        started_at=started_at,
        ended_at=ended_at,
        timezone=timezone,
        duration_seconds=(ended_at - started_at).total_seconds(),
        days=[
            DayShare(
                date=p.day,
                started_at=p.start,
                ended_at=p.end,
                seconds=(p.end - p.start).total_seconds(),
            )
            for p in parts
        ],
        created_at=created_at,
    )


async def list_sessions(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> tuple[list[FocusSessionOut], str | None]:
    kind = "focus-sessions"
    after = page.instant_position(kind)
    rows = list(await repository.list_sessions(session, user_id, after, page.limit + 1))
    rows, cursor = page.instant_page(kind, rows, lambda r: (r.started_at, r.id))
    return [
        session_out(r.session_id, r.started_at, r.ended_at, r.timezone, r.created_at) for r in rows
    ], cursor


async def erase_account(session: AsyncSession, redis: RedisClient, user_id: uuid.UUID) -> None:
    """The rows go with the user (ON DELETE CASCADE); the cached standing goes now."""

    async def forget() -> None:
        await Standings(redis).forget(user_id)

    after_commit(session, forget)


# Export and import of an account (portability) ---------------------------------------------------


def export_sessions(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """The user's sessions, earliest first, as FocusSessionIn's fields."""
    return repository.session_rows(session, user_id)


async def has_sessions(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return await repository.has_sessions(session, user_id)


async def import_sessions(
    session: AsyncSession,
    standings: Standings,
    user_id: uuid.UUID,
    timezone: str,
    items: Sequence[tuple[int, FocusSessionIn]],
    threshold_minutes: int,
) -> int:
    """Record exported sessions (keyed by the caller: an import's lines) as one batch of
    POST /focus/sessions would, the user's streak recalculated once; how many were new (an
    identical repeat is recorded once). The first one refused raises ItemRefused with its key."""
    now = utc_now()
    batch: list[_Pending] = []
    for key, body in items:
        try:
            _check(body, now)
        except RhythmError as exc:
            raise ItemRefused(key, exc) from None
        parts = split_at_local_midnight(body.started_at, body.ended_at, body.timezone)
        batch.append(_Pending(user_id, timezone, body, parts))
    outcomes = await _record_batch(session, standings, batch, threshold_minutes)
    for (key, _), outcome in zip(items, outcomes, strict=True):
        if isinstance(outcome, RhythmError):
            raise ItemRefused(key, outcome)
    return sum(1 for outcome in outcomes if isinstance(outcome, Recorded) and outcome.created)
