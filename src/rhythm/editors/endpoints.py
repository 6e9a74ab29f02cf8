"""WakaTime's API for wakatime-cli and the editor plugins (`compat_router`, mounted at
/api/compat/wakatime/v1), and the editor settings and time summary under /api/v1/editors
(`router`), which a device session (the dashboard) may call as well as an API key."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Header, Path, Query, Request, status
from pydantic import ValidationError

from rhythm.editors import service
from rhythm.editors.durations import DayTotals
from rhythm.editors.schemas import (
    MAX_BULK,
    MAX_RANGE_DAYS,
    MAX_SUMMARY_ITEMS,
    AllTime,
    AllTimeData,
    AllTimeRange,
    BulkResponses,
    CumulativeTotal,
    DailyAverage,
    DayRange,
    DaySummary,
    EditorSettingsOut,
    EditorSettingsUpdate,
    EditorSummary,
    EditorTime,
    GrandTotal,
    HeartbeatCreated,
    HeartbeatData,
    ProjectOut,
    Projects,
    StatusBar,
    Summaries,
    SummaryItem,
    WakaHeartbeatIn,
    check_machine,
    digital,
    duration_text,
)
from rhythm.identity.dependencies import (
    ApiKeyHeartbeatUser,
    ApiKeyReader,
    ReadUser,
    WriteUser,
    admit_heartbeats,
)
from rhythm.identity.principal import Principal
from rhythm.platform.bounds import DATE_DOC
from rhythm.platform.errors import FieldError, NotFound, RhythmError, Unprocessable
from rhythm.platform.http.dependencies import DbSession
from rhythm.platform.http.problems import problem_doc
from rhythm.platform.schemas import IsoDate
from rhythm.platform.timeutil import local_date, utc_now
from rhythm.platform.timezones import TimeZoneName

COMPAT_PREFIX = "/api/compat/wakatime/v1"

compat_router = APIRouter(
    prefix=COMPAT_PREFIX, tags=["wakatime"], responses=problem_doc(400, 401, 404, 429)
)
router = APIRouter(prefix="/editors", tags=["editors"], responses=problem_doc(401, 429))

UserRef = Annotated[
    str,
    Path(
        max_length=64,
        description="`current`, or your own user id; any other user's: 404.",
    ),
]
MachineHeader = Annotated[
    str | None,
    Header(
        alias="X-Machine-Name",
        max_length=256,
        description="The machine's name, as wakatime-cli sends it; reported as `machines`.",
    ),
]
UserAgentHeader = Annotated[str | None, Header(alias="User-Agent", include_in_schema=False)]
DayParam = Annotated[
    str,
    Query(
        max_length=10,
        pattern=r"^(?:(?i:today|yesterday)|[0-9]{4}-[0-9]{2}-[0-9]{2})$",
        description="YYYY-MM-DD, `today` or `yesterday`, in the time zone's days.",
    ),
]


class InvalidHeartbeat(RhythmError):
    status = 400
    slug = "invalid-heartbeat"
    title = "Invalid heartbeat"


def _own(user_id: str, principal: Principal) -> None:
    if user_id != "current" and user_id != str(principal.id):
        raise NotFound("No such user.")


def _machine(value: str | None) -> str | None:
    try:
        return check_machine(value)
    except ValueError as exc:
        raise InvalidHeartbeat(
            f"X-Machine-Name {exc}.",
            errors=[FieldError(field="header.X-Machine-Name", message=str(exc))],
        ) from exc


def _field_errors(exc: ValidationError, prefix: str) -> list[FieldError]:
    return [
        FieldError(field=".".join([prefix, *(str(p) for p in error["loc"])]), message=error["msg"])
        for error in exc.errors(include_url=False)
    ]


def _data(stored: service.Stored, sent: float) -> HeartbeatData:
    row = stored.row
    return HeartbeatData(
        id=str(stored.id),
        entity=row["entity"],
        type=row["type"],
        category=row["category"],
        time=sent,
        project=row["project"],
        branch=row["branch"],
        language=row["language"],
        is_write=row["is_write"],
        lines=row["lines"],
        lineno=row["lineno"],
        cursorpos=row["cursorpos"],
        user_agent=row["user_agent"],
        machine_name=row["machine"],
    )


@compat_router.post(
    "/users/{user_id}/heartbeats",
    status_code=status.HTTP_201_CREATED,
    response_model=HeartbeatCreated,
    responses=problem_doc(422),
    summary="Send one heartbeat (WakaTime's API)",
    description="Stored once: an exact replay (same fields, same machine) changes nothing.",
)
async def post_heartbeat(
    user_id: UserRef,
    body: WakaHeartbeatIn,
    principal: ApiKeyHeartbeatUser,
    db: DbSession,
    machine: MachineHeader = None,
    user_agent: UserAgentHeader = None,
) -> HeartbeatCreated:
    _own(user_id, principal)
    stored = service.prepare(principal.id, body, _machine(machine), user_agent)
    await service.store(db, [stored])
    return HeartbeatCreated(data=_data(stored, body.time))


@compat_router.post(
    "/users/{user_id}/heartbeats.bulk",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BulkResponses,
    responses=problem_doc(422),
    summary=f"Send up to {MAX_BULK:,} heartbeats (WakaTime's API)",
    description="Each heartbeat is checked on its own: the answer has one `[body, status]` "
    "pair per heartbeat, in order, 201 for each stored (or already stored) and 400 for each "
    "refused, as api.wakatime.com answers. The items are WakaTime heartbeats "
    "(`POST .../heartbeats`). A body that is not a list, or longer, is a 422.",
)
async def post_heartbeats_bulk(
    user_id: UserRef,
    body: Annotated[list[dict[str, Any]], Body(min_length=1, max_length=MAX_BULK)],
    principal: ApiKeyHeartbeatUser,
    request: Request,
    db: DbSession,
    machine: MachineHeader = None,
    user_agent: UserAgentHeader = None,
) -> BulkResponses:
    _own(user_id, principal)
    await admit_heartbeats(request, principal, len(body) - 1)
    host = _machine(machine)
    responses: list[tuple[dict[str, Any], int]] = []
    accepted: list[service.Stored] = []
    for index, item in enumerate(body):
        try:
            beat = WakaHeartbeatIn.model_validate(item)
        except ValidationError as exc:
            errors = _field_errors(exc, str(index))
            responses.append(
                (
                    {
                        "error": "; ".join(f"{e.field}: {e.message}" for e in errors),
                        "errors": [e.model_dump() for e in errors],
                    },
                    400,
                )
            )
            continue
        stored = service.prepare(principal.id, beat, host, user_agent)
        accepted.append(stored)
        responses.append(({"data": _data(stored, beat.time).model_dump()}, 201))
    await service.store(db, accepted)
    return BulkResponses(responses=responses)


# Reads -----------------------------------------------------------------------------------------


def _ranked(counter: Mapping[str | None, float]) -> list[tuple[str, float]]:
    """(name, seconds) with time, most first; time sent with no name is `Unknown`'s."""
    named: defaultdict[str, float] = defaultdict(float)
    for name, seconds in counter.items():
        named[name or "Unknown"] += seconds
    ordered = sorted(named.items(), key=lambda item: (-item[1], item[0]))
    return [(name, seconds) for name, seconds in ordered if seconds > 0]


