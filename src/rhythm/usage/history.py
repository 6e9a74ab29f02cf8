"""ActivityWatch history in and out: aw-server's export document, read (imports) and written
(exports), for POST /api/0/import, `rhythm usage import` and GET /api/0/export.

An import is one transaction. Its events stream from the document (aw_document) through
validation into a staging table by COPY, a batch (IMPORT_BATCH) at a time, and each batch is
inserted (repository.insert_staged) while the next one is parsed: PostgreSQL's work (the GiST
indexes every row enters) and Python's (parsing, validating) then overlap on two cores. The
rows are those POST /api/0/buckets/{id}/events would insert, listed in the same order
(inserted by bucket and time, batches in document order, so events of one instant keep the
document's order). An event's identity is (bucket, timestamp, duration, data): an event already
in its bucket, or repeated in the document, is inserted once, so importing a document again
changes nothing. A missing bucket is created with the document's type, client, hostname and
created time; an existing bucket keeps its own, as aw-server keeps them.

A bucket's events can be inserted once its name is known: where its events begin when its `id`
came before them (aw-server writes its fields first), else where the bucket ends; until then they
wait in the staging table. Errors keep the order of a whole-document check: a document that is
invalid (422) or too large (413) anywhere is refused as such, an overlap (409) only when it is
otherwise valid, and nothing is imported.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from rhythm.usage.aw_document import (
    BucketEnd,
    BucketStart,
    EventItem,
    EventsStart,
    MalformedDocument,
    read_document,
)
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
# Events copied and inserted at a time. Large enough that a batch's statements cost little next
# to its rows, small enough that the first batch (parsed while nothing else runs) and the last
# (inserted while nothing is left to parse) are a small part of the import.
IMPORT_BATCH = 50_000

BucketFields = tuple[str, str, str, datetime | None]  # type, client, hostname, created


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
    loader = _Loader(session, user_id)
    early: dict[int, str] = {}  # slot -> name, of the buckets named where their events begin
    n = 0
    try:
        async for item in read_document(chunks, MAX_IMPORT_BUCKETS):
            if isinstance(item, EventItem):
                n += 1
                if n > MAX_IMPORT_EVENTS:
                    raise ImportTooLarge(f"At most {MAX_IMPORT_EVENTS:,} events per import.")
                loader.batch.append(_record(item, n, summary.names[item.slot]))
                if len(loader.batch) >= IMPORT_BATCH:
                    await loader.flush()
                if progress is not None and n % PROGRESS_EVERY == 0:
                    progress(n)
            elif isinstance(item, BucketStart):
                summary.names[item.slot] = item.key
            elif isinstance(item, EventsStart):
                bucket = _named_bucket(item)
                if bucket is not None:
                    early[item.slot] = bucket.id or item.key
                    loader.buckets.append((item.slot, early[item.slot], _fields(bucket), False))
            else:
                bucket = _bucket(item)
                name = bucket.id or item.key
                if early.get(item.slot, name) != name:
                    raise MalformedDocument(
                        f"Bucket {item.key!r} has two ids.", field=f"buckets.{item.key}.id"
                    )
                summary.buckets += 1
                loader.buckets.append((item.slot, name, _fields(bucket), True))
        summary.events = n
        await loader.flush()
        await loader.wait()
    except BaseException:
        await loader.drain()
        raise
    if loader.overlap:
        raise Overlap(
            "An imported event overlaps another event of its bucket (a bucket's events "
            "never overlap here); nothing was imported."
        )
    summary.inserted = loader.inserted
    summary.buckets_created = len(loader.made)
    summary.seconds = time.perf_counter() - began
    return summary


class _Loader:
    """The database side of one import, a batch behind the parse. The session's connection
    runs one statement at a time: while a batch's insert runs on it, Python parses the next
    batch; `flush` waits for that insert, then settles the buckets met since, copies the new
    batch and starts its insert."""

    def __init__(self, session: AsyncSession, user_id: uuid.UUID) -> None:
        self.session = session
        self.user_id = user_id
        self.batch: list[tuple[Any, ...]] = []  # records parsed since the last flush
        # Buckets met since the last flush, in document order: (slot, name, fields, final).
        self.buckets: list[tuple[int, str, BucketFields, bool]] = []
        self.slots: dict[int, uuid.UUID] = {}  # slot -> its bucket, once known
        self.made: dict[str, BucketFields] = {}  # buckets this import created -> their fields
        self.locked: set[uuid.UUID] | None = None
        self.staging = False  # whether the staging table was made
        self.staged: set[int] = set()  # slots with rows in the staging table
        self.inserting: asyncio.Task[int] | None = None
        self.inserted = 0
        self.overlap = False  # an insert met the exclusion constraint: the transaction is over

    async def flush(self) -> None:
        await self.wait()
        batch, buckets = self.batch, self.buckets
        self.batch, self.buckets = [], []
        if self.overlap:
            return  # the document is still read to its end, for its other errors
        for slot, name, fields, final in buckets:
            await self._settle(slot, name, fields, final)
        if batch:
            if not self.staging:
                await repository.create_staging(self.session)
                self.staging = True
            await repository.stage_events(self.session, batch)
            self.staged.update({record[0] for record in batch})
        # Staged rows are inserted in document order: a slot's only after every earlier slot's.
        ready: dict[int, uuid.UUID] = {}
        for slot in sorted(self.staged):
            if slot not in self.slots:
                break
            ready[slot] = self.slots[slot]
        if ready:
            rest = self.staged - ready.keys()
            self.inserting = asyncio.create_task(self._insert(ready, rest))
            await asyncio.sleep(0)  # the insert is sent before the parse takes the loop again

    async def _insert(self, ready: dict[int, uuid.UUID], rest: set[int]) -> int:
        inserted = await repository.insert_staged(self.session, self.user_id, ready)
        await repository.clear_staged(self.session, list(ready) if rest else None)
        self.staged = rest
        return inserted

    async def wait(self) -> None:
        """Wait for the insert in flight, if any."""
        if self.inserting is None:
            return
        task, self.inserting = self.inserting, None
        try:
            self.inserted += await task
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != EXCLUSION_VIOLATION:
                raise
            self.overlap = True

    async def drain(self) -> None:
        """On an error: wait for the insert in flight (the connection is busy until it ends,
        and the session's rollback needs it), whatever its outcome."""
        with contextlib.suppress(Exception):  # the error being raised is the one that counts
            await self.wait()

    async def _settle(self, slot: int, name: str, fields: BucketFields, final: bool) -> None:
        """Bind a slot to its bucket (creating it, with the fields known so far, and locking it
        for the transaction) and, at the bucket's end, give a bucket this import created the
        fields of the last slot naming it (as one pass over the whole document would)."""
        if slot not in self.slots:
            if self.locked is None:
                # Buckets are bound one at a time as the document names them, and a writer
                # holding one bucket could wait on another this import holds. Locking all the
                # user's buckets first, in writers' order, rules that out: the ones the import
                # creates later are new, and nobody else can be holding them (only a bucket
                # someone else creates during the import is locked later, and may wait).
                found = [b.id for b in await repository.buckets_of(self.session, self.user_id)]
                await repository.lock_buckets(self.session, found)
                self.locked = set(found)
            pk, created = await repository.create_imported_bucket(
                self.session, self.user_id, name, fields
            )
            if pk not in self.locked:
                await repository.lock_buckets(self.session, [pk])
                self.locked.add(pk)
            if created:
                self.made[name] = fields
            self.slots[slot] = pk
        if final and self.made.get(name, fields) != fields:
            await repository.set_imported_bucket(self.session, self.slots[slot], fields)
            self.made[name] = fields


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


def _fields(bucket: AwImportBucketIn) -> BucketFields:
    return (bucket.type, bucket.client, bucket.hostname, bucket.created)


def _bucket(item: BucketEnd) -> AwImportBucketIn:
    fields = {k: v for k, v in item.fields.items() if k in AwImportBucketIn.model_fields}
    try:
        return AwImportBucketIn.model_validate(fields)
    except ValidationError as exc:
        raise _invalid(exc, f"buckets.{item.key}") from None


def _named_bucket(item: EventsStart) -> AwImportBucketIn | None:
    """The bucket as its members before its events give it, when they include its `id` (its
    name is then known) and are valid; else None, and its end decides."""
    if "id" not in item.fields:
        return None
    fields = {k: v for k, v in item.fields.items() if k in AwImportBucketIn.model_fields}
    try:
        return AwImportBucketIn.model_validate(fields)
    except ValidationError:
        return None


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
