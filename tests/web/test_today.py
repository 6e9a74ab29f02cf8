"""The Today page in a real browser: a new account's empty states say what to do; a night, a
focus session, screen time and a followed friend's night (seeded through the API) show in
their cards, the screen-time chart's figures in its accessible name and as text."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from playwright.async_api import BrowserContext, Page, expect

from tests.factories import today_at, zone_at_hour
from tests.web.browser import (
    PHONE,
    api_account,
    as_browser,
    axe_violations,
    register,
    screenshots,
)


async def no_horizontal_scroll(page: Page) -> None:
    await page.set_viewport_size(PHONE)
    await page.wait_for_timeout(150)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


async def test_a_new_account_sees_what_to_do(live_server: str, page: Page) -> None:
    await register(page, live_server)
    await expect(page.get_by_role("heading", name="Today", level=1)).to_be_visible()
    cards = {
        "Last night": "No night recorded yet — clock in on the Sleep page",
        "Focus today": "No focus yet today — record a session on the Focus page",
        "Screen time today": "No screen time yet today — create an API key on the Account page",
        "Friends' nights": "No nights from the people you follow yet today",
    }
    for title, empty in cards.items():
        card = page.get_by_role("region", name=title)
        await expect(card).to_contain_text(empty)
    await expect(page.get_by_role("region", name="Focus today")).to_contain_text("0 minutes")
    await expect(page.get_by_role("link", name="Sleep page")).to_have_attribute("href", "/sleep")
    assert await axe_violations(page) == []
    await no_horizontal_scroll(page)


async def test_the_days_figures_and_a_friends_night(
    live_server: str,
    http: httpx.AsyncClient,
    page: Page,
    context: BrowserContext,
    screenshot_folder: Path,
) -> None:
    await register(page, live_server, name="Ada")
    # The account moves to a zone where it is now noon: all of the morning is today's.
    zone = zone_at_hour(12)
    woke, slept = today_at(zone, 7, 10), today_at(zone, 0, 5) - timedelta(hours=1, minutes=25)
    friend_id, friend = await api_account(http, "Grace Hopper", timezone=zone)
    friend_slept, friend_woke = today_at(zone, 0, 15), today_at(zone, 8, 30)
    night = await http.post(
        "/api/v1/sleep/records",
        json={"sleep_at": friend_slept.isoformat(), "wake_at": friend_woke.isoformat()},
        headers=friend,
    )
    assert night.status_code == 201, night.text
    async with as_browser(context, live_server) as me:
        moved = await me.patch("/api/v1/users/me", json={"timezone": zone})
        assert moved.status_code == 200, moved.text
        backfilled = await me.post(
            "/api/v1/sleep/records",
            json={"sleep_at": slept.isoformat(), "wake_at": woke.isoformat()},
        )
        assert backfilled.status_code == 201, backfilled.text
        focus = await me.post(
            "/api/v1/focus/sessions",
            json={
                "session_id": "today-page",
                "started_at": today_at(zone, 9).isoformat(),
                "ended_at": today_at(zone, 9, 40).isoformat(),
                "timezone": zone,
            },
        )
        assert focus.status_code == 201, focus.text
        beats, at = [], today_at(zone, 10)
        for app, seconds in (("Editor", 600), ("Slack", 300), ("Spotify", 120)):
            beats.append({"timestamp": at.isoformat(), "duration": float(seconds), "app": app})
            at += timedelta(seconds=seconds + 30)
        sent = await me.post("/api/v1/usage/heartbeats/bulk", json=beats)
        assert sent.status_code == 202, sent.text
        followed = await me.put(f"/api/v1/users/me/following/{friend_id}")
        assert followed.status_code == 201, followed.text

    await page.goto(live_server + "/")
    last_night = page.get_by_role("region", name="Last night")
    await expect(last_night).to_contain_text("8 h 30 min")
    await expect(last_night).to_contain_text("Bedtime22:40")
    await expect(last_night).to_contain_text("Woke up07:10")
    await expect(page.locator(".day-line")).to_contain_text(f"times in {zone}")

    focus_card = page.get_by_role("region", name="Focus today")
    await expect(focus_card).to_contain_text("40 minutes")
    await expect(focus_card).to_contain_text("Current streak1 day")
    await expect(focus_card).to_contain_text("Freezes held0 of 2")

    screen = page.get_by_role("region", name="Screen time today")
    await expect(screen).to_contain_text("17 min")  # 600 + 300 + 120 s
    apps = screen.get_by_role("img", name="Top apps", exact=False)
    await expect(apps).to_have_attribute(
        "aria-label", "Top apps: Editor: 10 min; Slack: 5 min; Spotify: 2 min"
    )
    app_list = screen.locator("#top-apps li")
    await expect(app_list).to_have_text(["Editor10 min", "Slack5 min", "Spotify2 min"])
    categories = screen.get_by_role("img", name="Top categories", exact=False)
    await expect(categories).to_have_attribute(
        "aria-label",
        "Top categories: Uncategorized: 10 min; Comms: 5 min; Comms > IM: 5 min; Media: 2 min; "
        "Media > Music: 2 min",
    )

    friends = page.get_by_role("region", name="Friends' nights")
    row = friends.get_by_role("row", name="Grace Hopper")
    await expect(row).to_have_text("Grace Hopper00:1508:308 h 15 min")

    assert await axe_violations(page) == []
    for shot in await screenshots(page, "today", screenshot_folder):
        assert shot.stat().st_size > 0
    await no_horizontal_scroll(page)
