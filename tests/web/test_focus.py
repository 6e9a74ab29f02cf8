"""The focus page in a real browser: sessions recorded through its form and through the API
appear in the year heatmap (each day's accessible name says its minutes and whether it
qualified or was frozen), the streak figures and the leaderboard of the people followed, in
both orderings; a refused session reads as a message; deleting a session takes it back."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import BrowserContext, Locator, Page, Route, expect

from tests.web.browser import (
    PASSWORD,
    as_browser,
    axe_violations,
    new_email,
    register,
    screenshots,
)

# The browser context's zone (tests/web/conftest.py): registering in the page gives it the account.
ZONE = "Europe/Paris"


def local_today() -> date:
    return datetime.now(ZoneInfo(ZONE)).date()


def cell_name(day: date, what: str) -> str:
    """A heatmap cell's accessible name, as in "Mon 3 Mar 2025: 45 min, qualified"."""
    return f"{day:%a} {day.day} {day:%b} {day.year}: {what}"


def first_shown(today: date) -> date:
    """The heatmap's first day: the day after the same date a year before (365 or 366 days)."""
    try:
        year_before = today.replace(year=today.year - 1)
    except ValueError:  # 29 February: JavaScript's Date rolls over to 1 March too
        year_before = date(today.year - 1, 3, 1)
    return year_before + timedelta(days=1)


async def record(client: httpx.AsyncClient, day: date, minutes: int, hour: int = 9) -> None:
    start = datetime(day.year, day.month, day.day, hour, 5, tzinfo=ZoneInfo(ZONE))
    answer = await client.post(
        "/api/v1/focus/sessions",
        json={
            "session_id": str(uuid.uuid4()),
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(minutes=minutes)).isoformat(),
            "timezone": ZONE,
        },
    )
    assert answer.status_code == 201, answer.text


async def record_in_form(page: Page, start: str, minutes: int) -> None:
    await page.get_by_label("Start", exact=True).fill(start)
    await page.get_by_label("Minutes", exact=True).fill(str(minutes))
    await page.get_by_role("button", name="Record session").click()


def figure(page: Page, term: str) -> Locator:
    """The value of a term in the page's figure lists (streak, year summary)."""
    return page.locator(".focus-stats > div", has=page.locator("dt", has_text=term)).locator("dd")


