"""The real browser of the dashboard's tests: Debian's Chromium driven by Playwright, never a
downloaded one, and what the tests measure in it (axe-core's findings, layout shift, bytes
transferred, load time, screenshots)."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import BrowserContext, Page

HERE = Path(__file__).parent
AXE = (HERE / "vendor" / "axe.min.js").read_text()
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# The launch flags; Playwright adds a fresh --user-data-dir of its own to every launch.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
PASSWORD = "browser-password-123"


def chromium() -> str | None:
    explicit = os.environ.get("RHYTHM_CHROMIUM")
    if explicit:
        return explicit
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def new_email(prefix: str = "web") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def register(page: Page, base: str, name: str = "Ada", email: str | None = None) -> str:
    """Create an account through the sign-in page; the browser ends on Today. Its email."""
    email = email or new_email()
    await page.goto(base + "/signin")
    await page.get_by_role("button", name="Create an account").click()
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await page.wait_for_url(base + "/")
    return email


async def sign_in(page: Page, base: str, email: str, next_path: str = "/") -> None:
    await page.goto(f"{base}/signin?next={next_path}")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(base + next_path)


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    await page.evaluate(AXE)
    result = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    return list(result)


OBSERVE_SHIFTS = """
window.__cls = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value;
}).observe({type: 'layout-shift', buffered: true});
"""


async def load_figures(page: Page) -> dict[str, float]:
    """The page's first load as the browser saw it: milliseconds to the load event and until
    the network went idle, bytes transferred for scripts and styles (compressed, as sent),
    and the cumulative layout shift."""
    await page.evaluate(OBSERVE_SHIFTS)
    await page.wait_for_timeout(300)
    figures = await page.evaluate(
        """() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const resources = performance.getEntriesByType('resource');
      const assets = resources.filter(r => r.initiatorType === 'script' || r.initiatorType ===
        'link' || r.initiatorType === 'other' || /\\.(m?js|css)$/.test(r.name))
        .filter(r => /\\.(m?js|css)$/.test(r.name));
      const last = Math.max(nav.loadEventEnd, ...resources.map(r => r.responseEnd));
      return {
        load_ms: nav.loadEventEnd - nav.startTime,
        settled_ms: last - nav.startTime,
        asset_bytes: assets.reduce((n, r) => n + (r.encodedBodySize || 0), 0),
        cls: window.__cls,
      };
    }"""
    )
    return {k: float(v) for k, v in figures.items()}


def record_figures(name: str, figures: dict[str, float]) -> None:
    """Append a page's figures to RHYTHM_WEB_FIGURES (JSON lines), when it is set."""
    target = os.environ.get("RHYTHM_WEB_FIGURES")
    if target:
        with open(target, "a") as out:
            out.write(json.dumps({"page": name, **figures}) + "\n")


async def screenshots(page: Page, name: str, folder: Path) -> list[Path]:
    """The page at 1280x800 and at 375x812 (full page), into `folder` (which exists)."""
    taken = []
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await page.wait_for_timeout(150)
        path = folder / f"{name}-{label}.png"
        await page.screenshot(path=str(path), full_page=True)
        taken.append(path)
    await page.set_viewport_size(DESKTOP)
    return taken


@asynccontextmanager
async def as_browser(context: BrowserContext, base: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client holding the browser's session cookies and its CSRF header."""
    cookies = {c["name"]: c["value"] for c in await context.cookies()}
    async with httpx.AsyncClient(
        base_url=base,
        cookies=cookies,
        headers={"X-CSRF-Token": cookies["rhythm_csrf"]},
        timeout=30,
    ) as client:
        yield client


async def api_account(
    http: httpx.AsyncClient, name: str, timezone: str = "Europe/Paris"
) -> tuple[str, dict[str, str]]:
    """Another person, registered through the API (not the browser): their user id and the
    bearer header that acts as them."""
    answer = await http.post(
        "/api/v1/auth/register",
        json={"email": new_email(), "password": PASSWORD, "name": name, "timezone": timezone},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["user"]["id"], {"Authorization": f"Bearer {body['access_token']}"}
