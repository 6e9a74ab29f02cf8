"""Request and response models of the social context."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from rhythm.identity.schemas import UserSummary
from rhythm.platform.schemas import IsoDatetime, RequestModel


class FollowOut(BaseModel):
    user: UserSummary
    followed_at: datetime


class FollowRequestOut(BaseModel):
    user: UserSummary
    requested_at: datetime


class BlockOut(BaseModel):
    user: UserSummary
    blocked_at: datetime


class FollowListItem(BaseModel):
    id: uuid.UUID
    name: str
    followed_at: datetime


class FollowRecord(RequestModel):
    """A follow in an export (GET /users/me/export): the other account, its name then, and
    since when."""

    user_id: uuid.UUID
    name: str | None = Field(default=None, max_length=100)
    followed_at: IsoDatetime


class FollowRequestRecord(RequestModel):
    """A pending follow request in an export: the other account, its name then, and since
    when."""

    user_id: uuid.UUID
    name: str | None = Field(default=None, max_length=100)
    requested_at: IsoDatetime


class BlockRecord(RequestModel):
    """A block in an export: the blocked account, its name then, and since when."""

    user_id: uuid.UUID
    name: str | None = Field(default=None, max_length=100)
    blocked_at: IsoDatetime
