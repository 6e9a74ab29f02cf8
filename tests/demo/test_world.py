"""The demo world's plan (rhythm.demo.world), without a database: what `rhythm demo` writes is
a believable world, whatever the day and the hour it is made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from rhythm.demo import world
from rhythm.focus import streaks

# A winter and a summer day, at hours when different parts of the world are asleep.
MOMENTS = [
    datetime(2026, 1, 14, 3, 30, tzinfo=UTC),
    datetime(2026, 7, 2, 12, 0, tzinfo=UTC),
    datetime(2026, 3, 29, 21, 45, tzinfo=UTC),  # the night Europe moves its clocks
]


@pytest.fixture(params=MOMENTS, ids=[m.isoformat() for m in MOMENTS])
def now(request: pytest.FixtureRequest) -> datetime:
    moment: datetime = request.param
    return moment


def test_fifty_people_in_at_least_six_zones_public_and_private(now: datetime) -> None:
    plan = world.build(now)
    assert len(plan.people) == 50
    assert len({p.email for p in plan.people}) == 50
    assert all(p.email.isascii() and p.email.endswith("@example.com") for p in plan.people)
    assert len(plan.zones) >= 6
    assert {p.private for p in plan.people} == {True, False}
    assert not plan.people[world.LUCIA].private
    assert plan.people[world.KENJI].private


def test_follows_requests_and_blocks_agree(now: datetime) -> None:
    plan = world.build(now)
    follows = {(f.source, f.target) for f in plan.follows}
    requests = {(r.source, r.target) for r in plan.requests}
    blocks = {(b.source, b.target) for b in plan.blocks}
    assert len(follows) == len(plan.follows)
    edges = [*plan.follows, *plan.requests, *plan.blocks]
    assert all(now - timedelta(days=302) < e.since < now - timedelta(days=1) for e in edges)
    assert all(a != b for a, b in follows)
    assert {(world.LUCIA, f) for f in world.LUCIA_FOLLOWS} <= follows
    assert (world.KENJI, world.LUCIA) in follows
    # A request waits only where no follow is, and only for a private account.
    assert requests
    assert all(plan.people[b].private and (a, b) not in follows for a, b in requests)
    assert sum(b == world.KENJI for _, b in requests) == 3
    assert blocks
    for a, b in blocks:
        assert (a, b) not in follows and (b, a) not in follows
        assert (a, b) not in requests and (b, a) not in requests
    followers = {b for _, b in follows}
    assert len(followers) >= 45  # nearly everyone is followed by someone


def test_eight_weeks_of_nights_that_the_sleep_rules_accept(now: datetime) -> None:
    plan = world.build(now)
    for index, person in enumerate(plan.people):
        nights = sorted((n for n in plan.nights if n.person == index), key=lambda n: n.sleep_at)
        assert len(nights) >= 35, person.name
        assert now - nights[0].sleep_at >= timedelta(days=world.SLEEP_NIGHTS - 7)
        assert sum(n.wake_at is None for n in nights) <= 1
        for night, following in pairwise(nights):
            assert night.wake_at is not None  # only the latest can be open
            assert night.wake_at <= following.sleep_at  # no overlap
        for night in nights:
            assert night.sleep_at <= now
            if night.wake_at is not None:
                assert night.wake_at <= now
                assert timedelta(hours=3) < night.wake_at - night.sleep_at < timedelta(hours=13)
            bedtime = night.sleep_at.astimezone(ZoneInfo(person.timezone)).time()
            assert bedtime.hour >= 19 or bedtime.hour <= 4, (person.name, bedtime)
    rated = [n for n in plan.nights if n.rating is not None]
    assert 0.05 * len(plan.nights) < len(rated) < 0.6 * len(plan.nights)
    assert all(1 <= n.rating <= 5 for n in rated if n.rating is not None)
    assert all(n.wake_at is not None for n in rated)


def test_lucias_long_streak_is_saved_by_a_freeze(now: datetime) -> None:
    plan = world.build(now, qualify_minutes=30)
    zone = plan.people[world.LUCIA].timezone
    today = now.astimezone(ZoneInfo(zone)).date()
    minutes: dict[object, float] = {}
    for s in plan.focus:
        if s.person == world.LUCIA:
            day = s.started_at.astimezone(ZoneInfo(zone)).date()
            assert s.ended_at.astimezone(ZoneInfo(zone)).date() == day
            minutes[day] = minutes.get(day, 0) + (s.ended_at - s.started_at).seconds / 60
    qualified = [day for day, total in minutes.items() if total >= 30]
    streak = streaks.as_of(streaks.summarize(qualified), today)
    assert streak.current >= 79
    frozen = streaks.frozen_days(qualified, today)
    assert any(today - timedelta(days=streak.current) < day < today for day in frozen)


def test_focus_sessions_are_unique_past_and_qualify_at_the_threshold(now: datetime) -> None:
    plan = world.build(now, qualify_minutes=45)
    assert len({(s.person, s.session_id) for s in plan.focus}) == len(plan.focus)
    assert all(s.started_at < s.ended_at <= now for s in plan.focus)
    assert {s.person for s in plan.focus} == set(range(50))
    lucia = [s for s in plan.focus if s.person == world.LUCIA]
    # A qualified day holds at least the threshold's minutes.
    assert max((s.ended_at - s.started_at).seconds for s in lucia) >= 15 * 60


def test_two_computers_of_usage_with_afk_breaks_and_no_overlap(now: datetime) -> None:
    plan = world.build(now)
    assert [u.person for u in plan.usage] == list(world.LOGINS)
    for usage in plan.usage:
        assert len({b.hostname for b in usage.buckets}) == 2
        for bucket in usage.buckets:
            assert all(e.start.microsecond == 0 for e in bucket.events)
            ordered = sorted(bucket.events, key=lambda e: e.start)
            for event, following in pairwise(ordered):
                assert event.start + timedelta(seconds=event.seconds) <= following.start
            assert all(
                now - timedelta(days=world.USAGE_DAYS) <= e.start
                and e.start + timedelta(seconds=e.seconds) <= now
                for e in bucket.events
            )
        afk = [e.data["status"] for b in usage.buckets if b.type == "afkstatus" for e in b.events]
        assert set(afk) == {"afk", "not-afk"}
        apps = {e.data["app"] for b in usage.buckets if b.type == "currentwindow" for e in b.events}
        assert {"Alacritty", "Firefox", "Slack", "Minecraft"} <= apps
        assert any(b.type == "web.tab.current" and b.events for b in usage.buckets)


def test_the_same_day_gives_the_same_world() -> None:
    # 09:00 UTC: no zone of the world is near its midnight, so twenty minutes on is the same
    # day everywhere.
    morning = datetime(2026, 5, 5, 9, 0, tzinfo=UTC)
    first, again = world.build(morning), world.build(morning)
    assert first == again
    later = world.build(morning + timedelta(minutes=20))
    assert later.follows == first.follows
    # The same nights (an open one may have ended), focus sessions and usage; only what
    # happened in between is new, and a stretch of computer use still under way (at most
    # five hours long) is drawn to its new end.
    assert set(first.nights) - set(later.nights) <= {n for n in first.nights if n.wake_at is None}
    assert set(first.focus) <= set(later.focus)
    settled = morning - timedelta(hours=5)
    for before, after in zip(first.usage, later.usage, strict=True):
        for old, new in zip(before.buckets, after.buckets, strict=True):
            assert [e for e in old.events if e.start < settled] == [
                e for e in new.events if e.start < settled
            ]
            assert old.events and new.events
