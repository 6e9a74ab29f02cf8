"""Who a request acts as (Principal) and what it may do (Scope): an API key holds the scopes it
was created with; a device session holds them all and `session` besides, which no key can
hold."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from rhythm.platform.errors import RhythmError


class Scope(StrEnum):
    """What an API key may be allowed. Kept small: a key is for a tracker or a script."""

    USAGE = "usage"  # send usage: /usage/heartbeats, and the ActivityWatch API under /api/0
    READ = "read"  # read your own data and what any signed-in person may read (GET routes)
    WRITE = "write"  # change your own data: sleep, focus sessions, follows


# Who sees a user's data: everyone (`public`), or only the followers they approved (`private`).
Visibility = Literal["public", "private"]
PUBLIC: Visibility = "public"
PRIVATE: Visibility = "private"


# Held only by a device session: account, password, profile, API-key and session management.
SESSION = "session"


# What a key gets when none are asked for: enough for a watcher or an editor plugin.
DEFAULT_KEY_SCOPES: tuple[Scope, ...] = (Scope.USAGE, Scope.READ)


DEVICE_SESSION_SCOPES = frozenset({*Scope, SESSION})


class InsufficientScope(RhythmError):
    status = 403
    slug = "insufficient-scope"
    title = "Insufficient scope"


@dataclass(frozen=True, slots=True)
class Principal:
    id: uuid.UUID
    email: str
    name: str
    timezone: str
    created_at: datetime
    is_admin: bool
    visibility: Visibility = PUBLIC
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    scopes: frozenset[str] = DEVICE_SESSION_SCOPES

    def require(self, need: str) -> None:
        """403 unless the caller holds `need` (a Scope, or SESSION)."""
        if need in self.scopes:
            return
        if need == SESSION:
            raise InsufficientScope(
                "This needs a device session (the access token from signing in); "
                "no API key can do it."
            )
        raise InsufficientScope(
            f"This API key lacks the `{need}` scope this route needs "
            f"(it holds: {', '.join(sorted(self.scopes)) or 'none'})."
        )
