"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
import math
import time

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from rhythm.platform.errors import Unauthorized
from rhythm.platform.http.problems import problem_doc, problem_response
from rhythm.platform.http.shared import shared
from rhythm.platform.observability import metrics_payload
from rhythm.platform.resources import Resources
from rhythm.platform.settings import Settings

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
    async with shared(request, Resources).engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check_redis(request: Request) -> None:
    await shared(request, Resources).redis.ping()


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


class JobCounts:
    """procrastinate's jobs counted by task and status, for /metrics.

    Counted at most once every `max_age` seconds per process and served from memory in between,
    so scraping (or a stranger calling /metrics) costs no query; a scrape during a refresh gets
    the previous counts.
    """

    def __init__(self, engine: AsyncEngine, max_age: float = 15.0) -> None:
        self.engine = engine
        self.max_age = max_age
        self.counts: list[tuple[str, str, int]] = []
        self.counted_at = -math.inf
        self.refreshing = asyncio.Lock()

    async def current(self) -> list[tuple[str, str, int]]:
        if time.monotonic() - self.counted_at < self.max_age or self.refreshing.locked():
            return self.counts
        async with self.refreshing:
            try:
                async with self.engine.connect() as conn:
                    rows = await asyncio.wait_for(
                        conn.execute(
                            text(
                                "SELECT task_name, status::text, count(*)"
                                " FROM procrastinate_jobs GROUP BY 1, 2"
                            )
                        ),
                        CHECK_TIMEOUT,
                    )
                    self.counts = [(r[0], r[1], int(r[2])) for r in rows]
            except Exception:
                self.counts = []
            self.counted_at = time.monotonic()
        return self.counts


def _require_metrics_token(request: Request) -> None:
    token = shared(request, Settings).metrics_token
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected):
        raise Unauthorized("/metrics needs Authorization: Bearer <RHYTHM_METRICS_TOKEN>.")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Not meant to be public. With RHYTHM_METRICS_TOKEN set, it answers only "
    "`Authorization: Bearer <token>`. Job counts are at most 15 seconds old.",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"},
        **problem_doc(401),
    },
    dependencies=[Depends(_require_metrics_token)],
)
async def metrics(request: Request) -> Response:
    payload, content_type = metrics_payload(await shared(request, JobCounts).current())
    return Response(payload, media_type=content_type)
