"""HTTP routes of the sleep context."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from rhythm.identity import service as identity_service
from rhythm.identity.dependencies import ReadUser, WriteUser, caller
from rhythm.identity.principal import Principal, Scope
from rhythm.identity.schemas import UserSummary
from rhythm.platform.database import ReadSession
from rhythm.platform.http.dependencies import DbSession
from rhythm.platform.http.fastroute import fast_route
from rhythm.platform.http.params import FirstPage, PageParams, page_of
from rhythm.platform.http.problems import problem_doc
from rhythm.platform.http.shared import shared
from rhythm.platform.pagination import Page
from rhythm.platform.resources import Resources
from rhythm.sleep import feed, models, records
from rhythm.sleep.feed_cache import FeedCache, parse_member
from rhythm.sleep.schemas import (
    Backfill,
    ClockIn,
    ClockInOut,
    ClockOut,
    FollowingFeed,
    FollowingQuery,
    RankingRow,
    RecordOut,
    SleepRecordOut,
    SleepRecordPatch,
    WeeklyRanking,
    WeekParam,
    feed_item_json,
    following_feed_json,
    record_out,
)

router = APIRouter(prefix="/sleep", tags=["sleep"], responses=problem_doc(401, 429))


@router.post(
    "/clock-in",
    status_code=status.HTTP_201_CREATED,
    response_model=ClockInOut,
    responses=problem_doc(409, 422),
    summary="Go to bed",
    description="409 `already-clocked-in` (with `record_id`) when a night is open; 409 "
    "`overlap` when bedtime is before the end of your latest night.",
)
async def clock_in(
    body: ClockIn, principal: WriteUser, first: FirstPage, db: DbSession
) -> ClockInOut:
    record = await records.clock_in(db, principal, body.at, body.timezone)
    rows, cursor = await records.list_records(db, principal.id, first)
    return ClockInOut(
        record=record_out(record), records=[record_out(r) for r in rows], next_cursor=cursor
    )


@router.post(
    "/clock-out",
    response_model=RecordOut,
    responses=problem_doc(409, 422),
    summary="Wake up",
    description="409 `not-clocked-in` when no night is open; 422 when the wake time is at or "
    "before bedtime, more than 5 minutes ahead, or more than 24 hours after bedtime.",
)
async def clock_out(
    body: ClockOut, principal: WriteUser, db: DbSession, request: Request
) -> RecordOut:
    record = await records.clock_out(
        db, shared(request, FeedCache), principal, body.at, body.timezone, body
    )
    return RecordOut(record=record_out(record))


@router.post(
    "/records",
    status_code=status.HTTP_201_CREATED,
    response_model=RecordOut,
    responses=problem_doc(409, 422),
    summary="Backfill a completed night",
    description="409 `overlap` when it overlaps another of your nights; 422 when the wake time "
    "is at or before bedtime, more than 5 minutes ahead, or more than 24 hours after bedtime. "
    "`rating`, `tags` and `note` are yours alone: followers never see them.",
)
async def backfill(
    body: Backfill, principal: WriteUser, db: DbSession, request: Request
) -> RecordOut:
    record = await records.backfill(
        db,
        shared(request, FeedCache),
        principal,
        sleep_at=body.sleep_at,
        wake_at=body.wake_at,
        sleep_timezone=body.sleep_timezone,
        wake_timezone=body.wake_timezone,
        details=body,
    )
    return RecordOut(record=record_out(record))


@router.get(
    "/records",
    response_model=Page[SleepRecordOut],
    responses=problem_doc(422),
    summary="Your sleep records, newest first",
)
async def list_records(
    principal: ReadUser, page: PageParams, request: Request
) -> Page[SleepRecordOut]:
    async def read(db: ReadSession) -> tuple[list[models.SleepRecord], str | None]:
        return await records.list_records(await db(), principal.id, page)

    rows, cursor = await shared(request, Resources).read(read, writer=principal.id)
    return Page(data=[record_out(r) for r in rows], next_cursor=cursor)


@router.delete(
    "/records/{record_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(404, 422),
    summary="Delete one of your sleep records",
)
async def delete_record(
    record_id: uuid.UUID, principal: WriteUser, db: DbSession, request: Request
) -> Response:
    await records.delete_record(db, shared(request, FeedCache), principal.id, record_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch(
    "/records/{record_id}",
    response_model=RecordOut,
    responses=problem_doc(404, 409, 422),
    summary="Correct one of your nights",
    description="Moves bedtime or wake time (each with its zone) under the rules of creation: "
    "409 `overlap` when the night would overlap another of yours; 422 `invalid-night` when the "
    "wake time would be at or before bedtime, more than 5 minutes ahead, or more than 24 hours "
    "after bedtime. A `wake_at` on an open night closes it (its zone defaults to yours). "
    "Omitted fields are kept; `rating`, `tags` and `note` may be null, which clears them. The "
    "followings feed and the rankings show the change from the next request. Another user's "
    "night is a 404.",
)
async def edit_record(
    record_id: uuid.UUID,
    body: SleepRecordPatch,
    principal: WriteUser,
    db: DbSession,
    request: Request,
) -> RecordOut:
    record = await records.edit_record(db, shared(request, FeedCache), principal, record_id, body)
    return RecordOut(record=record_out(record))


@router.get(
    "/records/{record_id}",
    response_model=SleepRecordOut,
    responses=problem_doc(404, 422),
    summary="One of your sleep records",
)
async def get_record(record_id: uuid.UUID, principal: ReadUser, db: DbSession) -> SleepRecordOut:
    return record_out(await records.get_record(db, principal.id, record_id))


@fast_route(
    router,
    "GET",
    "/following",
    caller=caller(Scope.READ),
    query=FollowingQuery,
    response_model=FollowingFeed,
    responses=problem_doc(422),
    summary="How the people you follow slept in a week, longest night first",
)
async def following(request: Request, caller: Principal, query: FollowingQuery) -> Response:
    """Read for every screen of the app: served from the feed cache's JSON (FeedCache)."""
    page = page_of(request, query.limit, query.cursor)
    resolved = records.resolve_week(query.week, caller.timezone)
    resources = shared(request, Resources)
    cursor: str | None = None

    # A rebuild is stored in the feed cache: `fresh` (platform.replicas), so never older than
    # the primary. The session opens only if the cache cannot answer.
    async def read(db: ReadSession) -> str:
        found = await feed.following_feed(db, shared(request, FeedCache), caller, resolved, page)
        nonlocal cursor
        cursor = found.next_cursor
        owners = [parse_member(m)[1] for m in found.members]
        names = await identity_service.cached_user_names(
            db, resources.redis, owners, found.profiles
        )
        return ",".join(
            feed_item_json(item, owner, names[owner])
            for item, owner in zip(found.items, owners, strict=True)
            if owner in names
        )

    data = await resources.read(read, writer=caller.id, fresh=True)
    body = following_feed_json(resolved.name, resolved.start, resolved.end, data, cursor)
    return Response(body, media_type="application/json")


@router.get(
    "/rankings/weekly",
    response_model=WeeklyRanking,
    responses=problem_doc(422),
    summary="You and the people you follow, ranked by total sleep in a week",
)
async def weekly_ranking(
    principal: ReadUser, page: PageParams, request: Request, week: WeekParam = None
) -> WeeklyRanking:
    resolved = records.resolve_week(week, principal.timezone)

    async def read(db: ReadSession) -> tuple[list[records.RankingEntry], str | None]:
        return await records.weekly_ranking(await db(), principal, resolved, page)

    entries, cursor = await shared(request, Resources).read(read, writer=principal.id)
    return WeeklyRanking(
        week=resolved.name,
        week_start=resolved.start,
        week_end=resolved.end,
        data=[
            RankingRow(
                rank=e.rank,
                user=UserSummary(id=e.user_id, name=e.name),
                total_seconds=e.total_seconds,
                nights=e.nights,
                average_seconds=e.average_seconds,
                longest_seconds=e.longest_seconds,
            )
            for e in entries
        ],
        next_cursor=cursor,
    )
