"""Every page can be used from the keyboard: the skip link comes first, and every control Tab
reaches shows a visible focus ring. And the session cookies are Secure off loopback."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from playwright.async_api import Page

from rhythm.web.pages import PAGES
from tests.factories import PASSWORD, create_user
from tests.web.browser import register

FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {
    tag: el.tagName,
    text: (el.innerText || el.value || el.getAttribute('aria-label') || '').slice(0, 40),
    outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
    visible: box.width > 0 && box.height > 0,
  };
}"""


async def test_tab_reaches_every_control_with_a_visible_focus_ring(
    live_server: str, page: Page
) -> None:
    await register(page, live_server)
    for entry in PAGES:
        if entry.public:
            continue
        await page.goto(live_server + entry.path, wait_until="networkidle")
        await page.keyboard.press("Tab")
        first = await page.evaluate(FOCUSED)
        assert first["text"] == "Skip to content", (entry.path, first)
        assert first["visible"] and first["outline"] != "none" and first["width"] >= 2
        seen = 0
        for _ in range(25):
            await page.keyboard.press("Tab")
            focused = await page.evaluate(FOCUSED)
            if focused["tag"] == "BODY":
                break
            seen += 1
            assert focused["outline"] != "none" and focused["width"] >= 2, (entry.path, focused)
        # The header alone holds the brand, seven page links and Sign out.
        assert seen >= 9, entry.path
        # The skip link moves focus to the page's content.
        await page.goto(live_server + entry.path, wait_until="networkidle")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")
        assert await page.evaluate("document.activeElement.id") == "main", entry.path


@pytest.mark.parametrize(
    ("host", "secure"),
    [("rhythm.example.org", True), ("127.0.0.1:8000", False), ("localhost:8000", False)],
)
async def test_session_cookies_are_secure_off_loopback(
    app: object, client: AsyncClient, host: str, secure: bool
) -> None:
    user = await create_user(app)  # type: ignore[arg-type]
    answer = await client.post(
        "/web/session",
        json={"email": user.email, "password": PASSWORD},
        headers={"Host": host},
    )
    assert answer.status_code == 200, answer.text
    cookies = answer.headers.get_list("set-cookie")
    assert len(cookies) == 3
    for cookie in cookies:
        assert ("; secure" in cookie.lower()) is secure, cookie
        assert "samesite=strict" in cookie.lower(), cookie
    assert "access_token" not in answer.text and "rt_" not in answer.text
