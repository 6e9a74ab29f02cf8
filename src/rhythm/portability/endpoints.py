"""HTTP routes of portability: GET /users/me/export and POST /users/me/import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.focus.standings_cache import Standings
from rhythm.identity.cache import AuthCache
from rhythm.identity.dependencies import SessionUser
from rhythm.platform.http.dependencies import DbSession
from rhythm.platform.http.problems import problem_doc
from rhythm.platform.http.shared import shared
from rhythm.platform.resources import Resources
from rhythm.platform.settings import Settings
from rhythm.portability import service
from rhythm.portability.kinds import KINDS, Restoring
from rhythm.portability.schemas import (
    FORMAT_VERSION,
    IMPORT_BODY_LIMIT,
    LINE_LIMIT,
    NDJSON,
    ImportSummary,
)
from rhythm.sleep.feed_cache import FeedCache

router = APIRouter(prefix="/users", tags=["users"], responses=problem_doc(401, 429))

KIND_NAMES = ", ".join(f"`{kind.name}`" for kind in KINDS)

EXPORT_DOC = f"""Everything the account owns, streamed as it is read from one snapshot.

As JSON Lines (`{NDJSON}`, the default): a first line `{{"kind": "export", "version":
{FORMAT_VERSION}}}`, then one record per line, each with its `kind`, in this order: {KIND_NAMES}.
`profile` is the account's name, email, timezone, creation time and visibility; `api_key` a
key's name, prefix and scopes, never its secret; `block` whom the account blocks, `following`
whom it follows, `follower` who follows it, `follow_request` the pending requests it made and
`follow_request_received` those made to it (each the other account's id and name, and since
when); `sleep_night` a night as
logged with its private rating, tags and note (the open one too, with `wake_at` null);
`focus_session` a session as recorded;
`usage_bucket` a device's or watcher's source and `usage_interval` its intervals as stored,
AFK periods included (the `afkstatus` buckets'), each bucket's earliest first;
`category_rule` the category rules in force (aw-webui's defaults until the account changed
them); `editor_settings` and `editor_heartbeat` editor time as WakaTime clients sent it.

`?format=csv` gives a ZIP instead, with one CSV per kind (`{{kind}}.csv`, a header line even
when there are no records; lists and objects are JSON in their cells).

Needs a device session: no API key can export the account."""

IMPORT_DOC = f"""Stores an export (the JSON Lines of `GET /users/me/export`, as the body, read as
it arrives) in this account: all of it, or nothing.

Records come grouped by kind in the export's order ({KIND_NAMES}); the header line is optional.
Each is validated as the API validates what it stores (the same request models and rules: a
night at most 24 hours long and not in the future, no overlapping nights or intervals of one
bucket, at most 500 category rules...). The first invalid line is a 422 `invalid-line` naming
it (`line` and `kind` in the body, and the fields in `errors`); lines are at most
{LINE_LIMIT // 2**20} MiB, the body at most {IMPORT_BODY_LIMIT // 2**30} GiB (413). A body
without records is a 422 too.

A kind is brought only into an account that has none of it: follows, sleep nights, focus
sessions, usage buckets and intervals, changed category rules (aw-webui's defaults are
replaced) or editor heartbeats already there are a 409 `account-not-empty`; so are blocks and
pending requests. The profile's name, timezone and visibility and the editor settings are
applied; its email stays the account's own. API keys are not recreated (an export has no
secrets), nor are followers and received requests (their act). Blocks are recreated where the
other account still exists; follows, since their time, where it still exists, is public and no
block stands between (a private account approved the exported account, not this one); pending
requests are made again to private accounts, and are follows of public ones.

Answers 200 with the records stored and skipped, by kind. Needs a device session."""


def _download(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.get(
    "/me/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The export, as JSON Lines or as a ZIP of CSVs.",
            "content": {NDJSON: {}, "application/zip": {}},
        },
        **problem_doc(422),
    },
    summary="Export everything the account owns",
    description=EXPORT_DOC,
)
async def export(
    request: Request,
    principal: SessionUser,
    format: Annotated[
        Literal["ndjson", "csv"],
        Query(description="`ndjson` (JSON Lines, the default) or `csv` (a ZIP of CSVs)."),
    ] = "ndjson",
) -> StreamingResponse:
    resources = shared(request, Resources)
    user_id = principal.id
    day = datetime.now(UTC).date().isoformat()
    write = service.export_zip if format == "csv" else service.export_lines

    async def pieces(session: AsyncSession) -> AsyncIterator[bytes]:
        await service.snapshot(session)
        async for piece in write(session, user_id):
            yield piece

    # The response's own session (the request's ends before a streamed body), on a replica
    # that has the account's last write when one fits (platform.replicas).
    def body() -> AsyncIterator[bytes]:
        return resources.read_stream(pieces, writer=user_id)

    if format == "csv":
        return StreamingResponse(
            body(), media_type="application/zip", headers=_download(f"rhythm-export-{day}.zip")
        )
    return StreamingResponse(
        body(), media_type=NDJSON, headers=_download(f"rhythm-export-{day}.ndjson")
    )


@router.post(
    "/me/import",
    response_model=ImportSummary,
    responses=problem_doc(409, 422),
    summary="Import an export into this account",
    description=IMPORT_DOC,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {NDJSON: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_(request: Request, principal: SessionUser, db: DbSession) -> ImportSummary:
    settings = shared(request, Settings)
    to = Restoring(
        session=db,
        user_id=principal.id,
        timezone=principal.timezone,
        redis=shared(request, Resources).redis,
        auth=shared(request, AuthCache),
        feeds=shared(request, FeedCache),
        standings=shared(request, Standings),
        focus_threshold_minutes=settings.focus_qualify_minutes,
    )
    return await service.import_records(to, request.stream())
