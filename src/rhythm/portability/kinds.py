"""The kinds of records an account's export holds, in the order it writes them: each is one
entry, naming its record (the context's model: the fields, in order, and an import's
validation), the context's function streaming its rows, and how an import stores it.

To add a kind, add its entry here: its context provides the rows (`export`), and, when an
import brings it back, whether an account already has some (`held`) and the storing of a batch
(`restore`). An entry without `restore` is exported and, on import, read and skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.editors import service as editors_service
from rhythm.editors.schemas import HEARTBEAT_RECORD_FIELDS, EditorSettingsUpdate, HeartbeatRecord
from rhythm.focus import recording as focus_recording
from rhythm.focus.schemas import FocusSessionIn
from rhythm.focus.standings_cache import Standings
from rhythm.identity import service as identity_service
from rhythm.identity.cache import AuthCache
from rhythm.identity.schemas import ApiKeyRecord, ProfileRecord
from rhythm.platform.redis import RedisClient
from rhythm.sleep import records as sleep_records
from rhythm.sleep.feed_cache import FeedCache
from rhythm.sleep.schemas import NightRecord
from rhythm.social import portability as social_portability
from rhythm.social import service as social_service
from rhythm.social.schemas import BlockRecord, FollowRecord, FollowRequestRecord
from rhythm.usage import category_rules
from rhythm.usage import portability as usage_portability
from rhythm.usage.categories import MAX_RULES
from rhythm.usage.schemas import (
    MAX_IMPORT_BUCKETS,
    MAX_IMPORT_EVENTS,
    BucketRecord,
    CategoryIn,
    IntervalRecord,
)

Rows = AsyncIterator[Sequence[Sequence[Any]]]


@dataclass
class Restoring:
    """What an import writes with: its transaction, the account, and the caches the contexts
    keep current (as their own routes do)."""

    session: AsyncSession
    user_id: uuid.UUID
    timezone: str  # the account's, once the profile is applied
    redis: RedisClient
    auth: AuthCache
    feeds: FeedCache
    standings: Standings
    focus_threshold_minutes: int


Items = Sequence[tuple[int, Any]]  # (line, record) pairs of one kind


@dataclass(frozen=True)
class Kind:
    name: str  # the records' `kind`, and its CSV's name
    record: type[BaseModel]
    export: Callable[[AsyncSession, uuid.UUID], Rows]  # rows in the order of `fields`
    plural: str  # for messages: "sleep nights"
    fields: tuple[str, ...] = ()  # default: the record's fields
    json_fields: frozenset[str] = frozenset()  # exported as JSON text (jsonb)
    held: Callable[[AsyncSession, uuid.UUID], Awaitable[bool]] | None = None
    restore: Callable[[Restoring, Items], Awaitable[int]] | None = None  # how many stored
    batch: int = 1000  # records stored at once
    most: int | None = None  # records one import may hold

    @property
    def columns(self) -> tuple[str, ...]:
        """The record's fields, in the order of the rows (a JSON line's keys, a CSV's header)."""
        return self.fields or tuple(self.record.model_fields)


async def _profile(to: Restoring, items: Items) -> int:
    for _, record in items:
        user = await identity_service.import_profile(to.session, to.auth, to.user_id, record)
        to.timezone = user.timezone
    return len(items)


async def _following(to: Restoring, items: Items) -> int:
    # Social decides which become follows again (public accounts) and which are skipped
    # (private ones, gone ones, and those a block stands between).
    pairs = [(record.user_id, record.followed_at) for _, record in items]
    return await social_portability.import_following(
        to.session, to.redis, to.user_id, pairs, ask_private=False
    )


async def _requests(to: Restoring, items: Items) -> int:
    # A pending request is made again to a private account, and is a follow of a public one.
    pairs = [(record.user_id, record.requested_at) for _, record in items]
    return await social_portability.import_following(
        to.session, to.redis, to.user_id, pairs, ask_private=True
    )


async def _blocks(to: Restoring, items: Items) -> int:
    pairs = [(record.user_id, record.blocked_at) for _, record in items]
    return await social_portability.import_blocks(to.session, to.redis, to.user_id, pairs)


