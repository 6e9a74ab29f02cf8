"""Request and response models of the social context."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from rhythm.identity.schemas import UserSummary


class FollowOut(BaseModel):
    user: UserSummary
    followed_at: datetime


class FollowListItem(BaseModel):
    id: uuid.UUID
    name: str
    followed_at: datetime