async def test_sessions_show_in_the_heatmap_the_streak_and_the_leaderboard(
    live_server: str,
    http: httpx.AsyncClient,
    page: Page,
    context: BrowserContext,
    screenshot_folder: Path,
) -> None:
    await register(page, live_server, name="Ada")
    today = local_today()

    def day(n: int) -> date:
        return today - timedelta(days=n)

    # 7 qualified days earn a freeze, which covers the missed day after them; then 9 more days
    # in a row earn another one. Today comes through the form.
    async with as_browser(context, live_server) as me:
        for n in [*range(17, 10, -1), *range(9, 0, -1)]:
            await record(me, day(n), 45)
        friend = await http.post(
            "/api/v1/auth/register",
            json={
                "email": new_email("grace"),
                "password": PASSWORD,
                "name": "Grace",
                "timezone": ZONE,
            },
        )
        assert friend.status_code == 201, friend.text
        friend_id = friend.json()["user"]["id"]
        token = friend.json()["access_token"]
        async with httpx.AsyncClient(
            base_url=live_server, headers={"Authorization": f"Bearer {token}"}
        ) as grace:
            await record(grace, day(1), 60)
            await record(grace, today, 600, hour=0)  # more this week than Ada can have
        assert (await me.put(f"/api/v1/users/me/following/{friend_id}")).status_code == 201

    await page.goto(live_server + "/focus")
    heatmap = page.get_by_role("group", name="Focus minutes per day, one column per week")
    cells = heatmap.get_by_role("img")
    # The first load waits as long as actions do (the context's 15 s): the machine may be busy.
    await expect(cells).to_have_count((today - first_shown(today)).days + 1, timeout=15_000)
    await expect(cells.first).to_have_attribute("data-date", first_shown(today).isoformat())
    await expect(
        heatmap.get_by_role("img", name=cell_name(day(11), "45 min, qualified"))
    ).to_have_class("heat-cell q1")
    frozen = heatmap.get_by_role(
        "img", name=cell_name(day(10), "no focus, frozen by a streak freeze")
    )
    await expect(frozen).to_have_class("heat-cell frozen")
    await expect(heatmap.get_by_role("img", name=cell_name(day(20), "no focus"))).to_have_class(
        "heat-cell none"
    )
    await expect(figure(page, "Current streak")).to_have_text("17 days")
    await expect(figure(page, "Freezes held")).to_contain_text("1 of 2")

    # Today, through the form: under the threshold, then over it.
    await record_in_form(page, f"{today.isoformat()}T00:05", 20)
    await expect(page.get_by_role("status")).to_contain_text("Recorded 20 min from 00:05")
    today_cell = heatmap.locator(f'[data-date="{today.isoformat()}"]')
    await expect(today_cell).to_have_attribute(
        "aria-label", cell_name(today, "20 min, not qualified")
    )
    await expect(today_cell).to_have_class("heat-cell some")
    await expect(figure(page, "Today")).to_have_text("20 of 30 min")
    await record_in_form(page, f"{today.isoformat()}T00:30", 15)
    await expect(today_cell).to_have_attribute("aria-label", cell_name(today, "35 min, qualified"))
    await expect(today_cell).to_have_class("heat-cell q1")

    await expect(figure(page, "Current streak")).to_have_text("18 days")
    await expect(figure(page, "Longest streak")).to_have_text("18 days")
    await expect(figure(page, "Freezes held")).to_contain_text("1 of 2")
    await expect(figure(page, "Today")).to_have_text("35 of 30 min")
    await expect(figure(page, "Focus minutes")).to_have_text("755")
    await expect(figure(page, "Days with focus")).to_have_text("17")
    await expect(figure(page, "Qualified days")).to_have_text("17")
    await expect(figure(page, "Freezes used")).to_have_text("1")
    await expect(page.locator("#focus-session-list li")).to_have_count(10)

    rows = page.locator("#focus-leaderboard-table tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("Ada (you)")
    await expect(rows.nth(0).locator("td").nth(2)).to_have_text("18 days")
    await expect(rows.nth(1)).to_contain_text("Grace")
    await expect(rows.nth(1).locator("td").nth(2)).to_have_text("2 days")
    week = today.isocalendar()
    await expect(page.locator("#focus-leaderboard-table caption")).to_contain_text(
        f"Week {week.year}-W{week.week:02d}"
    )
    await page.get_by_label("Minutes this week").check()
    await expect(page.locator('#focus-leaderboard-table th[aria-sort="descending"]')).to_have_text(
        "Minutes this week"
    )
    await expect(rows.nth(0)).to_contain_text("Grace")
    monday = today - timedelta(days=today.weekday())
    grace_week = 600 + (60 if day(1) >= monday else 0)
    await expect(rows.nth(0).locator("td").nth(3)).to_have_text(f"{grace_week:,}")
    await expect(rows.nth(1)).to_contain_text("Ada (you)")
    await expect(rows.nth(0).locator("td").first).to_have_text("1")

    assert await axe_violations(page) == []
    taken = await screenshots(page, "focus", screenshot_folder)
    assert all(path.stat().st_size > 0 for path in taken)
    await page.set_viewport_size({"width": 375, "height": 812})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    assert await axe_violations(page) == []


async def test_a_refused_session_reads_as_a_message_and_a_deleted_one_goes(
    live_server: str, page: Page
) -> None:
    await register(page, live_server)
    await page.goto(live_server + "/focus")
    await expect(page.get_by_text("No sessions yet")).to_be_visible(timeout=15_000)
    today = local_today()

    await record_in_form(page, f"{(today + timedelta(days=2)).isoformat()}T12:00", 30)
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Could not record the session")
    await expect(alert).to_contain_text("more than an hour in the future")
    assert "{" not in await alert.inner_text()

    # The server records the session but its answer is lost: the retry of the same values is
    # a replay of the same session_id, not a second session.
    async def lose_the_answer(route: Route) -> None:
        if route.request.method != "POST":
            await route.continue_()
            return
        await route.fetch()
        await route.abort()

    await page.route("**/api/v1/focus/sessions", lose_the_answer)
    await record_in_form(page, f"{today.isoformat()}T00:05", 45)
    await expect(page.get_by_role("alert")).to_contain_text("cannot be reached")
    await page.unroute("**/api/v1/focus/sessions", lose_the_answer)
    await page.get_by_role("button", name="Record session").click()
    await expect(page.get_by_role("status")).to_contain_text("Recorded 45 min")
    await expect(page.get_by_role("alert")).to_have_count(0)
    today_cell = page.locator(f'.heat-grid [data-date="{today.isoformat()}"]')
    await expect(today_cell).to_have_attribute("aria-label", cell_name(today, "45 min, qualified"))
    await expect(figure(page, "Current streak")).to_have_text("1 day")
    sessions = page.locator("#focus-session-list li")
    await expect(sessions).to_have_count(1)
    await expect(sessions.first).to_contain_text("00:05\u201300:50 · 45 min")
    # The form names each session with a fresh UUID (crypto.randomUUID), its idempotency key.
    stored = await page.evaluate("fetch('/api/v1/focus/sessions').then((r) => r.json())")
    assert uuid.UUID(stored["data"][0]["session_id"]).version == 4

    await sessions.first.get_by_role("button", name="Delete the session of").click()
    await expect(page.get_by_text("No sessions yet")).to_be_visible()
    await expect(today_cell).to_have_attribute("aria-label", cell_name(today, "no focus"))
    await expect(figure(page, "Current streak")).to_have_text("0 days")
