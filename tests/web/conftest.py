"""Fixtures of the browser tests: the real server (tests/conftest.py's live_server) and Debian's
Chromium, driven by Playwright. Without Chromium these tests are skipped with a message saying
how to get it; CI (.ci/run) installs it, so there they always run."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from tests.web.browser import DESKTOP, FLAGS, chromium

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    path = chromium()
    if path is None and os.environ.get("RHYTHM_REQUIRE_BROWSER") == "1":
        pytest.fail("RHYTHM_REQUIRE_BROWSER=1 (CI) but no Chromium was found at /usr/bin/chromium")
    if path is None:
        pytest.skip(
            "The browser tests need Debian's Chromium at /usr/bin/chromium "
            "(apt-get install chromium), or RHYTHM_CHROMIUM naming one; .ci/run installs it."
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=path, headless=True, args=FLAGS)
        yield launched
        await launched.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    made = await browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id="Europe/Paris")
    made.set_default_timeout(15_000)
    yield made
    await made.close()


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    """A page whose script errors fail the test."""
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("console", lambda message: errors.append(message.text) if _fault(message) else None)
    yield opened
    assert errors == [], errors


def _fault(message: ConsoleMessage) -> bool:
    # An answered 4xx is logged by Chromium as "Failed to load resource": the pages handle
    # those (a refresh on 401, a readable message otherwise); anything else is a fault.
    return message.type == "error" and not message.text.startswith("Failed to load resource")


@pytest.fixture(scope="session")
def screenshot_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/screenshots when RHYTHM_SCREENSHOTS=1 (`make screenshots`), else a temporary one."""
    if os.environ.get("RHYTHM_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
async def http(live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client of the live server, beside the browser."""
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as client:
        yield client
