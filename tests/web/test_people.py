"""The people page in a real browser: find a user by name, follow and unfollow them, and see
who you follow and who follows you change after each action."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from playwright.async_api import Page, expect

from tests.web.browser import PASSWORD, PHONE, axe_violations, new_email, register, screenshots


async def api_user(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    """The bearer headers of a user registered through the API."""
    answer = await http.post(
        "/api/v1/auth/register",
        json={"email": new_email("api"), "password": PASSWORD, "name": name},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return {"Authorization": f"Bearer {body['access_token']}"}


async def test_find_follow_unfollow_and_be_followed_back(
    live_server: str, http: httpx.AsyncClient, page: Page, screenshot_folder: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    me, other = f"Ada {tag}", f"Grace {tag}"
    await register(page, live_server, name=me)
    grace = await api_user(http, other)
    await page.goto(live_server + "/people")
    following = page.get_by_role("list", name="People you follow")
    followers = page.locator("#people-followers")
    await expect(page.locator("#people-following")).to_contain_text("You follow nobody yet")

    # The prefix, in another case, finds her.
    await page.get_by_label("Name", exact=True).fill(f"grace {tag}")
    await page.get_by_role("button", name="Search").click()
    results = page.get_by_role("list", name="Search results")
    await expect(results.get_by_role("listitem")).to_have_count(1)
    await expect(results).to_contain_text(other)
    await results.get_by_role("button", name=f"Follow {other}").click()
    await expect(following.get_by_role("listitem")).to_have_count(1)
    await expect(following).to_contain_text(other)
    await expect(results.get_by_role("button", name=f"Unfollow {other}")).to_be_visible()

    await following.get_by_role("button", name=f"Unfollow {other}").click()
    await expect(page.locator("#people-following")).to_contain_text("You follow nobody yet")
    await expect(results.get_by_role("button", name=f"Follow {other}")).to_be_visible()

    # She follows Ada; Ada sees her among the followers and follows her back from there.
    followed = await http.put(f"/api/v1/users/me/following/{await my_id(page)}", headers=grace)
    assert followed.status_code == 201, followed.text
    await page.reload()
    await expect(followers).to_contain_text(other)
    await expect(followers).to_contain_text("Follows you since")
    await followers.get_by_role("button", name=f"Follow {other}").click()
    await expect(following).to_contain_text(other)
    await expect(followers.get_by_role("button", name=f"Unfollow {other}")).to_be_visible()

    # Searching for yourself shows you, without a button.
    await page.get_by_label("Name", exact=True).fill(me)
    await page.get_by_role("button", name="Search").click()
    await expect(results).to_contain_text("(you)")
    await expect(results.get_by_role("button")).to_have_count(0)

    assert await axe_violations(page) == []
    taken = await screenshots(page, "people", screenshot_folder)
    assert all(path.stat().st_size > 0 for path in taken)
    await page.set_viewport_size(PHONE)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


async def my_id(page: Page) -> str:
    """The signed-in browser's user id, read as the page reads it."""
    me = await page.evaluate(
        """() => import(document.querySelector('link[href$="/app.js"]').href)
        .then((app) => app.api('/api/v1/users/me'))"""
    )
    return str(me["id"])


async def test_searches_read_as_messages(live_server: str, page: Page) -> None:
    await register(page, live_server, name=f"Lin {uuid.uuid4().hex[:6]}")
    await page.goto(live_server + "/people")
    search = page.locator("#people-search")
    nobody = f"Nobody {uuid.uuid4().hex}"
    await page.get_by_label("Name", exact=True).fill(nobody)
    await page.get_by_role("button", name="Search").click()
    status = search.get_by_role("status")
    await expect(status).to_have_text(f"Nobody's name starts with \u201c{nobody}\u201d.")
    # Blanks only: the API refuses an empty name, and says so.
    await page.get_by_label("Name", exact=True).fill("   ")
    await page.get_by_role("button", name="Search").click()
    alert = search.get_by_role("alert")
    await expect(alert).to_contain_text("Could not search")
    assert "{" not in await alert.inner_text()
    assert await axe_violations(page) == []


