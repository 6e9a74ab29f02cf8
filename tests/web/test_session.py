"""Signing in and out of the dashboard in a real browser, and the cookie session's rules:
HttpOnly tokens, CSRF on every change, sign-out revokes the device session, bearer auth
unchanged."""

from __future__ import annotations

import httpx
from playwright.async_api import BrowserContext, Page, Route, expect

from tests.web.browser import PASSWORD, register, sign_in


async def cookies_of(context: BrowserContext) -> dict[str, dict[str, object]]:
    return {c["name"]: dict(c) for c in await context.cookies()}


async def test_register_sign_out_and_the_old_cookie_is_refused(
    live_server: str, http: httpx.AsyncClient, page: Page, context: BrowserContext
) -> None:
    email = await register(page, live_server)
    jar = await cookies_of(context)
    assert jar["rhythm_access"]["httpOnly"] is True
    assert jar["rhythm_access"]["sameSite"] == "Strict"
    assert jar["rhythm_refresh"]["httpOnly"] is True
    assert jar["rhythm_refresh"]["path"] == "/web/session"
    # On loopback the cookies are not Secure (plain HTTP); elsewhere they are.
    assert jar["rhythm_access"]["secure"] is False
    # The page's scripts see no token.
    assert "rhythm_access" not in await page.evaluate("document.cookie")
    old = {"Cookie": f"rhythm_access={jar['rhythm_access']['value']}"}
    assert (await http.get("/api/v1/users/me", headers=old)).json()["email"] == email

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(live_server + "/signin")
    refused = await http.get("/api/v1/users/me", headers=old)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    # Pages need a session: back to sign-in, with the way back.
    await page.goto(live_server + "/sleep")
    await page.wait_for_url(live_server + "/signin?next=/sleep")
    await sign_in(page, live_server, email, "/sleep")
    await expect(page.get_by_role("heading", name="Sleep", level=1)).to_be_visible()


async def test_a_wrong_password_reads_as_a_message(
    live_server: str, http: httpx.AsyncClient, page: Page
) -> None:
    email = await register(page, live_server)
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(live_server + "/signin")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD + "x")
    await page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Could not sign in")
    assert "{" not in await alert.inner_text()


async def test_changes_need_the_csrf_header_and_reads_do_not(
    live_server: str, http: httpx.AsyncClient, page: Page, context: BrowserContext
) -> None:
    await register(page, live_server)
    jar = await cookies_of(context)
    cookies = {name: str(c["value"]) for name, c in jar.items()}
    async with httpx.AsyncClient(base_url=live_server, cookies=cookies) as client:
        assert (await client.get("/api/v1/users/me")).status_code == 200
        refused = await client.post("/api/v1/sleep/clock-in", json={})
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("/csrf")
        wrong = await client.post(
            "/api/v1/sleep/clock-in", json={}, headers={"X-CSRF-Token": "nope"}
        )
        assert wrong.status_code == 403
        token = cookies["rhythm_csrf"]
        cross = await client.post(
            "/api/v1/sleep/clock-in",
            json={},
            headers={"X-CSRF-Token": token, "Origin": "https://evil.example"},
        )
        assert cross.status_code == 403
        ok = await client.post("/api/v1/sleep/clock-in", json={}, headers={"X-CSRF-Token": token})
        assert ok.status_code == 201, ok.text
        # Signing out is a change too.
        assert (await client.delete("/web/session")).status_code == 403


async def test_a_sign_in_from_another_site_is_refused(http: httpx.AsyncClient) -> None:
    refused = await http.post(
        "/web/session",
        json={"email": "a@example.com", "password": "whatever-123"},
        headers={"Origin": "https://evil.example"},
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"


async def test_bearer_auth_is_unchanged_and_cookies_do_not_add_to_it(
    live_server: str, http: httpx.AsyncClient, page: Page, context: BrowserContext
) -> None:
    await register(page, live_server)
    jar = "; ".join(f"{c['name']}={c['value']}" for c in await context.cookies())
    # A bad bearer token is judged alone: the valid cookie beside it does not rescue it.
    answer = await http.get(
        "/api/v1/users/me", headers={"Authorization": "Bearer not-a-token", "Cookie": jar}
    )
    assert answer.status_code == 401


async def test_an_expired_access_cookie_is_refreshed_by_the_page(
    live_server: str, http: httpx.AsyncClient, page: Page, context: BrowserContext
) -> None:
    email = await register(page, live_server)
    # The access cookie is gone stale (here: replaced by garbage); the refresh cookie remains.
    jar = await cookies_of(context)
    await context.add_cookies(
        [{"name": "rhythm_access", "value": "stale", "url": live_server, "httpOnly": True}]
    )
    await page.goto(live_server + "/account")
    await expect(page.get_by_role("heading", name="Account", level=1)).to_be_visible()
    me = await page.evaluate(
        """() => import(document.querySelector('link[href$="/app.js"]').href)
        .then((app) => app.api('/api/v1/users/me'))"""
    )
    assert me["email"] == email
    fresh = (await cookies_of(context))["rhythm_access"]["value"]
    assert fresh not in (jar["rhythm_access"]["value"], "stale")
    again = await http.get("/api/v1/users/me", headers={"Cookie": f"rhythm_access={fresh}"})
    assert again.json()["email"] == email


async def test_docs_work_offline(
    live_server: str, http: httpx.AsyncClient, page: Page, context: BrowserContext
) -> None:
    outside: list[str] = []

    async def only_rhythm(route: Route) -> None:
        if route.request.url.startswith(live_server):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_rhythm)
    await page.goto(live_server + "/docs")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("rhythm")
    await expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
    assert outside == []