def _items(counter: Mapping[str | None, float], whole: float) -> list[SummaryItem]:
    return [SummaryItem.of(name, seconds, whole) for name, seconds in _ranked(counter)]


def _category(name: str) -> str:
    return name[:1].upper() + name[1:]


def _day_summary(
    totals: DayTotals, span: service.DaySpan, zone: str, today: date, detail: bool
) -> DaySummary:
    whole = totals.total
    by = totals.by
    categories: dict[str | None, float] = {
        _category(k or "coding"): v for k, v in by["category"].items()
    }
    if span.day == today:
        text = "Today"
    elif span.day == today - timedelta(days=1):
        text = "Yesterday"
    else:
        text = span.day.strftime("%a %b %d %Y")
    return DaySummary(
        grand_total=GrandTotal.of(whole),
        categories=_items(categories, whole),
        projects=_items(by["project"], whole),
        languages=_items(by["language"], whole),
        editors=_items(by["editor"], whole),
        operating_systems=_items(by["operating_system"], whole),
        machines=_items(by["machine"], whole),
        dependencies=[],
        branches=_items(by["branch"], whole) if detail else None,
        entities=_items(by["entity"], whole) if detail else None,
        range=DayRange(date=span.day, start=span.start, end=span.end, text=text, timezone=zone),
    )


