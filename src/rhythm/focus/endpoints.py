"""HTTP routes of the focus context."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status

from rhythm.focus import days, leaderboards, recording, standings
from rhythm.focus.schemas import (
    SESSION_ID_PATTERN,
    FocusDayOut,
    FocusSessionIn,
    FocusSessionOut,
    Leaderboard,
    LeaderboardRow,
    SessionRecorded,
    StreakOut,
)
from rhythm.focus.standings_cache import Standings
from rhythm.identity.dependencies import ReadUser, WriteUser, caller
from rhythm.identity.principal import Principal, Scope
from rhythm.identity.schemas import UserSummary
from rhythm.platform.database import ReadSession
from rhythm.platform.http.dependencies import DbSession
from rhythm.platform.http.fastroute import fast_route
from rhythm.platform.http.params import PageParams
from rhythm.platform.http.problems import problem_doc
from rhythm.platform.http.shared import shared
from rhythm.platform.pagination import Page
from rhythm.platform.resources import Resources
from rhythm.platform.schemas import IsoDate
from rhythm.platform.settings import Settings
from rhythm.platform.timeutil import Week

router = APIRouter(prefix="/focus", tags=["focus"], responses=problem_doc(401, 429))
users_router = APIRouter(prefix="/users", tags=["focus"], responses=problem_doc(401, 429))


def _threshold(request: Request) -> int:
    return shared(request, Settings).focus_qualify_minutes


@router.post(
    "/sessions",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionRecorded,
    responses={
        200: {"model": SessionRecorded, "description": "An identical replay: the first answer."},
        **problem_doc(409, 422),
    },
    summary="Record a focus session (idempotent on session_id)",
    description="201 with the session and your streak, recalculated. Sending the same body "
    "again answers 200 with the first response; the same `session_id` with other times or "
    "timezone is a 409 `idempotency-conflict`.",
)
async def record_session(body: FocusSessionIn, principal: WriteUser, request: Request) -> Response:
    recorded = await shared(request, recording.SessionWriter).record(principal, body)
    return Response(
        recorded.body,
        status_code=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK,
        media_type="application/json",
    )


@router.get(
    "/sessions",
    response_model=Page[FocusSessionOut],
    responses=problem_doc(422),
    summary="Your focus sessions, latest start first",
)
async def list_sessions(
    principal: ReadUser, page: PageParams, db: DbSession
) -> Page[FocusSessionOut]:
    sessions, cursor = await recording.list_sessions(db, principal.id, page)
    return Page(data=sessions, next_cursor=cursor)


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(404, 422),
    summary="Delete one of your focus sessions; every streak figure is recalculated",
)
async def delete_session(
    session_id: Annotated[str, Path(min_length=1, max_length=128, pattern=SESSION_ID_PATTERN)],
    principal: WriteUser,
    db: DbSession,
    request: Request,
) -> Response:
    await recording.delete_session(
        db, shared(request, Standings), principal, session_id, _threshold(request)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/days",
    response_model=list[FocusDayOut],
    responses=problem_doc(422),
    summary="Your focused minutes per date, for a calendar heatmap (at most 366 days)",
)
async def focus_days(
    principal: ReadUser,
    db: DbSession,
    request: Request,
    first: Annotated[
        IsoDate, Query(alias="from", description="First date, inclusive, 1970-01-01 to 2199-12-31.")
    ],
    last: Annotated[
        IsoDate, Query(alias="to", description="Last date, inclusive, 1970-01-01 to 2199-12-31.")
    ],
) -> list[FocusDayOut]:
    return await days.focus_days(db, principal, first, last, _threshold(request))


@router.get(
    "/leaderboard",
    response_model=Leaderboard,
    responses=problem_doc(422),
    summary="You and the people you follow, by current streak or by this week's minutes",
)
async def leaderboard(
    principal: ReadUser,
    page: PageParams,
    request: Request,
    by: Annotated[
        Literal["current_streak", "week_minutes"], Query(description="What to rank by.")
    ] = "current_streak",
) -> Leaderboard:

    # Rebuilt standings are stored in the standings cache: `fresh` (platform.replicas).
    async def read(
        db: ReadSession,
    ) -> tuple[Week, list[leaderboards.LeaderboardEntry], str | None]:
        return await leaderboards.leaderboard(
            db, shared(request, Standings), principal, by, page, _threshold(request)
        )

    week, entries, cursor = await shared(request, Resources).read(
        read, writer=principal.id, fresh=True
    )
    return Leaderboard(
        by=by,
        week=week.name,
        week_start=week.start,
        week_end=week.end,
        data=[
            LeaderboardRow(
                rank=e.rank,
                user=UserSummary(id=e.user_id, name=e.name),
                current_streak=e.current_streak,
                week_minutes=e.week_minutes,
            )
            for e in entries
        ],
        next_cursor=cursor,
    )


@fast_route(
    users_router,
    "GET",
    "/{user_id}/streak",
    caller=caller(Scope.READ),  # any signed-in user may look
    path_params={"user_id": Annotated[uuid.UUID, Path()]},
    response_model=StreakOut,
    responses=problem_doc(404, 422),
    summary="Anyone's focus streak (any signed-in user may look)",
    description="Yours, a public account's, or a private account's you follow. Any other "
    "private account's, and between users a block stands between, it is a 404, as for an id "
    "nobody has.",
)
async def user_streak(request: Request, caller: Principal, user_id: uuid.UUID) -> Response:
    """Streaks are read for every profile shown."""

    async def read(db: ReadSession) -> StreakOut:
        return await standings.user_streak(
            db, shared(request, Standings), caller.id, user_id, _threshold(request)
        )

    # A standings rebuild is stored in the cache: `fresh` (platform.replicas).
    streak = await shared(request, Resources).read(read, writer=caller.id, fresh=True)
    return Response(streak.model_dump_json(), media_type="application/json")
