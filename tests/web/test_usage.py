"""The Screen time page in a real browser: heartbeats sent with an API key show up in the day's
timeline (with the AFK period), in the top apps, domains and categories, and editor time by
project and language; the date and time zone are chosen; category rules are added, edited and
deleted, and a bad pattern or zone reads as a message."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import BrowserContext, Page, expect

from tests.web.browser import PHONE, as_browser, axe_violations, register, screenshots

PARIS = ZoneInfo("Europe/Paris")  # the browser's zone (conftest), so the account's


async def seed(base: str, context: BrowserContext, day: date) -> None:
    """On `day` (Paris): Quillwright 10:00-10:30 and a terminal 10:30-10:40 on the laptop,
    which is away from 10:40 to 11:00; then ten minutes of Python in the rhythm project."""
    async with as_browser(context, base) as client:
        made = await client.post("/api/v1/auth/api-keys", json={"name": "laptop"})
        assert made.status_code == 201, made.text
        key = {"Authorization": f"Bearer {made.json()['key']}"}
        ten = datetime.combine(day, datetime.min.time(), PARIS) + timedelta(hours=10)

        def window(at: datetime, seconds: int, **data: Any) -> dict[str, Any]:
            return {
                "timestamp": at.isoformat(),
                "duration": seconds,
                "source": "laptop-window",
                "host": "laptop",
                **data,
            }

        beats = [
            window(
                ten,
                1800,
                app="Quillwright",
                title="Chapter one",
                url="https://docs.rhythm.example/guide",
            ),
            window(ten + timedelta(minutes=30), 600, app="Terminal", title="make test"),
        ]
        sent = await client.post("/api/v1/usage/heartbeats/bulk", json=beats, headers=key)
        assert sent.status_code == 202, sent.text
        for start, seconds, status in (
            (ten, 2400, "not-afk"),
            (ten + timedelta(minutes=40), 1200, "afk"),
        ):
            afk = {
                "timestamp": start.isoformat(),
                "duration": seconds,
                "status": status,
                "host": "laptop",
            }
            sent = await client.post("/api/v1/usage/afk", json=afk, headers=key)
            assert sent.status_code == 202, sent.text
        eleven = (ten + timedelta(hours=1)).timestamp()
        editor = [
            {
                "entity": "/src/app.py",
                "time": eleven + 60 * i,
                "project": "rhythm",
                "language": "Python",
            }
            for i in range(11)
        ]
        sent = await client.post(
            "/api/compat/wakatime/v1/users/current/heartbeats.bulk", json=editor, headers=key
        )
        assert sent.status_code == 202, sent.text


def figures(page: Page, card: str) -> Any:
    """The figures table (screen readers' text) of a card's chart."""
    return page.locator(f"#{card} table.sr-only")


async def test_a_day_of_usage_charts_timeline_rules_and_zone(
    live_server: str, page: Page, context: BrowserContext, screenshot_folder: Path
) -> None:
    await register(page, live_server)
    today = datetime.now(PARIS).date()
    yesterday = today - timedelta(days=1)
    await seed(live_server, context, yesterday)

    await page.goto(live_server + "/usage")
    await expect(page.get_by_role("heading", name="Screen time", level=1)).to_be_visible()
    day = page.get_by_label("Day", exact=True)
    await expect(day).to_have_value(today.isoformat())
    await expect(page.locator(".shown-in")).to_contain_text("Europe/Paris")
    await expect(page.locator("#usage-timeline")).to_contain_text("Nothing recorded")

    # Yesterday: the apps, the timeline with its AFK period, domains, editor time.
    await day.fill(yesterday.isoformat())
    apps = figures(page, "top-apps")
    await expect(apps).to_contain_text("Quillwright")
    await expect(apps).to_contain_text("30 min")
    await expect(apps).to_contain_text("Terminal")
    await expect(page.locator("#top-apps")).to_contain_text("Active screen time: 40 min")
    await expect(page.locator("#top-apps canvas[role=img]")).to_have_attribute(
        "aria-label",
        f"Top apps, {yesterday:%a} {yesterday.day} {yesterday:%b}: "
        "Quillwright 30 min, Terminal 10 min",
    )
    await expect(figures(page, "top-domains")).to_contain_text("docs.rhythm.example")
    timeline = page.locator("#usage-timeline")
    await expect(timeline.get_by_role("heading", name="laptop")).to_be_visible()
    await expect(timeline).to_contain_text("away 20 min")
    await expect(timeline.locator(".tl-away")).to_have_count(2)  # the period and its legend
    await timeline.get_by_text("The intervals as a table").click()
    rows = timeline.locator("table.intervals tbody tr")
    await expect(rows).to_have_count(4)
    await expect(rows.nth(0)).to_contain_text("10:0010:30Quillwright")
    await expect(rows.nth(3)).to_contain_text("10:4011:00Away (AFK)")
    editors = page.locator("#editor-time")
    await expect(editors).to_contain_text("In editors: 10 min")
    await expect(editors.locator("table.sr-only").first).to_contain_text("rhythm")
    await expect(editors.locator("table.sr-only").last).to_contain_text("Python")

    # A category rule: its category is in the chart at once.
    rules = page.locator("#category-rules")
    await rules.get_by_label("Category", exact=True).fill("Work > Writing")
    await rules.get_by_label("Pattern", exact=True).fill("quillwright")
    await rules.get_by_label("Ignore case").check()
    await rules.get_by_role("button", name="Add rule").click()
    await expect(rules.get_by_role("status")).to_have_text("Saved Work > Writing.")
    await expect(rules.get_by_role("row", name="Work > Writing")).to_contain_text("(ignore case)")
    await expect(figures(page, "top-categories")).to_contain_text("Work > Writing")
    # Edited: the pattern no longer matches, the category is gone from the day.
    await rules.get_by_role("button", name="Edit Work > Writing").click()
    await expect(rules.get_by_label("Category", exact=True)).to_have_value("Work > Writing")
    await rules.get_by_label("Pattern", exact=True).fill("Typewriter")
    await rules.get_by_role("button", name="Save changes").click()
    await expect(rules.get_by_role("row", name="Work > Writing")).to_contain_text("Typewriter")
    await expect(figures(page, "top-categories")).not_to_contain_text("Work > Writing")
    # A pattern RE2 refuses reads as a message beside the form.
    await rules.get_by_label("Category", exact=True).fill("Broken")
    await rules.get_by_label("Pattern", exact=True).fill("(unclosed")
    await rules.get_by_role("button", name="Add rule").click()
    alert = rules.get_by_role("alert")
    await expect(alert).to_contain_text("Could not save the rule")
    await expect(alert).to_contain_text("Pattern: invalid regex")
    assert "{" not in await alert.inner_text()
    await expect(rules.get_by_role("row", name="Broken")).to_have_count(0)
    # Deleted.
    await rules.get_by_role("button", name="Delete Work > Writing").click()
    await expect(rules.get_by_role("status")).to_have_text("Deleted Work > Writing.")
    await expect(rules.get_by_role("row", name="Work > Writing")).to_have_count(0)

    # Another zone: a name that is none is refused readably; UTC moves the day's edges.
    zone = page.get_by_label("Time zone", exact=True)
    await zone.fill("Mars/Olympus")
    await page.get_by_role("button", name="Use this time zone").click()
    refused = page.locator("#usage-day-card").get_by_role("alert")
    await expect(refused).to_contain_text("Time zone: 'Mars/Olympus' is not an IANA time zone")
    await expect(page.locator(".shown-in")).to_contain_text("Europe/Paris")
    await zone.fill("UTC")
    await page.get_by_role("button", name="Use this time zone").click()
    await expect(page.locator(".shown-in")).to_contain_text("in UTC")
    await expect(refused).to_have_count(0)
    await expect(rows.nth(0)).to_contain_text("09:0009:30Quillwright")  # 10:00 Paris, in UTC
    await page.get_by_role("button", name="Back to mine").click()
    await expect(page.locator(".shown-in")).to_contain_text("Europe/Paris")
    await expect(apps).to_contain_text("Quillwright")

    assert await axe_violations(page) == []
    taken = await screenshots(page, "usage", screenshot_folder)
    assert all(path.stat().st_size > 0 for path in taken)
    await page.set_viewport_size(PHONE)
    await page.wait_for_timeout(150)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert await axe_violations(page) == []
