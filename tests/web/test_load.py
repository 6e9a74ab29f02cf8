"""Every page's first load with a year of data, in the browser: no layout shift (CLS under 0.1),
scripts and styles under 300 KB as transferred, no serious accessibility finding; the load
times are recorded (RHYTHM_WEB_FIGURES, docs/benchmarks.md), not asserted.

The year: a night, a focus session and a day of screen time (48 heartbeats on two devices)
for each of 365 days, and five people followed, each with eight weeks of nights.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from rhythm.web.pages import PAGES
from tests.web.browser import (
    DESKTOP,
    PASSWORD,
    PHONE,
    axe_violations,
    load_figures,
    new_email,
    record_figures,
    sign_in,
)

DAYS = 365
ZONE = "Europe/Paris"
FRIEND_DAYS = 56  # what the pages show of others: weekly rankings, last night
CLS_LIMIT = 0.1
ASSET_BUDGET = 300 * 1024


async def account(http: httpx.AsyncClient, name: str) -> tuple[str, dict[str, str], str]:
    """A new account: (email, bearer headers, user id)."""
    email = new_email("year")
    made = await http.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "name": name, "timezone": ZONE},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    return email, {"Authorization": f"Bearer {body['access_token']}"}, body["user"]["id"]


async def together(calls: list[Coroutine[Any, Any, httpx.Response]], ok: set[int]) -> None:
    """The requests, eight at a time; each must answer one of `ok`."""
    for start in range(0, len(calls), 8):
        for sent in await asyncio.gather(*calls[start : start + 8]):
            assert sent.status_code in ok, sent.text


async def nights(
    http: httpx.AsyncClient, headers: dict[str, str], today: datetime, days: int = DAYS
) -> None:
    calls = []
    for day in range(1, days + 1):
        bed = today - timedelta(days=day, hours=1, minutes=day % 50)
        wake = bed + timedelta(hours=7, minutes=(day * 7) % 90)
        body = {"sleep_at": bed.isoformat(), "wake_at": wake.isoformat()}
        calls.append(http.post("/api/v1/sleep/records", json=body, headers=headers))
    await together(calls, {201})


async def focus(http: httpx.AsyncClient, headers: dict[str, str], today: datetime) -> None:
    calls = []
    for day in range(0, DAYS):
        start = today - timedelta(days=day) + timedelta(hours=9)
        if start > datetime.now(UTC):
            continue
        body = {
            "session_id": str(uuid.uuid4()),
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(minutes=20 + day % 40)).isoformat(),
            "timezone": ZONE,
        }
        calls.append(http.post("/api/v1/focus/sessions", json=body, headers=headers))
    await together(calls, {200, 201})


async def screen_time(http: httpx.AsyncClient, headers: dict[str, str], today: datetime) -> None:
    apps = ("code", "Firefox", "Slack", "kitty", "Thunderbird", "Spotify")
    batch: list[dict[str, Any]] = []
    for day in range(0, DAYS):
        start = today - timedelta(days=day) + timedelta(hours=8)
        for i in range(48):
            at = start + timedelta(minutes=10 * i)
            if at > datetime.now(UTC):
                break
            batch.append(
                {
                    "timestamp": at.isoformat(),
                    "duration": 540.0,
                    "app": apps[(i + day) % len(apps)],
                    "title": f"document {i % 7}",
                    "source": ("laptop", "desktop")[i % 2],
                }
            )
        if len(batch) >= 900 or day == DAYS - 1:
            sent = await http.post("/api/v1/usage/heartbeats/bulk", json=batch, headers=headers)
            assert sent.status_code in (200, 202), sent.text
            batch = []


@pytest.fixture(scope="module")
async def year(live_server: str) -> str:
    """The email of an account with a year of data, following five people with theirs."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    async with httpx.AsyncClient(base_url=live_server, timeout=120) as http:
        email, headers, _ = await account(http, "Year")
        await nights(http, headers, today)
        await focus(http, headers, today)
        await screen_time(http, headers, today)
        for n in range(5):
            _, theirs, friend = await account(http, f"Friend {n}")
            await nights(http, theirs, today, FRIEND_DAYS)
            followed = await http.put(f"/api/v1/users/me/following/{friend}", headers=headers)
            assert followed.status_code in (200, 201, 204), followed.text
    return email


@pytest.mark.parametrize("size", ["desktop", "phone"])
# The sign-in page, which reads no data, is the baseline the others are compared with.
@pytest.mark.parametrize("page_path", [page.path for page in PAGES])
async def test_first_load_with_a_year_of_data(
    live_server: str, browser: Browser, year: str, page_path: str, size: str
) -> None:
    signing = await browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id=ZONE)
    await sign_in(await signing.new_page(), live_server, year)
    state = await signing.storage_state()
    await signing.close()
    # A cold cache, signed in: a new context holding only the session cookies.
    context = await browser.new_context(
        viewport=DESKTOP if size == "desktop" else PHONE,
        locale="en-GB",
        timezone_id=ZONE,
        storage_state=state,
    )
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(live_server + page_path, wait_until="networkidle")
        figures = await load_figures(page)
        name = next(p.name for p in PAGES if p.path == page_path)
        record_figures(f"{name} ({size})", figures)
        assert errors == []
        assert "Loading…" not in await page.locator("#app").inner_text()
        assert await page.locator("h1").inner_text() != ""
        assert figures["cls"] < CLS_LIMIT, figures
        assert 0 < figures["asset_bytes"] < ASSET_BUDGET, figures
        assert await axe_violations(page) == []
    finally:
        await context.close()