def _day(value: str, today: date, field: str) -> date:
    lowered = value.lower()
    if lowered == "today":
        return today
    if lowered == "yesterday":
        return today - timedelta(days=1)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise Unprocessable(f"{value!r} is not a date.", field=field) from exc


@compat_router.get(
    "/users/{user_id}/statusbar/today",
    response_model=StatusBar,
    response_model_exclude_none=True,
    summary="Today's editor time, for status bars (WakaTime's API)",
)
async def statusbar_today(
    user_id: UserRef,
    principal: ApiKeyReader,
    db: DbSession,
    timezone: Annotated[TimeZoneName | None, Query()] = None,
) -> StatusBar:
    _own(user_id, principal)
    zone = timezone or principal.timezone
    now = utc_now()
    today = local_date(now, zone)
    spans = service.day_spans(today, today, zone)
    (totals,), _ = await service.daily_totals(db, principal.id, spans)
    return StatusBar(data=_day_summary(totals, spans[0], zone, today, False), cached_at=now)


@compat_router.get(
    "/users/{user_id}/summaries",
    response_model=Summaries,
    response_model_exclude_none=True,
    responses=problem_doc(422),
    summary="Editor time per day (WakaTime's summaries)",
    description=f"`start` to `end`, both included, at most {MAX_RANGE_DAYS} days, in the days "
    "of `timezone` (default: your profile's). With `project`, only that project's time, with "
    "its `branches` and `entities`.",
)
async def summaries(
    user_id: UserRef,
    principal: ApiKeyReader,
    db: DbSession,
    start: DayParam,
    end: DayParam,
    project: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    timezone: Annotated[TimeZoneName | None, Query()] = None,
) -> Summaries:
    _own(user_id, principal)
    zone = timezone or principal.timezone
    today = local_date(utc_now(), zone)
    first, last = _day(start, today, "query.start"), _day(end, today, "query.end")
    if not (date(1970, 1, 1) <= first and last <= date(2199, 12, 31)):
        raise Unprocessable("Dates lie from 1970-01-01 to 2199-12-31.", field="query.start")
    spans = service.day_spans(first, last, zone)
    days, _ = await service.daily_totals(db, principal.id, spans, project)
    data = [
        _day_summary(t, s, zone, today, project is not None)
        for t, s in zip(days, spans, strict=True)
    ]
    seconds = sum(t.total for t in days)
    average = seconds / len(days)
    return Summaries(
        data=data,
        start=spans[0].start,
        end=spans[-1].end,
        cumulative_total=CumulativeTotal(
            seconds=round(seconds, 3),
            text=duration_text(seconds),
            decimal=f"{seconds / 3600:.2f}",
            digital=digital(seconds),
        ),
        daily_average=DailyAverage(
            holidays=0,
            days_including_holidays=len(days),
            days_minus_holidays=len(days),
            seconds=round(average, 3),
            text=duration_text(average),
            seconds_including_other_language=round(average, 3),
            text_including_other_language=duration_text(average),
        ),
    )


