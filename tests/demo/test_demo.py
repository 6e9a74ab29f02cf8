"""`rhythm demo` as an operator runs it, on a fresh database, and what a user then sees of the
demo world through the API: the printed logins work, fifty people in many zones follow each
other, a long streak that a freeze saved, a week of usage on two computers with AFK breaks and
categories, the catalog; and a second run refuses unless --reset."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from rhythm.demo import world
from rhythm.migrations import upgrade
from rhythm.platform.settings import Settings
from tests.conftest import free_port, make_settings, serving, wait_until_up

pytestmark = pytest.mark.e2e

LOGIN = re.compile(r"^  (\S+@\S+)\s+(\S+)\s+(.+)$")


@pytest.fixture
def instance(scratch_database: str, redis_url: str) -> Iterator[Settings]:
    """A fresh, migrated database of its own and this worker's Redis database, emptied."""
    upgrade(scratch_database)
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    yield make_settings(scratch_database, redis_url)
    redis.flushdb()
    redis.close()


def demo(settings: Settings, *args: str, answer: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RHYTHM_DATABASE_URL": settings.database_url or "",
        "RHYTHM_REDIS_URL": settings.redis_url or "",
        "RHYTHM_SECRET_KEY": "operator-secret-key-0123456789-abcdefghij",
    }
    return subprocess.run(
        [sys.executable, "-m", "rhythm", "demo", *args],
        env=env,
        input=answer,
        capture_output=True,
        text=True,
        timeout=600,
    )


