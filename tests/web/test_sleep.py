"""The Sleep page in a real browser: clocking in and out through its buttons, the last 8 weeks
of nights in the chart's accessible figures (and the clocked night on Today), a followed
friend's night in the weekly ranking, the backfill form's refusals read as messages, and the
recent nights' form: closing a forgotten night, moving a bedtime, rating, tagging and noting
a night, and its refusals read as messages."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import BrowserContext, Page, expect

from tests.web.browser import (
    DESKTOP,
    PHONE,
    api_account,
    as_browser,
    axe_violations,
    register,
    screenshots,
)

# The browser context's zone (tests/web/conftest.py): registering in the page gives it the account.
ZONE = "Europe/Paris"


def night(days_ago: int, bed: time, wake: time) -> tuple[datetime, datetime]:
    """A night that ended `days_ago` days ago in ZONE, from `bed` (the evening before, or
    that day's small hours)."""
    woke_on = datetime.now(ZoneInfo(ZONE)).date() - timedelta(days=days_ago)
    bed_on = woke_on - timedelta(days=1) if bed.hour >= 12 else woke_on
    return (
        datetime.combine(bed_on, bed, tzinfo=ZoneInfo(ZONE)),
        datetime.combine(woke_on, wake, tzinfo=ZoneInfo(ZONE)),
    )


def as_json(span: tuple[datetime, datetime]) -> dict[str, str]:
    return {"sleep_at": span[0].isoformat(), "wake_at": span[1].isoformat()}


def hours_minutes(seconds: float) -> str:
    """As the page writes a duration (app.js `duration`)."""
    minutes = math.floor(math.floor(seconds + 0.5) / 60 + 0.5)  # JavaScript's Math.round
    return f"{minutes // 60} h {minutes % 60:02d} min"


def elapsed(bed: datetime, wake: datetime) -> float:
    """Real seconds, DST included (Python subtracts two times of one zone on the wall clock)."""
    return (wake.astimezone(UTC) - bed.astimezone(UTC)).total_seconds()


def slept(*spans: tuple[datetime, datetime]) -> str:
    """The page's duration of these nights."""
    return hours_minutes(sum(elapsed(bed, wake) for bed, wake in spans))


async def table_rows(page: Page, table: str) -> list[str]:
    """The body rows of the table of id `table`, as the user reads them: cells joined by " | "."""
    rows = page.locator(f"#{table} tbody tr")
    return [" | ".join(await row.locator("th, td").all_inner_texts()) for row in await rows.all()]


async def nights_table(page: Page) -> list[str]:
    """The chart's figures as the page gives them to screen readers: one row per day."""
    return await table_rows(page, "nights-table")


async def test_clock_in_and_out_and_see_the_night(
    live_server: str, page: Page, context: BrowserContext, screenshot_folder: Path
) -> None:
    await register(page, live_server)
    earlier = night(3, time(22, 30), time(6, 45))
    later = night(2, time(23, 0), time(7, 0))
    # Most other nights of the 8 weeks, at varied times, for a chart worth a screenshot.
    others = [
        night(days_ago, time(22, (7 * days_ago) % 60), time(6 + days_ago % 2, (13 * days_ago) % 60))
        for days_ago in range(49, 4, -1)  # oldest first, as the table lists them
        if days_ago % 6
    ]
    nights = [*others, earlier, later]
    async with as_browser(context, live_server) as me:
        for span in nights:
            added = await me.post("/api/v1/sleep/records", json=as_json(span))
            assert added.status_code == 201, added.text

    await page.goto(live_server + "/sleep")
    await expect(page.get_by_role("heading", name="Sleep", level=1)).to_be_visible()
    bed = page.get_by_role("region", name="Bedtime")
    await expect(bed).to_contain_text("Awake")
    await expect(page.locator("#nights-table tbody tr")).to_have_count(len(nights))
    rows = await nights_table(page)
    assert [row.split(" | ", 1)[1] for row in rows[-2:]] == [
        f"22:30 | 06:45 | {slept(earlier)}",
        f"23:00 | 07:00 | {slept(later)}",
    ]
    assert [row.split(" | ", 1)[1] for row in rows] == [
        f"{bed:%H:%M} | {wake:%H:%M} | {slept((bed, wake))}" for bed, wake in nights
    ]
    chart = page.get_by_role("img", name="Hours slept each day", exact=False)
    average = sum(elapsed(bed, wake) for bed, wake in nights) / len(nights)
    await expect(chart).to_have_attribute(
        "aria-label",
        f"Hours slept each day of the last 8 weeks, with bed and wake times: {len(nights)} days "
        f"with sleep in the last 8 weeks, {hours_minutes(average)} "
        "on average. The table that follows lists each night.",
    )

    await bed.get_by_role("button", name="Clock in").click()
    await expect(bed).to_contain_text("In bed since")
    bedtime = (await bed.locator("#bed-state").inner_text()).split("since ")[1][:5]
    assert re.fullmatch(r"\d\d:\d\d", bedtime), bedtime
    await page.wait_for_timeout(1100)  # a night of at least a second
    await bed.get_by_role("button", name="Clock out").click()
    await expect(bed).to_contain_text("Awake")
    await expect(page.locator("#nights-table tbody tr")).to_have_count(len(nights) + 1)
    clocked = (await nights_table(page))[-1]
    assert clocked.split(" | ")[1] == bedtime
    assert clocked.endswith(" s")

    assert await axe_violations(page) == []
    for shot in await screenshots(page, "sleep", screenshot_folder):
        assert shot.stat().st_size > 0
    await page.set_viewport_size(PHONE)
    await page.wait_for_timeout(150)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Today shows the night that just ended.
    await page.goto(live_server + "/")
    last_night = page.get_by_role("region", name="Last night")
    await expect(last_night).to_contain_text(f"Bedtime{bedtime}")


async def test_a_followed_friend_in_the_weekly_ranking(
    live_server: str, http: httpx.AsyncClient, page: Page, context: BrowserContext
) -> None:
    await register(page, live_server, name="Ada")
    friend_id, friend = await api_account(http, "Grace Hopper")
    _, stranger = await api_account(http, "Not Followed")
    theirs, mine = night(1, time(23, 30), time(8, 0)), night(1, time(23, 45), time(7, 15))
    for headers in (friend, stranger):
        added = await http.post("/api/v1/sleep/records", json=as_json(theirs), headers=headers)
        assert added.status_code == 201, added.text
    week = added.json()["record"]["week"]
    async with as_browser(context, live_server) as me:
        added = await me.post("/api/v1/sleep/records", json=as_json(mine))
        assert added.status_code == 201, added.text
        assert added.json()["record"]["week"] == week  # both went to bed the same evening
        followed = await me.put(f"/api/v1/users/me/following/{friend_id}")
        assert followed.status_code == 201, followed.text

    await page.goto(live_server + "/sleep")
    ranking = page.get_by_role("region", name="Weekly ranking")
    await ranking.get_by_label("Week", exact=True).select_option(week)
    table = ranking.get_by_role("table")
    await expect(table.locator("tbody tr")).to_have_count(2)
    rows = [
        " | ".join(await r.locator("th, td").all_inner_texts())
        for r in await table.locator("tbody tr").all()
    ]
    assert rows == [
        f"1 | Grace Hopper | {slept(theirs)} | 1 | {slept(theirs)} | {slept(theirs)}",
        f"2 | Ada (you) | {slept(mine)} | 1 | {slept(mine)} | {slept(mine)}",
    ]
    assert await axe_violations(page) == []


async def test_the_backfill_form_reads_refusals_as_messages(live_server: str, page: Page) -> None:
    await register(page, live_server)
    await page.goto(live_server + "/sleep")
    form = page.get_by_role("region", name="Add a past night")
    today = datetime.now(ZoneInfo(ZONE)).date()
    yesterday = today - timedelta(days=1)
    # Waking before going to bed.
    await form.get_by_label("Bedtime").fill(f"{yesterday}T23:00")
    await form.get_by_label("Wake time").fill(f"{yesterday}T22:00")
    await form.get_by_role("button", name="Add night").click()
    alert = form.get_by_role("alert")
    await expect(alert).to_contain_text("Could not add the night.")
    await expect(alert).to_contain_text("The wake time must be after bedtime.")
    assert "{" not in await alert.inner_text()

    # A good night is added and charted, in the account's zone.
    two_days_ago = today - timedelta(days=2)
    await form.get_by_label("Bedtime").fill(f"{two_days_ago}T23:10")
    await form.get_by_label("Wake time").fill(f"{yesterday}T06:40")
    await form.get_by_role("button", name="Add night").click()
    await expect(form.get_by_role("status")).to_contain_text("Night added: 7 h 30 min")
    await expect(form.get_by_role("alert")).to_have_count(0)
    await expect(page.locator("#nights-table tbody tr")).to_have_count(1)
    assert (await nights_table(page))[0].endswith("23:10 | 06:40 | 7 h 30 min")

    # The same night again overlaps it: a 409, read as a message.
    await form.get_by_role("button", name="Add night").click()
    await expect(form.get_by_role("alert")).to_contain_text("overlaps another of your")
    assert await axe_violations(page) == []


def day_label(moment: datetime) -> str:
    """As the page writes a day (app.js `dayLabel`): "Mon 3 Mar"."""
    return f"{moment:%a} {moment.day} {moment:%b}"


async def test_correct_a_night_and_close_a_forgotten_one(
    live_server: str, page: Page, context: BrowserContext, screenshot_folder: Path
) -> None:
    await register(page, live_server)
    travel = night(4, time(23, 0), time(7, 0))
    short = night(3, time(22, 30), time(6, 30))
    forgotten = night(1, time(23, 15), time(7, 15))
    async with as_browser(context, live_server) as me:
        for span, notes in (
            (travel, {"rating": 3, "tags": ["travel"], "note": "Hotel bed."}),
            (short, {}),
        ):
            added = await me.post("/api/v1/sleep/records", json={**as_json(span), **notes})
            assert added.status_code == 201, added.text
        opened = await me.post("/api/v1/sleep/clock-in", json={"at": forgotten[0].isoformat()})
        assert opened.status_code == 201, opened.text
        forgotten_id = opened.json()["record"]["id"]

    await page.goto(live_server + "/sleep")
    recent = page.get_by_role("region", name="Your recent nights")
    await expect(recent.locator("#recent-nights tbody tr")).to_have_count(3)
    assert await table_rows(page, "recent-nights") == [
        f"Edit | {day_label(forgotten[0])} | 23:15 | — | In bed | — | —",
        f"Edit | {day_label(short[0])} | 22:30 | 06:30 | {slept(short)} | — | —",
        f"Edit | {day_label(travel[0])} | 23:00 | 07:00 | {slept(travel)} | 3/5 | "
        "travel\nHotel bed.",
    ]
    bed = page.get_by_role("region", name="Bedtime")
    await expect(bed).to_contain_text("In bed since 23:15")

    # Close the forgotten night at the time it ended, with a rating, tags and a note.
    await recent.get_by_role("button", name=f"Edit the night of {day_label(forgotten[0])}").click()
    editor = recent.get_by_role("form", name=f"Edit the night of {day_label(forgotten[0])}")
    await expect(editor.get_by_role("heading")).to_be_focused()
    await expect(editor.get_by_label("Bedtime")).to_have_value(f"{forgotten[0]:%Y-%m-%dT%H:%M}")
    await editor.get_by_label("Wake time").fill(f"{forgotten[1]:%Y-%m-%dT%H:%M}")
    await editor.get_by_label("Rating").select_option("4")
    await editor.get_by_label("Tags").fill("late, coffee, Late")
    await editor.get_by_label("Note").fill("Forgot to clock out.")
    await editor.get_by_role("button", name="Save night").click()
    await expect(recent.get_by_role("status")).to_have_text(
        f"Night of {day_label(forgotten[0])} saved: {slept(forgotten)}."
    )
    await expect(editor).to_have_count(0)
    await expect(bed).to_contain_text("Awake")
    await expect(recent.locator("#recent-nights tbody tr").first).to_contain_text("07:15")
    assert (await table_rows(page, "recent-nights"))[0] == (
        f"Edit | {day_label(forgotten[0])} | 23:15 | 07:15 | {slept(forgotten)} | 4/5 | "
        "late, coffee\nForgot to clock out."
    )
    await expect(page.locator("#nights-table tbody tr")).to_have_count(3)
    async with as_browser(context, live_server) as me:
        record = (await me.get(f"/api/v1/sleep/records/{forgotten_id}")).json()
    assert (record["status"], record["wake_timezone"]) == ("completed", ZONE)
    assert (record["rating"], record["tags"], record["note"]) == (
        4,
        ["late", "coffee"],
        "Forgot to clock out.",
    )

    # Refusals read as messages, and change nothing.
    edit_short = recent.get_by_role("button", name=f"Edit the night of {day_label(short[0])}")
    await edit_short.click()
    editor = recent.get_by_role("form", name=f"Edit the night of {day_label(short[0])}")
    await editor.get_by_label("Wake time").fill(f"{short[0]:%Y-%m-%d}T22:00")
    await editor.get_by_role("button", name="Save night").click()
    alert = editor.get_by_role("alert")
    await expect(alert).to_contain_text("Could not save the night.")
    await expect(alert).to_contain_text("The wake time must be after bedtime.")
    onto_travel = travel[1] - timedelta(minutes=15)
    await editor.get_by_label("Bedtime").fill(f"{onto_travel:%Y-%m-%dT%H:%M}")
    await editor.get_by_label("Wake time").fill(f"{short[1]:%Y-%m-%dT%H:%M}")
    await editor.get_by_role("button", name="Save night").click()
    await expect(alert).to_contain_text("overlaps another of your sleep records")
    assert "{" not in await alert.inner_text()
    assert await axe_violations(page) == []
    for shot in await screenshots(page, "sleep-edit", screenshot_folder):
        assert shot.stat().st_size > 0
    await page.set_viewport_size(PHONE)
    await page.wait_for_timeout(150)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.set_viewport_size(DESKTOP)
    await editor.get_by_role("button", name="Cancel").click()
    await expect(editor).to_have_count(0)
    assert (await table_rows(page, "recent-nights"))[1] == (
        f"Edit | {day_label(short[0])} | 22:30 | 06:30 | {slept(short)} | — | —"
    )

    # An earlier bedtime, and the notes cleared.
    await recent.get_by_role("button", name=f"Edit the night of {day_label(travel[0])}").click()
    editor = recent.get_by_role("form", name=f"Edit the night of {day_label(travel[0])}")
    earlier = travel[0] - timedelta(minutes=45)
    await editor.get_by_label("Bedtime").fill(f"{earlier:%Y-%m-%dT%H:%M}")
    await editor.get_by_label("Rating").select_option("")
    await editor.get_by_label("Tags").fill("")
    await editor.get_by_label("Note").fill("")
    await editor.get_by_role("button", name="Save night").click()
    await expect(recent.get_by_role("status")).to_contain_text("saved")
    await expect(recent.locator("#recent-nights tbody tr").nth(2)).to_contain_text("22:15")
    assert (await table_rows(page, "recent-nights"))[2] == (
        f"Edit | {day_label(earlier)} | 22:15 | 07:00 | {slept((earlier, travel[1]))} | — | —"
    )
    # The chart's figures follow.
    await expect(page.locator("#nights-table tbody tr").first).to_contain_text("22:15")
    assert (await nights_table(page))[0].endswith(f"22:15 | 07:00 | {slept((earlier, travel[1]))}")
