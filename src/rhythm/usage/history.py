"""ActivityWatch history in and out: aw-server's export document, read (imports) and written
(exports), for POST /api/0/import, `rhythm usage import` and GET /api/0/export.

An import is one transaction. Its events stream from the document (aw_document) through
validation into a staging table by COPY, and are then inserted together (repository.
insert_staged): the same rows as POST /api/0/buckets/{id}/events would insert, listed in the
same order (they are inserted by bucket and time, events of one instant in document order).
An event's identity is (bucket, timestamp, duration, data): an event already in its bucket, or
repeated in the document, is inserted once, so importing a document again changes nothing.
A missing bucket is created with the document's type, client, hostname and created time; an
existing bucket keeps its own, as aw-server keeps them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.platform.errors import FieldError, RhythmError, Unprocessable
from rhythm.usage import repository
from rhythm.usage.aw_document import BucketEnd, BucketStart, EventItem, read_document
from rhythm.usage.merge import Event, derived
from rhythm.usage.models import UsageBucket
from rhythm.usage.schemas import (
    MAX_IMPORT_BUCKETS,
    MAX_IMPORT_EVENTS,
    AwImportBucketIn,
    AwImportEventIn,
)
from rhythm.usage.service import EXCLUSION_VIOLATION, Overlap

EXPORT_PAGE = 5000  # events read per query while an export streams
PROGRESS_EVERY = 100_000  # events between two progress reports of an import


class ImportTooLarge(RhythmError):
    status = 413
    slug = "import-too-large"
    title = "Import too large"


@dataclass
class ImportSummary:
    buckets: int = 0  # buckets in the document
    buckets_created: int = 0
    events: int = 0  # events in the document
    inserted: int = 0  # events new to their bucket
    seconds: float = 0.0
    names: dict[int, str] = field(default_factory=dict)  # slot -> bucket id


def _invalid(exc: ValidationError, prefix: str) -> Unprocessable:
    errors = [
        FieldError(
            field=".".join([prefix, *(str(p) for p in e["loc"])]) if e["loc"] else prefix,
            message=e["msg"],
        )
        for e in exc.errors(include_url=False)[:20]
    ]
    return Unprocessable(f"{errors[0].field}: {errors[0].message}", errors=errors)


async def import_document(
    session: AsyncSession,
    user_id: uuid.UUID,
    chunks: AsyncIterator[bytes],
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import an export document (its bytes, as they arrive) into the user's buckets."""
    began = time.perf_counter()
    summary = ImportSummary()
    buckets: dict[int, AwImportBucketIn] = {}

    async def records() -> AsyncIterator[tuple[Any, ...]]:
        n = 0
        async for item in read_document(chunks, MAX_IMPORT_BUCKETS):
            if isinstance(item, EventItem):
                n += 1
                if n > MAX_IMPORT_EVENTS:
                    raise ImportTooLarge(f"At most {MAX_IMPORT_EVENTS:,} events per import.")
                yield _record(item, n, summary.names[item.slot])
                if progress is not None and n % PROGRESS_EVERY == 0:
                    progress(n)
            elif isinstance(item, BucketStart):
                summary.names[item.slot] = item.key
            else:
                buckets[item.slot] = _bucket(item)
        summary.events = n

    await repository.stage_import(session, records())
    summary.buckets = len(buckets)
    wanted = {
        b.id or summary.names[slot]: (b.type, b.client, b.hostname, b.created)
        for slot, b in buckets.items()
    }
    before = {b.name for b in await repository.buckets_of(session, user_id)}
    pks = await repository.create_imported_buckets(
        session, user_id, [(name, *fields) for name, fields in wanted.items()]
    )
    summary.buckets_created = len(set(pks) - before)
    slots = {slot: pks[b.id or summary.names[slot]] for slot, b in buckets.items()}
    await repository.lock_buckets(session, list(slots.values()))
    try:
        summary.inserted = await repository.insert_staged(session, user_id, slots)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == EXCLUSION_VIOLATION:
            raise Overlap(
                "An imported event overlaps another event of its bucket (a bucket's events "
                "never overlap here); nothing was imported."
            ) from None
        raise
    summary.seconds = time.perf_counter() - began
    return summary


def _record(item: EventItem, n: int, bucket: str) -> tuple[Any, ...]:
    try:
        event = AwImportEventIn.model_validate(item.value)
    except ValidationError as exc:
        raise _invalid(exc, f"buckets.{bucket}.events[{item.index}]") from None
    app, title, url, domain = derived(event.data)
    return (
        item.slot,
        n,
        event.timestamp,
        event.timestamp + timedelta(seconds=event.duration),
        json.dumps(event.data, separators=(",", ":")),
        app,
        title,
        url,
        domain,
    )


def _bucket(item: BucketEnd) -> AwImportBucketIn:
    fields = {k: v for k, v in item.fields.items() if k in AwImportBucketIn.model_fields}
    try:
        return AwImportBucketIn.model_validate(fields)
    except ValidationError as exc:
        raise _invalid(exc, f"buckets.{item.key}") from None


def bucket_json(bucket: UsageBucket) -> dict[str, Any]:
    """A bucket in ActivityWatch's shape."""
    return {
        "id": bucket.name,
        "name": bucket.name,
        "type": bucket.type,
        "client": bucket.client,
        "hostname": bucket.hostname,
        "created": bucket.created_at.astimezone(UTC).isoformat(),
        "data": {},
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


async def export_document(
    session: AsyncSession, user_id: uuid.UUID, name: str | None
) -> AsyncIterator[bytes]:
    """aw-server's export document of the user's buckets (or of the one named), in pieces: a
    bucket's events newest first and without ids (aw-server scrubs them), read a page at a
    time."""
    buckets = [
        b for b in await repository.buckets_of(session, user_id) if name is None or b.name == name
    ]
    yield b'{"buckets":{'
    for number, bucket in enumerate(buckets):
        head = _dumps(bucket_json(bucket))[:-1]  # its fields, then its events
        yield f'{"," if number else ""}{_dumps(bucket.name)}:{head},"events":['.encode()
        after: tuple[datetime, int] | None = None
        first = True
        while True:
            page = await repository.events(session, [bucket.id], None, None, after, EXPORT_PAGE)
            if page:
                text = ",".join(_dumps(_exported(event)) for _, event in page)
                yield (text if first else "," + text).encode()
                first = False
            if len(page) < EXPORT_PAGE:
                break
            last = page[-1][1]
            assert last.id is not None
            after = (last.start, last.id)
        yield b"]}"
    yield b"}}"


def _exported(event: Event) -> dict[str, Any]:
    return {
        "timestamp": event.start.astimezone(UTC).isoformat(),
        "duration": event.duration.total_seconds(),
        "data": event.data,
    }
