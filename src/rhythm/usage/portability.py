"""A user's buckets and their intervals in an account's export (GET /users/me/export), out and
back in (POST /users/me/import): every interval as stored, AFK periods included, each bucket's
earliest first; an import stores them as they are, under the rule that a bucket's intervals
never overlap."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.platform.errors import Conflict, ItemRefused
from rhythm.usage import repository
from rhythm.usage.merge import derived
from rhythm.usage.schemas import BucketRecord, IntervalRecord
from rhythm.usage.service import EXCLUSION_VIOLATION, BucketNotFound, Overlap

EXPORT_BATCH = 5000  # intervals read per round trip of an export's cursor


class BucketTwice(Conflict):
    slug = "bucket-twice"
    title = "Bucket twice"


def export_buckets(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """The user's buckets by name, as BucketRecord's fields."""
    return repository.bucket_rows(session, user_id)


async def export_intervals(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """Every interval of the user's buckets (by name), each bucket's earliest first, as
    IntervalRecord's fields (data as JSON text): a page at a time through a cursor."""
    for bucket in await repository.buckets_of(session, user_id):
        async for rows in repository.interval_rows(session, bucket.id, bucket.name, EXPORT_BATCH):
            yield rows


async def has_buckets(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return await repository.has_buckets(session, user_id)


async def has_intervals(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return await repository.has_intervals(session, user_id)


async def import_buckets(
    session: AsyncSession, user_id: uuid.UUID, items: Sequence[tuple[int, BucketRecord]]
) -> int:
    """Create exported buckets (keyed by the caller: an import's lines); a name given twice
    raises ItemRefused with the second one's key."""
    names = [record.name for _, record in items]
    existing = await repository.buckets_named(session, user_id, names)
    seen: set[str] = set(existing)
    for key, record in items:
        if record.name in seen:
            raise ItemRefused(key, BucketTwice(f"The bucket {record.name!r} is given twice."))
        seen.add(record.name)
    for _, r in items:
        await repository.create_imported_bucket(
            session, user_id, r.name, (r.type, r.client, r.hostname, r.created_at)
        )
    return len(items)


def _row(bucket: repository.BucketRef, record: IntervalRecord) -> tuple[Any, ...]:
    app, title, url, domain = derived(record.data)
    data = json.dumps(record.data, separators=(",", ":"))
    return (bucket.pk, bucket.user_id, record.start, record.end, data, app, title, url, domain)


async def import_intervals(
    session: AsyncSession, user_id: uuid.UUID, items: Sequence[tuple[int, IntervalRecord]]
) -> int:
    """Store exported intervals as they are (by COPY) in buckets created before; one whose
    bucket is unknown, or that overlaps another of its bucket, raises ItemRefused with its
    key."""
    buckets = await repository.buckets_named(
        session, user_id, list({record.bucket for _, record in items})
    )
    for key, record in items:
        if record.bucket not in buckets:
            raise ItemRefused(
                key,
                BucketNotFound(
                    f"No bucket {record.bucket!r}: a bucket's record comes before its intervals."
                ),
            )
    rows = [_row(buckets[record.bucket], record) for _, record in items]
    try:
        async with session.begin_nested():
            await repository.copy_events(session, rows)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) != EXCLUSION_VIOLATION:
            raise
        await _name_the_overlap(session, items, rows)
        raise
    return len(rows)


async def _name_the_overlap(
    session: AsyncSession,
    items: Sequence[tuple[int, IntervalRecord]],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """The batch was rolled back: insert it again one interval at a time, to raise
    ItemRefused for the first that overlaps."""
    for (key, record), row in zip(items, rows, strict=True):
        try:
            async with session.begin_nested():
                await repository.copy_events(session, [row])
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != EXCLUSION_VIOLATION:
                raise
            raise ItemRefused(
                key,
                Overlap(
                    f"This interval overlaps another interval of the bucket {record.bucket!r}."
                ),
            ) from None
