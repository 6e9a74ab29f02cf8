"""Issue 12's differential test: rhythm's active-time report against aw-server's canonical query.

The same window, AFK and web-tab buckets (a few hours across local midnight; AFK gaps, audible
tabs, tabs playing while another app has focus, two browsers, several apps and domains; a
second host with no AFK bucket) go to the real aw-server and to rhythm (both through
/api/0). aw-server answers aw-webui's canonical query (src/queries.ts: canonicalEvents with
browserEvents, include_audible and the categories, as fullDesktopQuery uses it) for each host
and local day; rhythm answers GET /api/v1/usage/report. Per app, per domain and per category,
each day's seconds agree within 1 s, and the same keys have time on both sides.

The categories are aw-webui's defaults, taken from rhythm's copy (usage.categories.DEFAULT_RULES,
what a new account starts with) so both sides run identical rules. aw-server returns each
event's deepest category (`$category`); the test adds every path's time to its ancestors, as
rhythm's `group_by=category` counts a path with everything below it. Window titles are chosen
so that several categories get time, some titles match two rules of one depth (the later rule
wins, as aw-core's categorize picks) and some match nothing (`Uncategorized`).
"""

from __future__ import annotations

import json
import os
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from rhythm.usage.categories import DEFAULT_RULES, SEPARATOR, UNCATEGORIZED
from tests.usage.awserver import run_aw_server
from tests.usage.test_activitywatch import aw_python  # noqa: F401 (a fixture)

ZONE = "Europe/Paris"
DAYS = (date(2024, 3, 1), date(2024, 3, 2))
LAPTOP, DESKTOP = "laptop", "desktop"
WINDOW = "aw-watcher-window_{}"
AFK = "aw-watcher-afk_{}"
WEB = {"firefox": "aw-watcher-web-firefox_laptop", "chrome": "aw-watcher-web-chrome_laptop"}
BROWSER_APPS = {"firefox": "Firefox", "chrome": "Google-chrome"}
# aw-webui's browser_appnames and browser_appname_regex for these two browsers.
BROWSER_MATCH = {
    "firefox": (
        ["org.mozilla.firefox", "io.gitlab.librewolf-community", "net.waterfox.waterfox"],
        "(?i)(firefox|librewolf|waterfox|nightly)",
    ),
    "chrome": (
        ["com.google.Chrome", "com.google.ChromeDev", "org.chromium.Chromium"],
        "(?i)^(google[-_ ]?chrome|chrome|chromium)",
    ),
}
# Three window titles per app, chosen for aw-webui's default categories (rhythm's
# DEFAULT_RULES): each app's time spreads over several categories and `Uncategorized`, a title
# can match two rules of one depth (the later rule wins) or a deeper rule under another match,
# and ignore-case rules meet other cases.
TITLES = {
    "code": (
        "reports.py - rhythm - Visual Studio Code",  # nothing: Uncategorized
        "classify.py - AW-CORE - Visual Studio Code",  # Work > Programming > ActivityWatch
        "notes.md - ReText",  # Work
    ),
    "Slack": (
        "general | Team - Slack",  # Comms > IM, on the app
        "GitHub notifications | Team - Slack",  # Work > Programming, Comms > IM: IM, the later
        "dev | Team - Slack",
    ),
    "gnome-terminal": ("vim categories.py", "pytest -x tests/usage", "htop"),
    "Firefox": (
        "rhythm/issues · GitHub - Mozilla Firefox",  # Work > Programming
        "lofi beats - YouTube - Mozilla Firefox",  # Media > Video
        "YouTube shared on REDDIT - Mozilla Firefox",  # Media > Video, Media > Social Media
    ),
    "Google-chrome": (
        "Hacker News - Google Chrome",
        "ActivityWatch docs - Google Chrome",  # Work > Programming > ActivityWatch
        "Quarterly plan - Google Docs - Google Chrome",  # Work
    ),
    "Steam": ("Steam", "RimWorld", "Library - Steam"),  # Media > Games
    "kitty": ("mutt", "~", "vim awserver.py"),  # Comms > Email, -, Work > Programming
    "Thunderbird": ("Inbox - Mozilla Thunderbird", "Write: standup", "Calendar"),
}
LAPTOP_APPS = ("code", "Slack", "gnome-terminal", "Firefox", "Google-chrome")
DESKTOP_APPS = ("Steam", "kitty", "Thunderbird")
SITES = ("github.com", "docs.python.org", "news.ycombinator.com", "youtube.com", "example.org")


def ms(seconds: float) -> float:
    return round(seconds, 3)


