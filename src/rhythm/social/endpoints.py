"""HTTP routes of the follow graph and public profiles."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse

from rhythm.identity.dependencies import OptionalUser, ReadUser, WriteUser
from rhythm.identity.schemas import PublicProfile, UserSummary
from rhythm.platform.http.dependencies import DbSession, RedisDep
from rhythm.platform.http.params import PageParams
from rhythm.platform.http.problems import problem_doc
from rhythm.platform.pagination import MAX_LIMIT, Page
from rhythm.social import service
from rhythm.social.schemas import FollowListItem, FollowOut

router = APIRouter(prefix="/users", tags=["social"], responses=problem_doc(401, 429))


def _page(found: tuple[list[service.FollowEntry], str | None]) -> Page[FollowListItem]:
    entries, cursor = found
    return Page(
        data=[FollowListItem(id=e.id, name=e.name, followed_at=e.followed_at) for e in entries],
        next_cursor=cursor,
    )


@router.put(
    "/me/following/{user_id}",
    response_model=FollowOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": FollowOut, "description": "Already following"},
        **problem_doc(404, 422),
    },
    summary="Follow a user",
    description="201 when the follow is new, 200 when you already follow the user.",
)
async def follow(
    user_id: uuid.UUID, principal: WriteUser, db: DbSession, redis: RedisDep
) -> JSONResponse:
    name, followed_at, created = await service.follow(db, redis, principal.id, user_id)
    body = FollowOut(user=UserSummary(id=user_id, name=name), followed_at=followed_at)
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


@router.delete(
    "/me/following/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(404, 422),
    summary="Unfollow a user",
)
async def unfollow(
    user_id: uuid.UUID, principal: WriteUser, db: DbSession, redis: RedisDep
) -> Response:
    await service.unfollow(db, redis, principal.id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/me/following",
    response_model=Page[FollowListItem],
    responses=problem_doc(422),
    summary="Who you follow, newest first",
    description="With `user_id` (repeated, up to 100), only those of these users you follow: "
    "which of a page of search results you follow already, in one request.",
)
async def my_following(
    principal: ReadUser,
    page: PageParams,
    db: DbSession,
    user_id: Annotated[
        list[uuid.UUID] | None,
        Query(max_length=MAX_LIMIT, description="Keep only these users (up to 100)."),
    ] = None,
) -> Page[FollowListItem]:
    return _page(await service.following(db, principal.id, page, user_id))


@router.get(
    "/me/followers",
    response_model=Page[FollowListItem],
    responses=problem_doc(422),
    summary="Who follows you, newest first",
)
async def my_followers(
    principal: ReadUser, page: PageParams, db: DbSession
) -> Page[FollowListItem]:
    return _page(await service.followers(db, principal.id, page))


@router.get(
    "/{user_id}",
    response_model=PublicProfile,
    responses=problem_doc(404, 422),
    summary="A user's public profile",
)
async def profile(user_id: uuid.UUID, principal: OptionalUser, db: DbSession) -> PublicProfile:
    found = await service.profile(db, user_id)
    return PublicProfile(
        id=found.id,
        name=found.name,
        followers_count=found.followers_count,
        following_count=found.following_count,
    )


@router.get(
    "/{user_id}/following",
    response_model=Page[FollowListItem],
    responses=problem_doc(404, 422),
    summary="Who a user follows, newest first (public)",
)
async def user_following(
    user_id: uuid.UUID, principal: OptionalUser, page: PageParams, db: DbSession
) -> Page[FollowListItem]:
    return _page(await service.following(db, user_id, page))


@router.get(
    "/{user_id}/followers",
    response_model=Page[FollowListItem],
    responses=problem_doc(404, 422),
    summary="Who follows a user, newest first (public)",
)
async def user_followers(
    user_id: uuid.UUID, principal: OptionalUser, page: PageParams, db: DbSession
) -> Page[FollowListItem]:
    return _page(await service.followers(db, user_id, page))