async def _nights(to: Restoring, items: Items) -> int:
    return await sleep_records.import_nights(to.session, to.feeds, to.user_id, items)


async def _focus(to: Restoring, items: Items) -> int:
    return await focus_recording.import_sessions(
        to.session, to.standings, to.user_id, to.timezone, items, to.focus_threshold_minutes
    )


async def _buckets(to: Restoring, items: Items) -> int:
    return await usage_portability.import_buckets(to.session, to.user_id, items)


async def _intervals(to: Restoring, items: Items) -> int:
    return await usage_portability.import_intervals(to.session, to.user_id, items)


async def _rules(to: Restoring, items: Items) -> int:
    return await category_rules.import_rules(to.session, to.user_id, items)


async def _editor_settings(to: Restoring, items: Items) -> int:
    for _, record in items:
        await editors_service.import_settings(to.session, to.user_id, record)
    return len(items)


async def _heartbeats(to: Restoring, items: Items) -> int:
    records = [record for _, record in items]
    return await editors_service.import_heartbeats(to.session, to.user_id, records)


KINDS: tuple[Kind, ...] = (
    # Name and timezone are applied; email and creation time are the exported account's.
    Kind(
        "profile",
        ProfileRecord,
        identity_service.export_profile,
        "profiles",
        restore=_profile,
        most=1,
    ),
    # Never recreated: their secrets are not exported.
    Kind("api_key", ApiKeyRecord, identity_service.export_api_keys, "API keys"),
    # Blocks before follows: a follow of an account the user blocks is not made again.
    Kind(
        "block",
        BlockRecord,
        social_portability.exporter("blocks"),
        "blocks",
        held=social_portability.holds("blocks"),
        restore=_blocks,
        most=social_service.MAX_BLOCKS,
    ),
    Kind(
        "following",
        FollowRecord,
        social_portability.exporter("following"),
        "follows",
        held=social_portability.holds("following"),
        restore=_following,
    ),
    # Never recreated: following is the follower's own act.
    Kind("follower", FollowRecord, social_portability.exporter("followers"), "followers"),
    Kind(
        "follow_request",
        FollowRequestRecord,
        social_portability.exporter("requests-sent"),
        "follow requests",
        held=social_portability.holds("requests-sent"),
        restore=_requests,
    ),
    # Never recreated: asking is the requester's own act.
    Kind(
        "follow_request_received",
        FollowRequestRecord,
        social_portability.exporter("requests-received"),
        "follow requests received",
    ),
    Kind(
        "sleep_night",
        NightRecord,
        sleep_records.export_nights,
        "sleep nights",
        held=sleep_records.has_nights,
        restore=_nights,
        batch=500,
    ),
    Kind(
        "focus_session",
        FocusSessionIn,
        focus_recording.export_sessions,
        "focus sessions",
        held=focus_recording.has_sessions,
        restore=_focus,
        batch=500,
    ),
    Kind(
        "usage_bucket",
        BucketRecord,
        usage_portability.export_buckets,
        "usage buckets",
        held=usage_portability.has_buckets,
        restore=_buckets,
        most=MAX_IMPORT_BUCKETS,
    ),
    Kind(
        "usage_interval",
        IntervalRecord,
        usage_portability.export_intervals,
        "usage intervals",
        json_fields=frozenset({"data"}),
        held=usage_portability.has_intervals,
        restore=_intervals,
        batch=5000,
        most=MAX_IMPORT_EVENTS,
    ),
    Kind(
        "category_rule",
        CategoryIn,
        category_rules.export_rules,
        "category rules",
        json_fields=frozenset({"rule"}),
        held=category_rules.rules_changed,
        restore=_rules,
        batch=MAX_RULES,
        most=MAX_RULES,
    ),
    Kind(
        "editor_settings",
        EditorSettingsUpdate,
        editors_service.export_settings,
        "editor settings",
        restore=_editor_settings,
        most=1,
    ),
    Kind(
        "editor_heartbeat",
        HeartbeatRecord,
        editors_service.export_heartbeats,
        "editor heartbeats",
        fields=HEARTBEAT_RECORD_FIELDS,
        held=editors_service.has_heartbeats,
        restore=_heartbeats,
    ),
)

BY_NAME = {kind.name: kind for kind in KINDS}
