"""HTTP routes of the follow graph, follow requests, blocks, profiles and user search."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse
from starlette.convertors import Convertor, register_url_convertor

from rhythm.identity import service as identity_service
from rhythm.identity.dependencies import OptionalUser, ReadUser, WriteUser
from rhythm.identity.schemas import PublicProfile, UserSummary
from rhythm.platform.http.dependencies import DbSession, RedisDep
from rhythm.platform.http.params import PageParams
from rhythm.platform.http.problems import problem_doc
from rhythm.platform.pagination import MAX_LIMIT, Page
from rhythm.social import service
from rhythm.social.schemas import BlockOut, FollowListItem, FollowOut, FollowRequestOut

router = APIRouter(prefix="/users", tags=["social"], responses=problem_doc(401, 429))

PRIVATE_DATA = (
    "Public for a public account. A private account's list is its own and its approved "
    "followers' to see; to anyone else, and between users a block stands between, it is a "
    "404, as for an id nobody has."
)


def _follow_page(found: tuple[list[service.Entry], str | None]) -> Page[FollowListItem]:
    entries, cursor = found
    return Page(
        data=[FollowListItem(id=e.id, name=e.name, followed_at=e.at) for e in entries],
        next_cursor=cursor,
    )


def _request_page(found: tuple[list[service.Entry], str | None]) -> Page[FollowRequestOut]:
    entries, cursor = found
    return Page(
        data=[
            FollowRequestOut(user=UserSummary(id=e.id, name=e.name), requested_at=e.at)
            for e in entries
        ],
        next_cursor=cursor,
    )


@router.put(
    "/me/following/{user_id}",
    response_model=FollowOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": FollowOut, "description": "Already following"},
        202: {
            "model": FollowRequestOut,
            "description": "The account is private: a request its owner approves (then 200) "
            "or declines, the same answer while it is pending. A user a block stands between "
            "(either way) is a 404.",
        },
        **problem_doc(404, 422),
    },
    summary="Follow a user",
    description="201 when the follow is new, 200 when you already follow the user.",
)
async def follow(
    user_id: uuid.UUID, principal: WriteUser, db: DbSession, redis: RedisDep
) -> JSONResponse:
    name, at, followed = await service.follow(db, redis, principal.id, user_id)
    user = UserSummary(id=user_id, name=name)
    if followed is service.Followed.REQUESTED:
        request = FollowRequestOut(user=user, requested_at=at)
        return JSONResponse(request.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
    body = FollowOut(user=user, followed_at=at)
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED
        if followed is service.Followed.CREATED
        else status.HTTP_200_OK,
    )


@router.delete(
    "/me/following/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(404, 422),
    summary="Unfollow a user",
    description="Cancels your pending request to follow the user, if that is what there is.",
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
    return _follow_page(await service.following(db, principal.id, principal.id, page, user_id))


@router.get(
    "/me/followers",
    response_model=Page[FollowListItem],
    responses=problem_doc(422),
    summary="Who follows you, newest first",
    description="Approved followers only: see `/users/me/follow-requests` for the pending ones.",
)
async def my_followers(
    principal: ReadUser, page: PageParams, db: DbSession
) -> Page[FollowListItem]:
    return _follow_page(await service.followers(db, principal.id, principal.id, page))


@router.get(
    "/me/follow-requests",
    response_model=Page[FollowRequestOut],
    responses=problem_doc(422),
    summary="Who asks to follow you, newest first",
)
async def incoming_requests(
    principal: ReadUser, page: PageParams, db: DbSession
) -> Page[FollowRequestOut]:
    return _request_page(await service.requests(db, principal.id, "incoming", page))


@router.get(
    "/me/follow-requests/sent",
    response_model=Page[FollowRequestOut],
    responses=problem_doc(422),
    summary="Whom you asked to follow, still pending, newest first",
)
async def sent_requests(
    principal: ReadUser, page: PageParams, db: DbSession
) -> Page[FollowRequestOut]:
    return _request_page(await service.requests(db, principal.id, "sent", page))


@router.post(
    "/me/follow-requests/{user_id}/approve",
    response_model=FollowOut,
    responses=problem_doc(404, 422),
    summary="Approve a request to follow you",
    description="The requester follows you from now on: `user` is the requester. A 404 when "
    "the user has no pending request to follow you.",
)
async def approve_request(
    user_id: uuid.UUID, principal: WriteUser, db: DbSession, redis: RedisDep
) -> FollowOut:
    name, followed_at = await service.approve(db, redis, principal.id, user_id)
    return FollowOut(user=UserSummary(id=user_id, name=name), followed_at=followed_at)


class _RequesterId(Convertor[str]):
    """A requester's id segment, anything but `sent`: `…/follow-requests/sent` is its own
    resource, so a DELETE there is a 405, not a 422 for a user id `sent`. The value is still
    validated as a UUID by the route."""

    regex = "(?!sent$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("requester_id", _RequesterId())


@router.delete(
    "/me/follow-requests/{user_id:requester_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(404, 422),
    summary="Decline a request to follow you",
    description="The requester is not told; they may ask again.",
)
async def decline_request(user_id: uuid.UUID, principal: WriteUser, db: DbSession) -> Response:
    await service.decline(db, principal.id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/me/blocks/{user_id}",
    response_model=BlockOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": BlockOut, "description": "Already blocked"},
        **problem_doc(404, 409, 422),
    },
    summary="Block a user",
    description="201 when the block is new, 200 when it stands already. The follows and "
    "follow requests between you go, both ways; neither of you can follow or ask to follow "
    "the other, or see the other's profile, lists or data, and each is left out of the "
    f"other's searches and lists. At most {service.MAX_BLOCKS:,} blocks (409 "
    "`too-many-blocks`).",
)
async def block(
    user_id: uuid.UUID, principal: WriteUser, db: DbSession, redis: RedisDep
) -> JSONResponse:
    name, blocked_at, created = await service.block(db, redis, principal.id, user_id)
    body = BlockOut(user=UserSummary(id=user_id, name=name), blocked_at=blocked_at)
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


@router.delete(
    "/me/blocks/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(404, 422),
    summary="Unblock a user",
    description="The follows the block removed are not restored.",
)
async def unblock(
    user_id: uuid.UUID, principal: WriteUser, db: DbSession, redis: RedisDep
) -> Response:
    await service.unblock(db, redis, principal.id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/me/blocks",
    response_model=Page[BlockOut],
    responses=problem_doc(422),
    summary="Whom you block, newest first",
)
async def my_blocks(principal: ReadUser, page: PageParams, db: DbSession) -> Page[BlockOut]:
    entries, cursor = await service.blocks(db, principal.id, page)
    return Page(
        data=[BlockOut(user=UserSummary(id=e.id, name=e.name), blocked_at=e.at) for e in entries],
        next_cursor=cursor,
    )


@router.get(
    "",
    response_model=Page[UserSummary],
    responses=problem_doc(422),
    # Identity's users, found by social (which knows whom a block hides): listed under both.
    tags=["users"],
    summary="Search users by name prefix",
    # Private accounts are found (their profiles are visible); users a block stands between
    # with the caller are not (README's "Private accounts").
    description="Users whose name starts with `q`, ignoring case, in the order of their names.",
)
async def search_users(
    principal: ReadUser,
    page: PageParams,
    db: DbSession,
    q: Annotated[
        str, Query(min_length=1, max_length=100, pattern=r"^[^\x00]+$", description="Name prefix")
    ],
) -> Page[UserSummary]:
    hidden = await service.hidden_from(db, principal.id)
    rows, cursor = await identity_service.search_users(db, q, page, hidden)
    return Page(data=[UserSummary(id=u.id, name=u.name) for u in rows], next_cursor=cursor)


@router.get(
    "/{user_id}",
    response_model=PublicProfile,
    responses=problem_doc(404, 422),
    summary="A user's public profile",
    description="Visible to anyone, private accounts included (with their `visibility`), "
    "except between users a block stands between: a 404, as for an id nobody has.",
)
async def profile(user_id: uuid.UUID, principal: OptionalUser, db: DbSession) -> PublicProfile:
    found = await service.profile(db, principal.id if principal else None, user_id)
    return PublicProfile(
        id=found.id,
        name=found.name,
        visibility=found.visibility,
        followers_count=found.followers_count,
        following_count=found.following_count,
    )


@router.get(
    "/{user_id}/following",
    response_model=Page[FollowListItem],
    responses=problem_doc(404, 422),
    summary="Who a user follows, newest first (public)",
    description=PRIVATE_DATA,
)
async def user_following(
    user_id: uuid.UUID, principal: OptionalUser, page: PageParams, db: DbSession
) -> Page[FollowListItem]:
    viewer = principal.id if principal else None
    return _follow_page(await service.following(db, viewer, user_id, page))


@router.get(
    "/{user_id}/followers",
    response_model=Page[FollowListItem],
    responses=problem_doc(404, 422),
    summary="Who follows a user, newest first (public)",
    description=PRIVATE_DATA,
)
async def user_followers(
    user_id: uuid.UUID, principal: OptionalUser, page: PageParams, db: DbSession
) -> Page[FollowListItem]:
    viewer = principal.id if principal else None
    return _follow_page(await service.followers(db, viewer, user_id, page))