async def api_private_user(http: httpx.AsyncClient, name: str) -> tuple[str, dict[str, str]]:
    """(id, bearer headers) of a private account registered through the API."""
    answer = await http.post(
        "/api/v1/auth/register",
        json={
            "email": new_email("api"),
            "password": PASSWORD,
            "name": name,
            "visibility": "private",
        },
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["user"]["id"], {"Authorization": f"Bearer {body['access_token']}"}


async def test_requests_to_follow_private_accounts_and_blocks(
    live_server: str, http: httpx.AsyncClient, page: Page, screenshot_folder: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    me, grace_name, lin_name = f"Ada {tag}", f"Grace {tag}", f"Lin {tag}"
    await register(page, live_server, name=me)
    _, grace = await api_private_user(http, grace_name)
    await page.goto(live_server + "/people")
    sent = page.locator("#people-sent")
    requests = page.locator("#people-requests")
    blocked = page.locator("#people-blocks")
    await expect(requests).to_contain_text("Your account is public.")
    await expect(requests).to_contain_text("Nobody is waiting for your approval.")

    # Following a private account asks: the search result and "Your requests" say so.
    await page.get_by_label("Name", exact=True).fill(grace_name)
    await page.get_by_role("button", name="Search").click()
    results = page.get_by_role("list", name="Search results")
    await results.get_by_role("button", name=f"Follow {grace_name}").click()
    mine = page.get_by_role("list", name="Your requests to follow")
    await expect(mine.get_by_role("listitem")).to_have_count(1)
    await expect(mine).to_contain_text(grace_name)
    await expect(mine).to_contain_text("Asked")
    cancel = f"Cancel request to follow {grace_name}"
    await expect(results.get_by_role("button", name=cancel)).to_be_visible()
    await expect(page.locator("#people-following")).to_contain_text("You follow nobody yet")
    # Cancelled from the list of requests.
    await mine.get_by_role("button", name=cancel).click()
    await expect(sent).to_contain_text("No request of yours is waiting")
    await expect(results.get_by_role("button", name=f"Follow {grace_name}")).to_be_visible()

    # Ada goes private: Grace and Lin ask; Ada approves Grace and declines Lin.
    made_private = """() => import(document.querySelector('link[href$="/app.js"]').href)
        .then((app) => app.api('/api/v1/users/me',
                               {method: 'PATCH', body: {visibility: 'private'}}))"""
    ada = (await page.evaluate(made_private))["id"]
    _, lin = await api_private_user(http, lin_name)
    for headers in (grace, lin):
        asked = await http.put(f"/api/v1/users/me/following/{ada}", headers=headers)
        assert asked.status_code == 202, asked.text
    await page.reload()
    await expect(requests).to_contain_text("Your account is private.")
    incoming = page.get_by_role("list", name="Requests to follow you")
    await expect(incoming.get_by_role("listitem")).to_have_count(2)
    await incoming.get_by_role("button", name=f"Approve {grace_name}").click()
    followers = page.get_by_role("list", name="People who follow you")
    await expect(followers).to_contain_text(grace_name)
    await expect(incoming.get_by_role("listitem")).to_have_count(1)
    await incoming.get_by_role("button", name=f"Decline {lin_name}").click()
    await expect(requests).to_contain_text("Nobody is waiting for your approval.")
    assert (await http.get("/api/v1/users/me/follow-requests/sent", headers=lin)).json()[
        "data"
    ] == []

    # Blocking Grace from the followers list: she is neither follower nor found any more.
    await followers.get_by_role("button", name=f"Block {grace_name}").click()
    people_blocked = page.get_by_role("list", name="People you block")
    await expect(people_blocked).to_contain_text(grace_name)
    await expect(page.locator("#people-followers")).to_contain_text("Nobody follows you yet.")
    assert (await http.get(f"/api/v1/users/{ada}", headers=grace)).status_code == 404
    assert await axe_violations(page) == []
    taken = await screenshots(page, "people-requests", screenshot_folder)
    assert all(path.stat().st_size > 0 for path in taken)
    await page.set_viewport_size(PHONE)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await people_blocked.get_by_role("button", name=f"Unblock {grace_name}").click()
    await expect(blocked).to_contain_text("You block nobody.")
    assert (await http.get(f"/api/v1/users/{ada}", headers=grace)).status_code == 200
