"""Exports and imports of an account, kind after kind (kinds.KINDS).

An export is read from one snapshot (REPEATABLE READ, read only), each kind's rows through a
server-side cursor a batch at a time, and written as they are read: JSON Lines, or a ZIP with
one CSV per kind. Its memory does not grow with the account.

An import is one transaction. Its body is read line by line as it arrives; each record is
validated with its context's model, and stored by its context a batch at a time. Records come
in the export's order of kinds (each kind's records together), so a kind's records can count
on those of the kinds before it (intervals on their buckets, focus streaks on the profile's
timezone). The first problem ends it, nothing stored: a 422 naming the line, or a 409 when the
account already has data of a kind the file brings.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.platform.errors import Conflict, FieldError, ItemRefused, RhythmError, Unprocessable
from rhythm.portability import repository
from rhythm.portability.formats import LineTooLong, csv_writer, line_writer, lines, zip_stream
from rhythm.portability.kinds import BY_NAME, KINDS, Kind, Restoring
from rhythm.portability.schemas import FORMAT_VERSION, HEADER_KIND, LINE_LIMIT, ImportSummary

HEADER = msgspec.json.encode({"kind": HEADER_KIND, "version": FORMAT_VERSION}) + b"\n"
ORDER = {kind.name: index for index, kind in enumerate(KINDS)}
PROGRESS_EVERY = 100_000  # records between two progress reports


class AccountNotEmpty(Conflict):
    slug = "account-not-empty"
    title = "Account not empty"


class InvalidLine(RhythmError):
    """A line of an import that cannot be stored: its number, and why."""

    status = 422
    slug = "invalid-line"
    title = "Invalid line"

    def __init__(
        self,
        line: int,
        message: str,
        *,
        kind: str | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        where = f"Line {line}" + (f" ({kind})" if kind else "")
        super().__init__(
            f"{where}: {message}",
            errors=errors or [FieldError(field=f"line {line}", message=message)],
            extra={"line": line, **({"kind": kind} if kind else {})},
        )


# Export -----------------------------------------------------------------------------------------


async def snapshot(session: AsyncSession) -> None:
    """Make the session's transaction read one snapshot of everything, and nothing else."""
    await session.connection(
        execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    )


async def export_lines(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[bytes]:
    """The account's export as JSON Lines: the header, then every kind's records."""
    yield HEADER
    for kind in KINDS:
        write = line_writer(kind.name, kind.columns, kind.json_fields)
        async for rows in kind.export(session, user_id):
            yield write(rows)


async def _csv(session: AsyncSession, user_id: uuid.UUID, kind: Kind) -> AsyncIterator[bytes]:
    header, write = csv_writer(kind.columns)
    yield header
    async for rows in kind.export(session, user_id):
        yield write(rows)


async def export_zip(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[bytes]:
    """The account's export as a ZIP holding one CSV per kind (`{kind}.csv`, a header line
    even when empty); lists and objects are JSON in their cells."""

    async def members() -> AsyncIterator[tuple[str, AsyncIterator[bytes]]]:
        for kind in KINDS:
            yield f"{kind.name}.csv", _csv(session, user_id, kind)

    comment = f"rhythm export, version {FORMAT_VERSION}".encode()
    async for piece in zip_stream(members(), comment):
        yield piece


# Import -----------------------------------------------------------------------------------------


def _decode(number: int, raw: bytes) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidLine(number, f"not valid JSON ({exc}).") from None
    if not isinstance(value, dict):
        raise InvalidLine(number, "a record is a JSON object.")
    return value


def _validate(kind: Kind, number: int, value: dict[str, Any]) -> Any:
    try:
        return kind.record.model_validate(value)
    except ValidationError as exc:
        found = exc.errors(include_url=False)
        errors = [
            FieldError(
                field=".".join([f"line {number}", *(str(p) for p in e["loc"])]),
                message=e["msg"],
            )
            for e in found[:20]
        ]
        first = found[0]
        where = ".".join(str(p) for p in first["loc"])
        message = f"{where}: {first['msg']}" if where else first["msg"]
        raise InvalidLine(number, message, kind=kind.name, errors=errors) from None


def _kind(number: int, value: dict[str, Any], position: int) -> Kind:
    name = value.pop("kind", None)
    kind = BY_NAME.get(name) if isinstance(name, str) else None
    if kind is None:
        known = ", ".join(BY_NAME)
        given = "no `kind`" if name is None else f"the unknown kind {name!r}"
        raise InvalidLine(number, f"{given}; the kinds are {known}.")
    if ORDER[kind.name] < position:
        raise InvalidLine(
            number,
            f"a {kind.name} record after {KINDS[position].name} records: records come "
            f"grouped by kind, in the export's order ({', '.join(BY_NAME)}).",
            kind=kind.name,
        )
    return kind


async def _store(to: Restoring, kind: Kind, items: list[tuple[int, Any]]) -> int:
    if not items or kind.restore is None:
        return 0
    try:
        return await kind.restore(to, items)
    except ItemRefused as exc:
        error = exc.error
        fields = [
            FieldError(field=f"line {exc.key}.{e.field}", message=e.message)
            for e in error.errors or []
        ]
        raise InvalidLine(exc.key, error.detail, kind=kind.name, errors=fields or None) from None


async def import_records(
    to: Restoring,
    chunks: AsyncIterator[bytes],
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Store an export's records (its bytes, as they arrive) in the account, all or none."""
    await repository.lock_account(to.session, to.user_id)
    read = dict.fromkeys(BY_NAME, 0)
    stored = dict.fromkeys(BY_NAME, 0)
    current: Kind | None = None
    position = -1
    pending: list[tuple[int, Any]] = []
    records = 0
    try:
        async for number, raw in lines(chunks, LINE_LIMIT):
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte order mark some editors write
            if not raw.strip():
                continue
            value = _decode(number, raw)
            if value.get("kind") == HEADER_KIND:
                if records or current is not None:
                    raise InvalidLine(number, "the export's header line comes first.")
                if value != {"kind": HEADER_KIND, "version": FORMAT_VERSION}:
                    raise InvalidLine(
                        number, f"this server reads exports of version {FORMAT_VERSION}."
                    )
                continue
            kind = _kind(number, value, position)
            if kind is not current:
                if current is not None:
                    stored[current.name] += await _store(to, current, pending)
                    pending = []
                current, position = kind, ORDER[kind.name]
                if kind.held is not None and await kind.held(to.session, to.user_id):
                    raise AccountNotEmpty(
                        f"This account already has {kind.plural}: an import brings them only "
                        f"into an account that has none (line {number}).",
                        extra={"line": number, "kind": kind.name},
                    )
            record = _validate(kind, number, value)
            read[kind.name] += 1
            if kind.most is not None and read[kind.name] > kind.most:
                raise InvalidLine(
                    number, f"an import holds at most {kind.most:,} {kind.plural}.", kind=kind.name
                )
            if kind.restore is not None:
                pending.append((number, record))
                if len(pending) >= kind.batch:
                    stored[kind.name] += await _store(to, kind, pending)
                    pending = []
            records += 1
            if progress is not None and records % PROGRESS_EVERY == 0:
                progress(records)
    except LineTooLong as exc:
        raise InvalidLine(exc.number, f"longer than {LINE_LIMIT:,} bytes.") from None
    if current is None and not records:
        raise Unprocessable(
            "The body holds no records: send an export (GET /users/me/export).", field="body"
        )
    if current is not None:
        stored[current.name] += await _store(to, current, pending)
    return ImportSummary(
        imported=stored, skipped={name: read[name] - stored[name] for name in BY_NAME}
    )
