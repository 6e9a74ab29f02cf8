"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from rhythm.errors import problem_doc, problem_response
from rhythm.observability import metrics_payload

router = APIRouter(tags=["health"])

CHECK_TIMEOUT = 2.0


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/health", response_model=Health, summary="Liveness; touches no dependency")
async def health() -> Health:
    return Health(status="ok")


async def _check_postgres(request: Request) -> None:
    async with request.app.state.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check_redis(request: Request) -> None:
    await request.app.state.redis.ping()


@router.get(
    "/ready",
    response_model=Readiness,
    responses=problem_doc(503),
    summary="Readiness: PostgreSQL and Redis answer",
)
async def ready(request: Request) -> Response:
    checks: dict[str, str] = {}
    for name, check in (("postgres", _check_postgres), ("redis", _check_redis)):
        try:
            await asyncio.wait_for(check(request), CHECK_TIMEOUT)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"failing: {type(exc).__name__}"
    failing = [name for name, state in checks.items() if state != "ok"]
    if failing:
        return problem_response(
            503,
            slug="not-ready",
            title="Not ready",
            detail="Unavailable: "
            + ", ".join(f"{name} ({checks[name].removeprefix('failing: ')})" for name in failing)
            + ".",
            headers={"Retry-After": "2"},
            extra={"checks": checks},
        )
    return JSONResponse({"status": "ok", "checks": checks})


async def _job_counts(request: Request) -> list[tuple[str, str, int]]:
    try:
        async with request.app.state.engine.connect() as conn:
            rows = await asyncio.wait_for(
                conn.execute(
                    text(
                        "SELECT task_name, status::text, count(*) FROM procrastinate_jobs"
                        " GROUP BY 1, 2"
                    )
                ),
                CHECK_TIMEOUT,
            )
            return [(r[0], r[1], int(r[2])) for r in rows]
    except Exception:
        return []


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}},
)
async def metrics(request: Request) -> Response:
    payload, content_type = metrics_payload(await _job_counts(request))
    return Response(payload, media_type=content_type)
