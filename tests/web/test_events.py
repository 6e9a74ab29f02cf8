"""The events page in a real browser: the catalog, synced from the provider's feed by the
operator's command (`rhythm catalog sync --file`), searched by date range, with each event's
price range; a reversed range reads as a message."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, expect

from rhythm.platform.settings import Settings
from tests.catalog.test_cli import rhythm
from tests.web.browser import PHONE, axe_violations, register, screenshots

# The provider's real responses, as tests/catalog syncs them.
DASH = "\u2013"  # the en dash of ranges, as the page writes them
FEED = Path(__file__).resolve().parents[1] / "catalog" / "samples" / "provider_response_1.xml"


async def test_search_events_and_see_their_price_ranges(
    settings: Settings, live_server: str, page: Page, screenshot_folder: Path
) -> None:
    synced = rhythm(settings, "catalog", "sync", "--file", str(FEED))
    assert synced.returncode == 0, synced.stderr
    await register(page, live_server)
    await page.goto(live_server + "/events")
    results = page.locator("#events-results")
    # The whole catalog first: the feed's three events online.
    await expect(results.get_by_role("heading", name="Camela en concierto")).to_be_visible()
    await expect(results.get_by_role("heading", name="Los Morancos")).to_be_visible()

    # Only the summer of 2021: Pantomima Full (10 Feb) is out.
    await page.get_by_label("From", exact=True).fill("2021-06-01")
    await page.get_by_label("To", exact=True).fill("2021-07-31")
    await page.get_by_role("button", name="Search").click()
    await expect(results.get_by_role("heading", name="Pantomima Full")).to_have_count(0)
    camela = results.locator("li.event").filter(has_text="Camela en concierto")
    # Zones at 20.00, 15.00 and 30.00: the range is the lowest to the highest.
    await expect(camela.locator(".price")).to_have_text(f"Price range 15.00{DASH}30.00")
    await expect(camela.get_by_role("row").nth(1)).to_contain_text(
        f"Wed 30 Jun 2021, 21:00{DASH}22:00"
    )
    await expect(camela.get_by_role("row").nth(1)).to_contain_text("Platea, Grada 2, A28")
    morancos = results.locator("li.event").filter(has_text="Los Morancos")
    await expect(morancos.locator(".price")).to_have_text(f"Price range 65.00{DASH}75.00")
    await expect(results.get_by_role("status")).to_contain_text("2 events")

    # One day, the last of the range included.
    await page.get_by_label("From", exact=True).fill("2021-07-31")
    await page.get_by_role("button", name="Search").click()
    await expect(results.locator("li.event")).to_have_count(1)
    await expect(results.get_by_role("heading", name="Los Morancos")).to_be_visible()

    assert await axe_violations(page) == []
    taken = await screenshots(page, "events", screenshot_folder)
    assert all(path.stat().st_size > 0 for path in taken)
    await page.set_viewport_size(PHONE)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


async def test_a_reversed_range_reads_as_a_message(live_server: str, page: Page) -> None:
    await register(page, live_server)
    await page.goto(live_server + "/events")
    await page.get_by_label("From", exact=True).fill("2022-01-02")
    await page.get_by_label("To", exact=True).fill("2022-01-01")
    await page.get_by_role("button", name="Search").click()
    alert = page.locator("#events-results").get_by_role("alert")
    await expect(alert).to_contain_text("Could not search the events")
    await expect(alert).to_contain_text("starts_at is after ends_at")
    assert "{" not in await alert.inner_text()
    assert await axe_violations(page) == []
