"""The account page in a real browser: the profile and time zone, API keys (the secret shown
once, working, then revoked), the set-up snippets, and device sessions revoked from another
device."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.web.browser import (
    DESKTOP,
    PASSWORD,
    PHONE,
    axe_violations,
    register,
    screenshots,
    sign_in,
)


async def test_profile_and_time_zone_persist_and_bad_values_read_as_messages(
    live_server: str, page: Page
) -> None:
    await register(page, live_server, name="Ada")
    await page.goto(live_server + "/account")
    profile = page.locator("#account-profile")
    name = page.get_by_label("Name", exact=True)
    zone = page.get_by_label("Time zone", exact=True)
    await expect(name).to_have_value("Ada")
    await expect(zone).to_have_value("Europe/Paris")  # the browser's, given at registration
    await name.fill("Ada Lovelace")
    await zone.fill("America/New_York")
    await page.get_by_role("button", name="Save profile").click()
    await expect(profile.get_by_role("status")).to_have_text("Saved.")
    await page.reload()
    await expect(name).to_have_value("Ada Lovelace")
    await expect(zone).to_have_value("America/New_York")

    await zone.fill("Mars/Olympus_Mons")
    await page.get_by_role("button", name="Save profile").click()
    alert = profile.get_by_role("alert")
    await expect(alert).to_contain_text("Could not save the profile")
    await expect(alert).to_contain_text("is not an IANA time zone name")
    assert "{" not in await alert.inner_text()
    await name.fill("   ")
    await zone.fill("UTC")
    await page.get_by_role("button", name="Save profile").click()
    await expect(alert).to_contain_text("must not be blank")
    await page.reload()
    await expect(name).to_have_value("Ada Lovelace")
    await expect(zone).to_have_value("America/New_York")


async def test_an_api_key_is_shown_once_works_and_stops_when_revoked(
    live_server: str,
    http: httpx.AsyncClient,
    page: Page,
    context: BrowserContext,
    screenshot_folder: Path,
) -> None:
    await register(page, live_server)
    await page.goto(live_server + "/account")
    keys = page.locator("#account-keys")
    await expect(keys).to_contain_text("No API keys yet.")
    await page.get_by_label("Key name").fill("laptop watchers")
    await expect(page.get_by_label("usage: send heartbeats")).to_be_checked()
    await expect(page.get_by_label("write: change sleep")).not_to_be_checked()
    await page.get_by_role("button", name="Create key").click()
    shown = page.locator("#new-key")
    await expect(shown).to_have_text(re.compile(r"rhk_[A-Za-z0-9_-]{43}"))
    key = await shown.inner_text()
    await expect(keys).to_contain_text("it will not be shown again")
    await expect(keys.get_by_role("row", name="laptop watchers")).to_contain_text("usage, read")
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    await keys.get_by_role("button", name="Copy the new key").click()
    await expect(keys.locator(".copy")).to_contain_text("Copied.")
    assert await page.evaluate("navigator.clipboard.readText()") == key

    # The snippets carry this server's address and the new key.
    setup = page.locator("#account-setup")
    host = live_server.split("//")[1].split(":")[0]
    port = live_server.rsplit(":", 1)[1]
    await expect(setup).to_contain_text(f"machine {host}\nlogin {key}\npassword x")
    await expect(setup).to_contain_text(f'hostname = "{host}"\nport = "{port}"')
    await expect(setup).to_contain_text(
        f"api_url = {live_server}/api/compat/wakatime/v1/users/current/heartbeats.bulk"
    )
    await expect(setup).to_contain_text("The key just created is not one.")

    beat = {"timestamp": datetime.now(UTC).isoformat(), "app": "Firefox", "title": "rhythm"}
    bearer = {"Authorization": f"Bearer {key}"}
    sent = await http.post("/api/v1/usage/heartbeats", json=beat, headers=bearer)
    assert sent.status_code == 202, sent.text

    assert await axe_violations(page) == []
    taken = await screenshots(page, "account", screenshot_folder)
    assert all(path.stat().st_size > 0 for path in taken)
    await page.set_viewport_size(PHONE)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.set_viewport_size(DESKTOP)

    # Once the page is left, the secret is gone from it; the key is listed by its prefix.
    await page.reload()
    row = keys.get_by_role("row", name="laptop watchers")
    await expect(row).to_contain_text(key[:8])
    assert key not in await page.content()
    await row.get_by_role("button", name="Revoke laptop watchers").click()
    await expect(keys).to_contain_text("No API keys yet.")
    refused = await http.post("/api/v1/usage/heartbeats", json=beat, headers=bearer)
    assert refused.status_code == 401


async def test_an_editor_key_fills_the_wakatime_snippet(live_server: str, page: Page) -> None:
    await register(page, live_server)
    await page.goto(live_server + "/account")
    await page.get_by_label("Key name").fill("editors")
    await page.get_by_label("Format").select_option("uuid")
    await page.get_by_label("write: change sleep").check()
    await page.get_by_role("button", name="Create key").click()
    key = await page.locator("#new-key").inner_text()
    assert len(key) == 36 and key.count("-") == 4
    setup = page.locator("#account-setup")
    await expect(setup).to_contain_text(f"api_key = {key}\napi_url = {live_server}/api/compat")
    await expect(setup).not_to_contain_text("The key just created is not one.")
    row = page.locator("#account-keys").get_by_role("row", name="editors")
    await expect(row).to_contain_text("usage, read, write")
    # No scope at all is refused, readably.
    for scope in ("usage", "read", "write"):
        await page.get_by_label(f"{scope}: ").uncheck()
    await page.get_by_label("Key name").fill("nothing")
    await page.get_by_role("button", name="Create key").click()
    alert = page.locator("#account-keys").get_by_role("alert")
    await expect(alert).to_contain_text("Could not create the key")
    assert "{" not in await alert.inner_text()


async def test_a_session_revoked_here_signs_the_other_device_out(
    live_server: str, http: httpx.AsyncClient, page: Page, browser: Browser
) -> None:
    email = await register(page, live_server)
    other: BrowserContext = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    try:
        second = await other.new_page()
        await sign_in(second, live_server, email)
        cookie = {c["name"]: c["value"] for c in await other.cookies()}["rhythm_access"]
        jar = {"Cookie": f"rhythm_access={cookie}"}
        assert (await http.get("/api/v1/users/me", headers=jar)).status_code == 200

        await page.goto(live_server + "/account")
        sessions = page.locator("#account-sessions")
        rows = sessions.get_by_role("listitem")
        await expect(rows).to_have_count(2)
        current = rows.filter(has_text="This device")
        await expect(current).to_have_count(1)
        await expect(current.get_by_role("button", name="Revoke")).to_have_count(0)
        await rows.filter(has_not_text="This device").get_by_role("button", name="Revoke").click()
        await expect(rows).to_have_count(1)
        await expect(rows).to_contain_text("This device")

        assert (await http.get("/api/v1/users/me", headers=jar)).status_code == 401
        # The second browser is sent back to sign in; the first stays signed in.
        await second.goto(live_server + "/account")
        await second.wait_for_url(live_server + "/signin?next=%2Faccount")
        assert await axe_violations(page) == []
    finally:
        await other.close()


async def test_visibility_is_chosen_on_the_profile(
    live_server: str, http: httpx.AsyncClient, page: Page
) -> None:
    email = await register(page, live_server, name="Vee")
    await page.goto(live_server + "/account")
    profile = page.locator("#account-profile")
    public = page.get_by_role("radio", name="Public")
    private = page.get_by_role("radio", name="Private")
    await expect(public).to_be_checked()
    await private.check()
    await page.get_by_role("button", name="Save profile").click()
    await expect(profile.get_by_role("status")).to_have_text("Saved.")
    await page.reload()
    await expect(private).to_be_checked()
    signed_in = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    token = signed_in.json()["access_token"]
    me = await http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["visibility"] == "private"
    assert await axe_violations(page) == []
