"""Category rules through the HTTP API: the defaults, CRUD, validation and bounds, and reports
per category."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import text

from rhythm.platform.resources import Resources
from rhythm.usage.categories import DEFAULT_RULES, MAX_RULES
from tests.factories import create_user, delete_account, problem
from tests.usage.test_usage_api import DAY, T0, hb, report, send

URL = "/api/v1/usage/categories"


def category(name: list[str], regex: str | None = None, ignore_case: bool = False) -> dict:
    rule = {"type": "none"} if regex is None else {"type": "regex", "regex": regex}
    return {"name": name, "rule": {**rule, "ignore_case": ignore_case}}


async def listed(client: AsyncClient, user) -> list[dict]:  # type: ignore[no-untyped-def]
    response = await client.get(URL, headers=user.headers)
    assert response.status_code == 200, response.text
    body: list[dict] = response.json()
    return body


async def created(client: AsyncClient, user, body: dict) -> dict:  # type: ignore[no-untyped-def]
    response = await client.post(URL, json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    out: dict = response.json()
    return out


async def test_a_new_account_has_aw_webuis_defaults(app, client: AsyncClient) -> None:
    user = await create_user(app)
    first = await listed(client, user)
    assert [c["name"] for c in first][:3] == [
        ["Work"],
        ["Work", "Programming"],
        ["Work", "Programming", "ActivityWatch"],
    ]
    assert len(first) == len(DEFAULT_RULES) == 16
    assert first[2]["rule"] == {"type": "regex", "regex": "ActivityWatch|aw-", "ignore_case": True}
    assert first[7] == {"id": first[7]["id"], "name": ["Media"], "rule": {
        "type": "none", "regex": None, "ignore_case": False}}  # fmt: skip
    assert await listed(client, user) == first  # written once
    # Deleting them all leaves none: they are not given again.
    for c in first:
        deleted = await client.delete(f"{URL}/{c['id']}", headers=user.headers)
        assert deleted.status_code == 204, deleted.text
    assert await listed(client, user) == []
    # A first write also starts from the defaults, in their order.
    other = await create_user(app)
    made = await created(client, other, category(["Reading"], "Kindle"))
    rules = await listed(client, other)
    assert len(rules) == 17 and rules[-1] == made and rules[0]["name"] == ["Work"]


async def test_create_update_delete_and_others_rules(app, client: AsyncClient) -> None:
    user = await create_user(app)
    stranger = await create_user(app)
    made = await created(client, user, category(["Work", "Rhythm"], "rhythm", True))
    assert made["name"] == ["Work", "Rhythm"]
    assert made["rule"] == {"type": "regex", "regex": "rhythm", "ignore_case": True}
    replaced = await client.put(
        f"{URL}/{made['id']}", json=category(["Work", "Rhythm"]), headers=user.headers
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {
        "id": made["id"],
        "name": ["Work", "Rhythm"],
        "rule": {"type": "none", "regex": None, "ignore_case": False},
    }
    assert (await listed(client, user))[-1] == replaced.json()
    # Another user's rule is not found, to read through a write or to delete.
    for response in (
        await client.put(
            f"{URL}/{made['id']}", json=category(["X"], "x"), headers=stranger.headers
        ),
        await client.delete(f"{URL}/{made['id']}", headers=stranger.headers),
        await client.delete(f"{URL}/{2**63 - 1}", headers=user.headers),
    ):
        assert problem(response, 404)["title"] == "Category not found"
    assert made["id"] not in [c["id"] for c in await listed(client, stranger)]
    assert (await listed(client, user))[-1]["id"] == made["id"]
    gone = await client.delete(f"{URL}/{made['id']}", headers=user.headers)
    assert gone.status_code == 204
    problem(await client.delete(f"{URL}/{made['id']}", headers=user.headers), 404)
    problem(await client.delete(f"{URL}/{2**63}", headers=user.headers), 422)
    problem(await client.delete(f"{URL}/0", headers=user.headers), 422)
    # Only ASCII digits name a rule: int() would read each of these as the first default's id.
    first = (await listed(client, user))[0]["id"]
    for spelled in (f"\u2028{first}", f"+{first}", f" {first}", f"0{first}", chr(0x660 + first)):
        problem(await client.delete(f"{URL}/{spelled}", headers=user.headers), 422)
    assert (await listed(client, user))[0]["id"] == first


async def test_rules_are_validated(app, client: AsyncClient) -> None:
    user = await create_user(app)
    cases = [
        (category(["X"], "a)("), "rule.regex"),
        (category(["X"], "(?=lookahead)"), "rule.regex"),
        (category(["X"], "(a)\\1"), "rule.regex"),
        (category(["X"], "a" * 1001), "rule.regex"),
        (category(["X"], ""), "rule.regex"),
        ({"name": ["X"], "rule": {"type": "regex"}}, "rule"),
        ({"name": ["X"], "rule": {"type": "none", "regex": "x"}}, "rule"),
        ({"name": ["X"], "rule": {"type": "glob", "regex": "x"}}, "rule.type"),
        (category([], "x"), "name"),
        (category(["x"] * 11, "x"), "name"),
        (category([""], "x"), "name.0"),
        (category(["a\nb"], "x"), "name.0"),
        (category(["y" * 129], "x"), "name.0"),
        ({**category(["X"], "x"), "color": "#fff"}, "color"),
        (category(["X"], "\\ud800"), "rule.regex"),  # a lone surrogate, escaped in the JSON
        (category(["\\ud800"], "x"), "name.0"),
        (category(["X"], "nul\\u0000"), "rule.regex"),
    ]
    for body, field in cases:
        response = await client.post(
            URL,
            content=json.dumps(body).replace("\\\\u", "\\u"),
            headers={**user.headers, "Content-Type": "application/json"},
        )
        fields = [e["field"] for e in problem(response, 422)["errors"]]
        assert field in fields, (body, fields)
    assert (
        "invalid regex"
        in problem(await client.post(URL, json=category(["X"], "a)("), headers=user.headers), 422)[
            "errors"
        ][0]["message"]
    )
    assert len(await listed(client, user)) == len(DEFAULT_RULES)  # nothing was saved
    assert (await created(client, user, category(["X"], "a" * 1000)))["rule"]["regex"] == "a" * 1000


async def test_at_most_500_rules(app, client: AsyncClient) -> None:
    user = await create_user(app)
    for i in range(MAX_RULES - len(DEFAULT_RULES)):
        await created(client, user, category(["Many", str(i)], f"m{i}"))
    refused = problem(
        await client.post(URL, json=category(["One", "more"], "x"), headers=user.headers), 409
    )
    assert refused["title"] == "Too many categories" and "500" in refused["detail"]
    rules = await listed(client, user)
    assert len(rules) == MAX_RULES
    assert (await client.delete(f"{URL}/{rules[0]['id']}", headers=user.headers)).status_code == 204
    await created(client, user, category(["One", "more"], "x"))


async def test_reads_need_read_and_writes_need_write(app, client: AsyncClient) -> None:
    user = await create_user(app)
    key = await client.post("/api/v1/auth/api-keys", json={"name": "tracker"}, headers=user.headers)
    assert key.status_code == 201, key.text
    headers = {"Authorization": f"Bearer {key.json()['key']}"}  # usage and read
    assert (await client.get(URL, headers=headers)).status_code == 200
    problem(await client.post(URL, json=category(["X"], "x"), headers=headers), 403)
    problem(await client.get(URL), 401)


async def test_report_by_category(app, client: AsyncClient) -> None:
    user = await create_user(app)
    await send(
        client,
        user.headers,
        hb(T0, "vim", duration=600),  # Work > Programming
        hb(T0 + timedelta(seconds=600), "Firefox", title="GitHub - ActivityWatch", duration=300),
        hb(T0 + timedelta(seconds=900), "Spotify", duration=100),  # Media > Music
        hb(T0 + timedelta(seconds=1000), "Terminal", duration=30),  # Uncategorized
    )
    # Another device at the same time: counted once.
    await send(
        client,
        user.headers,
        hb(T0 + timedelta(seconds=100), "gvim", source="desktop", duration=100),
    )
    usage = await report(client, user, date=DAY.isoformat(), timezone="UTC", group_by="category")
    assert usage["total_seconds"] == 1030
    assert usage["items"] == [
        {"key": "Work", "seconds": 900.0},
        {"key": "Work > Programming", "seconds": 900.0},
        {"key": "Work > Programming > ActivityWatch", "seconds": 300.0},
        {"key": "Media", "seconds": 100.0},
        {"key": "Media > Music", "seconds": 100.0},
        {"key": "Uncategorized", "seconds": 30.0},
    ]
    # A new rule changes the past at once: deeper than `Work > Programming` for vim.
    await created(client, user, category(["Work", "Programming", "Editor"], "^g?vim$"))
    rules = await listed(client, user)
    music = next(c for c in rules if c["name"] == ["Media", "Music"])
    assert (await client.delete(f"{URL}/{music['id']}", headers=user.headers)).status_code == 204
    again = await report(client, user, date=DAY.isoformat(), timezone="UTC", group_by="category")
    assert again["total_seconds"] == 1030
    assert again["items"] == [
        {"key": "Work", "seconds": 900.0},
        {"key": "Work > Programming", "seconds": 900.0},
        {"key": "Work > Programming > Editor", "seconds": 600.0},
        {"key": "Work > Programming > ActivityWatch", "seconds": 300.0},
        {"key": "Uncategorized", "seconds": 130.0},
    ]
    # The other users' rules and reports are their own.
    other = await create_user(app)
    empty = await report(client, other, date=DAY.isoformat(), group_by="category")
    assert empty["total_seconds"] == 0 and empty["items"] == []


async def test_category_days_split_at_local_midnight(app, client: AsyncClient) -> None:
    user = await create_user(app, timezone="Europe/Paris")
    # 22:50 to 23:10 UTC on 10 November: 23:50 to 00:10 in Paris.
    start = datetime(2026, 11, 10, 22, 50, tzinfo=UTC)
    await send(
        client,
        user.headers,
        hb(start, "Thunderbird", pulsetime=600),
        hb(start + timedelta(minutes=10), "Thunderbird", pulsetime=600),
        hb(start + timedelta(minutes=20), "Thunderbird", pulsetime=600),
    )
    ranged = await report(
        client, user, **{"from": "2026-11-10", "to": "2026-11-12", "group_by": "category"}
    )
    email = [{"key": "Comms", "seconds": 600}, {"key": "Comms > Email", "seconds": 600}]
    assert [(d["date"], d["total_seconds"], d["items"]) for d in ranged["days"]] == [
        ("2026-11-10", 600, email),
        ("2026-11-11", 600, email),
        ("2026-11-12", 0, []),
    ]
    utc = await report(client, user, date="2026-11-10", timezone="UTC", group_by="category")
    assert utc["total_seconds"] == 1200


async def test_an_erased_account_takes_its_rules(app, client: AsyncClient) -> None:
    user = await create_user(app)
    await created(client, user, category(["Mine"], "mine"))
    assert (await delete_account(client, user)).status_code == 204
    async with app.state.services[Resources].session_factory() as session:
        left = await session.scalar(
            text(
                "SELECT (SELECT count(*) FROM usage_categories WHERE user_id = :u)"
                " + (SELECT count(*) FROM usage_category_seeds WHERE user_id = :u)"
            ),
            {"u": user.id},
        )
    assert left == 0