def event(at: datetime, seconds: float, data: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": at.isoformat(), "duration": ms(seconds), "data": data}


def gap(rng: random.Random) -> float:
    kind = rng.choices(("none", "short", "pulse", "over", "long"), (45, 25, 5, 15, 10))[0]
    if kind == "none":
        return 0.0
    if kind == "short":
        return rng.uniform(0.05, 4.9)
    if kind == "pulse":
        return 5.0
    if kind == "over":
        return rng.uniform(5.001, 9.0)
    return rng.uniform(30, 600)


def window_events(
    rng: random.Random, start: datetime, end: datetime, apps: tuple[str, ...]
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    t = start
    while t < end:
        app = rng.choice(apps)
        length = rng.choice((0.0, rng.uniform(0.5, 20), rng.uniform(20, 400)))
        title = TITLES[app][rng.randrange(3)]
        events.append(event(t, length, {"app": app, "title": title}))
        t += timedelta(seconds=ms(length) + ms(gap(rng)))
        t = t.replace(microsecond=t.microsecond // 1000 * 1000)
    return events


def web_events(rng: random.Random, windows: list[dict[str, Any]], app: str) -> list[dict[str, Any]]:
    """Tabs of one browser: while its window has focus (starting a little late, ending a
    little past it), and sometimes while another app has focus (a video playing)."""
    events: list[dict[str, Any]] = []
    last_end = datetime.min.replace(tzinfo=UTC)
    for w in windows:
        start = datetime.fromisoformat(w["timestamp"])
        focused = w["data"]["app"] == app
        if not focused and rng.random() > 0.05:
            continue
        t = max(start + timedelta(seconds=ms(rng.uniform(0, 1.5))), last_end)
        end = start + timedelta(seconds=w["duration"] + ms(rng.uniform(0, 3)))
        while t < end:
            length = ms(min(rng.uniform(1, 120), (end - t).total_seconds()))
            site = rng.choice(SITES)
            data = {
                "url": f"https://www.{site}/page{rng.randrange(3)}",
                "title": site,
                "audible": rng.random() < (0.6 if not focused else 0.2),
                "incognito": False,
                "tabCount": rng.randrange(1, 9),
            }
            events.append(event(t, length, data))
            t += timedelta(seconds=length + ms(rng.choice((0, 0, rng.uniform(0.1, 6)))))
            t = t.replace(microsecond=t.microsecond // 1000 * 1000)
        last_end = t
    return events


def afk_events(rng: random.Random, start: datetime, end: datetime) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    t = start
    active = True
    while t < end:
        length = ms(rng.uniform(300, 1800) if active else rng.uniform(60, 900))
        events.append(event(t, length, {"status": "not-afk" if active else "afk"}))
        t += timedelta(seconds=length + ms(rng.choice((0, 0, 0, rng.uniform(0.1, 4)))))
        active = not active
    return events


def buckets() -> dict[str, tuple[str, str, list[dict[str, Any]]]]:
    """bucket id -> (type, hostname, events)."""
    rng = random.Random(12)
    zone = ZoneInfo(ZONE)
    a0 = datetime(2024, 3, 1, 22, 30, tzinfo=zone).astimezone(UTC)
    a1 = a0 + timedelta(hours=3)
    laptop = window_events(rng, a0, a1, LAPTOP_APPS)
    out = {
        WINDOW.format(LAPTOP): ("currentwindow", LAPTOP, laptop),
        AFK.format(LAPTOP): ("afkstatus", LAPTOP, afk_events(rng, a0 - timedelta(minutes=5), a1)),
        WINDOW.format(DESKTOP): (
            "currentwindow",
            DESKTOP,
            window_events(rng, a1 + timedelta(minutes=10), a1 + timedelta(hours=2), DESKTOP_APPS),
        ),
    }
    for browser, bucket in WEB.items():
        out[bucket] = ("web.tab.current", LAPTOP, web_events(rng, laptop, BROWSER_APPS[browser]))
    return out


def query_classes() -> str:
    """rhythm's default categories as aw-webui's categories store gives them to a query
    (`classes_for_query`: [name, rule] pairs, leaving out `Uncategorized`, whose rule type is
    null; `none` rules stay) and as canonicalEvents writes them into it (JSON.stringify, then
    `\\\\` back to `\\`)."""
    classes: list[list[Any]] = []
    for rule in DEFAULT_RULES:
        if rule.path == UNCATEGORIZED:
            continue
        body: dict[str, Any] = {"type": "none"}
        if rule.regex is not None:
            body = {"type": "regex", "regex": rule.regex}
            if rule.ignore_case:
                body["ignore_case"] = True
        classes.append([list(rule.path), body])
    text = json.dumps(classes, separators=(",", ":"), ensure_ascii=False)
    return text.replace("\\\\", "\\")


def canonical_query(host: str, with_afk: bool, with_browsers: bool, returned: str) -> list[str]:
    """aw-webui's fullDesktopQuery (canonicalEvents, browserEvents, include_audible, the
    default categories) for a host, as its query strings; per app, per domain and per category
    durations."""
    lines = [f'events = flood(query_bucket("{WINDOW.format(host)}"));']
    if with_afk:
        lines += [
            f'not_afk = flood(query_bucket("{AFK.format(host)}"));',
            'not_afk = filter_keyvals(not_afk, "status", ["not-afk"]);',
        ]
    lines.append("browser_events = [];")
    if with_browsers:
        for browser, bucket in WEB.items():
            names, pattern = BROWSER_MATCH[browser]
            lines += [
                f'events_{browser} = flood(query_bucket("{bucket}"));',
                f'window_{browser} = filter_keyvals(events, "app", {json.dumps(names)});',
                f"window_{browser}_re = "
                f'filter_keyvals_regex(events, "app", {json.dumps(pattern)});',
                f"window_{browser} = sort_by_timestamp(concat(window_{browser}, "
                f"window_{browser}_re));",
                f"events_{browser} = filter_period_intersect(events_{browser}, window_{browser});",
                f"events_{browser} = split_url_events(events_{browser});",
                f"browser_events = concat(browser_events, events_{browser});",
                "browser_events = sort_by_timestamp(browser_events);",
            ]
    if with_afk:
        lines += [
            'audible_events = filter_keyvals(browser_events, "audible", [true]);',
            "not_afk = period_union(not_afk, audible_events);",
            "events = filter_period_intersect(events, not_afk);",
        ]
    lines += [
        f"events = categorize(events, {query_classes()});",
        'title_events = merge_events_by_keys(events, ["app", "title"]);',
        'app_events = merge_events_by_keys(title_events, ["app"]);',
        'cat_events = merge_events_by_keys(events, ["$category"]);',
        "browser_events = split_url_events(browser_events);",
        'browser_domains = merge_events_by_keys(browser_events, ["$domain"]);',
        # aw-server 0.12.0 serialises a list of events as RETURN, not a dict holding them (as
        # aw-webui's RETURN is, for aw-server-rust): one query per list.
        f"RETURN = {returned};",
    ]
    return lines


def aw_figures(base: str, client: httpx.Client) -> dict[date, dict[str, Any]]:
    zone = ZoneInfo(ZONE)
    figures: dict[date, dict[str, Any]] = {}
    for day in DAYS:
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        end = start + timedelta(days=1)
        apps: dict[str, float] = {}
        domains: dict[str, float] = {}
        categories: dict[str, float] = {}
        total = 0.0
        for host, with_afk, with_browsers in ((LAPTOP, True, True), (DESKTOP, False, False)):
            results = {}
            for returned in ("app_events", "browser_domains", "cat_events"):
                answer = client.post(
                    base + "/api/0/query/",
                    json={
                        "timeperiods": [f"{start.isoformat()}/{end.isoformat()}"],
                        "query": canonical_query(host, with_afk, with_browsers, returned),
                    },
                )
                assert answer.status_code == 200, answer.text[-2000:]
                (results[returned],) = answer.json()
            for e in results["app_events"]:
                apps[e["data"]["app"]] = apps.get(e["data"]["app"], 0.0) + e["duration"]
                total += e["duration"]
            for e in results["browser_domains"]:
                key = e["data"].get("$domain")
                if key:
                    domains[key] = domains.get(key, 0.0) + e["duration"]
            # aw-server gives each event its deepest category; rhythm's report counts a path
            # with everything below it (`Work` holds `Work > Programming`).
            for e in results["cat_events"]:
                path = e["data"]["$category"]
                for depth in range(1, len(path) + 1):
                    key = SEPARATOR.join(path[:depth])
                    categories[key] = categories.get(key, 0.0) + e["duration"]
        figures[day] = {
            "apps": apps,
            "domains": domains,
            "categories": categories,
            "total": total,
        }
    return figures


def load(base: str, client: httpx.Client, auth: Any = None) -> None:
    extra = {} if auth is None else {"auth": auth}
    for bucket, (type_, host, events) in buckets().items():
        made = client.post(
            f"{base}/api/0/buckets/{bucket}",
            json={"client": "difftest", "type": type_, "hostname": host},
            **extra,
        )
        assert made.status_code == 200, made.text
        sent = client.post(f"{base}/api/0/buckets/{bucket}/events", json=events, **extra)
        assert sent.status_code == 200, sent.text


def account(base: str) -> tuple[str, str]:
    """A new account on the live server: its bearer token and an API key."""
    made = httpx.post(
        base + "/api/v1/auth/register",
        json={
            "email": f"active-{uuid.uuid4().hex[:10]}@example.com",
            "password": "aw-password-123",
            "name": "Active",
        },
    )
    assert made.status_code == 201, made.text
    token: str = made.json()["access_token"]
    key = httpx.post(
        base + "/api/v1/auth/api-keys",
        json={"name": "aw"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert key.status_code == 201, key.text
    return token, key.json()["key"]


def rhythm_figures(base: str, token: str, client: httpx.Client) -> dict[date, dict[str, Any]]:
    figures: dict[date, dict[str, Any]] = {day: {} for day in DAYS}
    for group_by, name in (("app", "apps"), ("domain", "domains"), ("category", "categories")):
        got = client.get(
            base + "/api/v1/usage/report",
            params={
                "from": DAYS[0].isoformat(),
                "to": DAYS[-1].isoformat(),
                "timezone": ZONE,
                "group_by": group_by,
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert got.status_code == 200, got.text
        for day in got.json()["days"]:
            found = figures[date.fromisoformat(day["date"])]
            found[name] = {i["key"]: i["seconds"] for i in day["items"]}
            found["total"] = day["total_seconds"]
    return figures


# aw-server 0.12.0 gives Flask its JSON encoder as `app.json_encoder` (datetimes as ISO 8601,
# timedeltas as seconds), which Flask 2.3 no longer reads: a query result holding events then
# fails to serialise. This restores that encoder in the aw-server process only.
AW_JSON_FIX = """
from datetime import datetime, timedelta
import flask.json.provider as provider

_flask_default = provider._default

def _aw_default(o):
    if isinstance(o, datetime):
        return o.isoformat()
    if isinstance(o, timedelta):
        return o.total_seconds()
    return _flask_default(o)

provider._default = _aw_default
provider.DefaultJSONProvider.default = staticmethod(_aw_default)
"""


def test_active_time_agrees_with_aw_server_per_app_domain_and_category(
    live_server: str,
    aw_python: Path,  # noqa: F811 (the fixture)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "sitecustomize.py").write_text(AW_JSON_FIX)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    with run_aw_server(aw_python) as aw, httpx.Client(timeout=60) as client:
        load(aw, client)
        expected = aw_figures(aw, client)
    token, key = account(live_server)
    with httpx.Client(timeout=60) as client:
        load(live_server, client, auth=(key, ""))
        got = rhythm_figures(live_server, token, client)
        everything = client.get(
            live_server + "/api/v1/usage/report",
            params={"date": DAYS[0].isoformat(), "timezone": ZONE, "count": "all"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
    print(json.dumps({str(d): {"aw": expected[d], "rhythm": got[d]} for d in DAYS}, indent=1))
    for day in DAYS:
        want, have = expected[day], got[day]
        assert {k for k, v in have["apps"].items() if v > 0} == {
            k for k, v in want["apps"].items() if v > 0
        }, day
        for app, seconds in want["apps"].items():
            assert abs(have["apps"].get(app, 0.0) - seconds) <= 1.0, (day, app)
        assert {k for k, v in have["domains"].items() if v > 0} == {
            k for k, v in want["domains"].items() if v > 0
        }, day
        for domain, seconds in want["domains"].items():
            assert abs(have["domains"].get(domain, 0.0) - seconds) <= 1.0, (day, domain)
        assert {k for k, v in have["categories"].items() if v > 0} == {
            k for k, v in want["categories"].items() if v > 0
        }, day
        for category, seconds in want["categories"].items():
            assert abs(have["categories"].get(category, 0.0) - seconds) <= 1.0, (day, category)
        assert abs(have["total"] - want["total"]) <= 1.0, day
    # The data are such that AFK time matters: every second counts far more.
    assert everything["total_seconds"] > got[DAYS[0]]["total"] + 600
    assert sum(expected[DAYS[0]]["apps"].values()) > 1800
    assert sum(expected[DAYS[1]]["domains"].values()) > 300
    # Several categories hold real time each day, among them a nested one and Uncategorized.
    for day in DAYS:
        busy = {k for k, v in expected[day]["categories"].items() if v > 60}
        assert len(busy) >= 4, (day, busy)
        assert "Uncategorized" in busy, (day, busy)
        assert any(SEPARATOR in k for k in busy), (day, busy)