@compat_router.get(
    "/users/{user_id}/all_time_since_today",
    response_model=AllTime,
    summary="All editor time until today's start (WakaTime's API)",
)
async def all_time_since_today(user_id: UserRef, principal: ApiKeyReader, db: DbSession) -> AllTime:
    _own(user_id, principal)
    zone = principal.timezone
    today = local_date(utc_now(), zone)
    (span,) = service.day_spans(today, today, zone)
    seconds, first, minutes = await service.all_time(db, principal.id, span.start)
    first_day = local_date(first, zone) if first is not None else None
    return AllTime(
        data=AllTimeData(
            total_seconds=round(seconds, 3),
            text=duration_text(seconds),
            decimal=f"{seconds / 3600:.2f}",
            digital=digital(seconds),
            is_up_to_date=True,
            percent_calculated=100,
            range=AllTimeRange(
                start=first,
                start_date=first_day,
                start_text=first_day.strftime("%a %b %d %Y") if first_day else None,
                end=span.start,
                end_date=today,
                end_text="Today",
                timezone=zone,
            ),
            timeout=minutes,
        )
    )


@compat_router.get(
    "/users/{user_id}/projects",
    response_model=Projects,
    summary=f"Your projects, the latest used first (at most {service.MAX_PROJECTS:,})",
)
async def projects(user_id: UserRef, principal: ApiKeyReader, db: DbSession) -> Projects:
    _own(user_id, principal)
    rows = await service.projects(db, principal.id)
    return Projects(
        data=[
            ProjectOut(
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"rhythm:{principal.id}:{name}")),
                name=name,
                urlencoded_name=quote(name, safe=""),
                created_at=first,
                last_heartbeat_at=last,
            )
            for name, first, last in rows
        ]
    )


# Settings under /api/v1 ------------------------------------------------------------------------


@router.get("/settings", response_model=EditorSettingsOut, summary="Your editor settings")
async def get_settings(principal: ReadUser, db: DbSession) -> EditorSettingsOut:
    return EditorSettingsOut(timeout_minutes=await service.timeout_minutes(db, principal.id))


@router.put(
    "/settings",
    response_model=EditorSettingsOut,
    responses=problem_doc(422),
    summary="Change your editor settings",
    description="`timeout_minutes` (default 15): heartbeats less than this many minutes apart "
    "join into one duration. It applies at once to every report, past days included.",
)
async def put_settings(
    body: EditorSettingsUpdate, principal: WriteUser, db: DbSession
) -> EditorSettingsOut:
    await service.set_timeout_minutes(db, principal.id, body.timeout_minutes)
    return EditorSettingsOut(timeout_minutes=body.timeout_minutes)


def _times(counter: Mapping[str | None, float]) -> list[EditorTime]:
    return [
        EditorTime(name=name, seconds=round(seconds, 3))
        for name, seconds in _ranked(counter)[:MAX_SUMMARY_ITEMS]
    ]


@router.get(
    "/summary",
    response_model=EditorSummary,
    responses=problem_doc(422),
    summary="Your editor time from one local day to another, by project and language",
    description=f"`from` to `to`, both included, at most {MAX_RANGE_DAYS} days, in the days of "
    "`timezone` (default: your profile's). The time WakaTime's summaries give for those days "
    "(heartbeats less than your `timeout_minutes` apart join), summed over the range.",
)
async def summary(
    principal: ReadUser,
    db: DbSession,
    first: Annotated[IsoDate, Query(alias="from", description=DATE_DOC)],
    last: Annotated[IsoDate, Query(alias="to", description=DATE_DOC)],
    timezone: Annotated[TimeZoneName | None, Query()] = None,
) -> EditorSummary:
    zone = timezone or principal.timezone
    spans = service.day_spans(first, last, zone, ("from", "to"))
    totals = await service.range_totals(db, principal.id, spans)
    return EditorSummary.model_validate(
        {
            "from": first,
            "to": last,
            "timezone": zone,
            "total_seconds": round(totals.total, 3),
            "projects": _times(totals.by["project"]),
            "languages": _times(totals.by["language"]),
        }
    )