def logins(result: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    """The (email, password) pairs printed, once the output is checked to be what it should:
    progress on stderr, the logins, and a one-line summary last on stdout."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "Building the demo world:" in result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("Demo world ready: 50 people in ")
    found = [m.groups() for line in lines if (m := LOGIN.match(line))]
    assert len(found) == 2, result.stdout
    return [(email, password) for email, password, _ in found]


def sign_in(base: str, email: str, password: str) -> dict[str, str]:
    response = httpx.post(base + "/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def get(base: str, path: str, headers: dict[str, str], **params: Any) -> Any:
    response = httpx.get(base + path, headers=headers, params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_demo_world_in_one_command(instance: Settings) -> None:
    first = demo(instance)
    (lucia_email, password), (kenji_email, kenji_password) = logins(first)
    assert lucia_email == world.email_of("Lucía Fernández")
    assert kenji_email == world.email_of("Kenji Watanabe")
    assert password == kenji_password  # every demo account has it

    with serving(instance) as (_, base):
        lucia = sign_in(base, lucia_email, password)
        kenji = sign_in(base, kenji_email, password)
        me = get(base, "/api/v1/users/me", lucia)
        assert me["timezone"] == "Europe/Madrid"
        today = date.fromisoformat(get(base, "/api/v1/me/today", lucia)["date"])

        # Fifty people: each name of the world is found by a search.
        found = set()
        for name, _ in world.PEOPLE:
            page = get(base, "/api/v1/users", lucia, q=name)["data"]
            found.update(u["id"] for u in page if u["name"] == name)
        assert len(found) == 50

        # Lucía follows people in many time zones, and sees how they slept last week.
        following = get(base, "/api/v1/users/me/following", lucia, limit=100)["data"]
        assert len(following) == len(world.LUCIA_FOLLOWS)
        nights = get(base, "/api/v1/sleep/following", lucia, limit=100)["data"]
        assert len({n["sleep_timezone"] for n in nights}) >= 6
        assert len({n["user"]["id"] for n in nights}) >= 10
        ranking = get(base, "/api/v1/sleep/rankings/weekly", lucia)["data"]
        assert len(ranking) >= 10

        # Private accounts: Kenji's, whom Lucía followed before, has requests waiting and a
        # block; Lucía has asked to follow another one.
        kenji_id = get(base, "/api/v1/users/me", kenji)["id"]
        assert get(base, f"/api/v1/users/{kenji_id}", lucia)["visibility"] == "private"
        assert kenji_id in {n["user"]["id"] for n in nights}
        waiting = get(base, "/api/v1/users/me/follow-requests", kenji)["data"]
        assert len(waiting) == 3
        assert len(get(base, "/api/v1/users/me/blocks", kenji)["data"]) == 1
        sent = get(base, "/api/v1/users/me/follow-requests/sent", lucia)["data"]
        assert [r["user"]["name"] for r in sent] == ["Hugo Moreau"]
        # Until Kenji answers, who asked sees nothing of his; Lucía, a follower, does.
        requester = sign_in(base, world.email_of(waiting[0]["user"]["name"]), password)
        streak_path = f"{base}/api/v1/users/{kenji_id}/streak"
        assert httpx.get(streak_path, headers=requester).status_code == 404
        assert httpx.get(streak_path, headers=lucia).status_code == 200

        # Her nights, some rated (only she sees the ratings).
        records = get(base, "/api/v1/sleep/records", lucia, limit=100)["data"]
        assert len(records) >= 50
        assert any(r["rating"] is not None for r in records)
        assert any(r["tags"] for r in records)
        assert all("rating" not in n for n in nights)

        # Her long focus streak, and the freeze that saved it.
        streak = get(base, f"/api/v1/users/{me['id']}/streak", lucia)
        assert streak["current_streak"] >= 79
        assert streak["longest_streak"] == streak["current_streak"]
        since = today - timedelta(days=streak["current_streak"])
        days = get(base, "/api/v1/focus/days", lucia, **{"from": str(since), "to": str(today)})
        assert [d["date"] for d in days if d["frozen"]] == [str(today - timedelta(days=40))]
        board = get(base, "/api/v1/focus/leaderboard", lucia)["data"]
        assert board[0]["user"]["id"] == me["id"]

        # A week of two computers: categories, and active time that leaves the AFK breaks out.
        week = {"from": str(today - timedelta(days=7)), "to": str(today)}
        active = get(base, "/api/v1/usage/report", lucia, group_by="category", **week)["days"]
        every = get(base, "/api/v1/usage/report", lucia, count="all", **week)["days"]
        assert sum(d["total_seconds"] for d in active) > 20 * 3600
        for counted, recorded in zip(active, every, strict=True):
            assert counted["total_seconds"] <= recorded["total_seconds"]
        assert sum(d["total_seconds"] for d in active) < sum(d["total_seconds"] for d in every)
        categories = {item["key"] for d in active for item in d["items"]}
        assert {"Work > Programming", "Work > Meetings", "Comms > IM", "Media > Games"} <= (
            categories
        )
        busy = max(active, key=lambda d: d["total_seconds"])["date"]
        timeline = get(base, "/api/v1/usage/timeline", lucia, date=busy)
        assert len(timeline["hosts"]) >= 1
        assert any(p["status"] == "afk" for h in timeline["hosts"] for p in h["afk"])

        # The catalog, synced from the sample feed.
        events = httpx.get(base + "/search").json()["data"]["events"]
        assert {"Camela en concierto", "Los Morancos"} <= {e["title"] for e in events}

    # A second run refuses, in one sentence, and changes nothing.
    again = demo(instance)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        "rhythm: this instance already holds data; `rhythm demo --reset` empties it and puts"
        " the demo world in its place."
    ]
    # --reset asks first; no is no.
    declined = demo(instance, "--reset", answer="n\n")
    assert declined.returncode == 1
    assert "Delete every account" in declined.stderr
    with serving(instance) as (_, base):
        sign_in(base, lucia_email, password)

    # --reset --yes replaces the world: the same fifty people, with a new password.
    reset = demo(instance, "--reset", "--yes", "--password", "a-password-for-scripts")
    assert logins(reset) == [
        (lucia_email, "a-password-for-scripts"),
        (kenji_email, "a-password-for-scripts"),
    ]
    assert "Emptying the instance." in reset.stderr
    with serving(instance) as (_, base):
        lucia = sign_in(base, lucia_email, "a-password-for-scripts")
        refused = httpx.post(
            base + "/api/v1/auth/login", json={"email": lucia_email, "password": password}
        )
        assert refused.status_code == 401
        assert len(get(base, "/api/v1/users", lucia, q="Lucía")["data"]) == 1
        events = httpx.get(base + "/search").json()["data"]["events"]
        assert {"Camela en concierto", "Los Morancos"} <= {e["title"] for e in events}


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data directory. Not under pytest's tmp_path: another pytest run on the machine
    makes that tree private to its owner again, and the embedded PostgreSQL runs as a user of
    its own."""
    path = Path(tempfile.mkdtemp(prefix="rhythm-demo-"))
    yield path / "data"
    shutil.rmtree(path, ignore_errors=True)


def test_make_demo_then_make_run_in_a_fresh_data_directory(data_dir: Path) -> None:
    """`make demo && make run` on the embedded default: the demo starts and stops the embedded
    servers itself, and the server started next on the same data directory signs its logins in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
    env.update(RHYTHM_DATA_DIR=str(data_dir), RHYTHM_PORT=str(free_port()))
    run = [sys.executable, "-m", "rhythm"]
    made = subprocess.run([*run, "demo"], env=env, capture_output=True, text=True, timeout=600)
    (email, password), _ = logins(made)
    refused = subprocess.run([*run, "demo"], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1, refused.stderr
    assert "already holds data" in refused.stderr

    server = subprocess.Popen(
        [*run, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{env['RHYTHM_PORT']}"
    try:
        wait_until_up(base + "/ready", timeout=120, process=server)
        lucia = sign_in(base, email, password)
        today = get(base, "/api/v1/me/today", lucia)
        assert today["focus"]["current_streak"] >= 79
        assert today["screen_time"]["total_seconds"] >= 0
        assert get(base, "/api/v1/users/me/following", lucia)["data"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    assert server.returncode == 0
