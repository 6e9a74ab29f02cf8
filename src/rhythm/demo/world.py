"""The demo world of `rhythm demo`, as a plan: who lives in it, who follows, asks to follow and
blocks whom, and what each one logged (nights, focus sessions, two computers' usage), drawn from
one seeded generator around the moment it is made. Pure: no I/O; `seed.py` writes it through
the contexts' services.

Each person's nights, focus days and computers draw from generators of their own, and every
draw is made whatever the clock says before what lies in the future is left out: the same seed
on the same day gives the same world (stable screenshots), and another day the same world moved
along.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SEED = 14
SLEEP_NIGHTS = 8 * 7
FOCUS_DAYS = 8 * 7  # everyone's focus history, but the two logins' (below)
USAGE_DAYS = 8  # the last week, and today so far
EMAIL_DOMAIN = "example.com"

# (name, zone). The first two are the logins printed at the end: Lucía, public, with a long
# focus streak that a freeze saved and two computers' usage; Kenji, private, with follow
# requests waiting and a block.
PEOPLE: tuple[tuple[str, str], ...] = (
    ("Lucía Fernández", "Europe/Madrid"),
    ("Kenji Watanabe", "Asia/Tokyo"),
    ("Javier Morales", "Europe/Madrid"),
    ("Carmen Ruiz", "Europe/Madrid"),
    ("Pablo Navarro", "Europe/Madrid"),
    ("Elena Ortega", "Europe/Madrid"),
    ("Oliver Bennett", "Europe/London"),
    ("Amelia Hughes", "Europe/London"),
    ("Harry Clarke", "Europe/London"),
    ("Isla Murray", "Europe/London"),
    ("Jonas Becker", "Europe/Berlin"),
    ("Lena Hoffmann", "Europe/Berlin"),
    ("Felix Wagner", "Europe/Berlin"),
    ("Mia Schulz", "Europe/Berlin"),
    ("Astrid Lindqvist", "Europe/Stockholm"),
    ("Sofia Rossi", "Europe/Rome"),
    ("Matteo Bianchi", "Europe/Rome"),
    ("Émilie Laurent", "Europe/Paris"),
    ("Hugo Moreau", "Europe/Paris"),
    ("Ethan Brooks", "America/New_York"),
    ("Ava Thompson", "America/New_York"),
    ("Marcus Reed", "America/New_York"),
    ("Grace O'Connor", "America/New_York"),
    ("Daniel Cohen", "America/New_York"),
    ("Olivia Martin", "America/Chicago"),
    ("Jamal Washington", "America/Chicago"),
    ("Valentina Gómez", "America/Mexico_City"),
    ("Noah Kim", "America/Los_Angeles"),
    ("Chloe Nguyen", "America/Los_Angeles"),
    ("Diego Álvarez", "America/Los_Angeles"),
    ("Hannah Lee", "America/Los_Angeles"),
    ("Beatriz Costa", "America/Sao_Paulo"),
    ("Rafael Souza", "America/Sao_Paulo"),
    ("Camila Oliveira", "America/Sao_Paulo"),
    ("Chinedu Okafor", "Africa/Lagos"),
    ("Amara Nwosu", "Africa/Lagos"),
    ("Wanjiru Kamau", "Africa/Nairobi"),
    ("Fatima Zahra Benali", "Africa/Casablanca"),
    ("Omar Haddad", "Asia/Dubai"),
    ("Priya Sharma", "Asia/Kolkata"),
    ("Arjun Mehta", "Asia/Kolkata"),
    ("Ananya Iyer", "Asia/Kolkata"),
    ("Wei Ling Tan", "Asia/Singapore"),
    ("Min-jun Park", "Asia/Seoul"),
    ("Yui Tanaka", "Asia/Tokyo"),
    ("Haruto Sato", "Asia/Tokyo"),
    ("Lachlan Walsh", "Australia/Sydney"),
    ("Ruby Mitchell", "Australia/Sydney"),
    ("Zoe Harris", "Australia/Sydney"),
    ("Aroha Ngata", "Pacific/Auckland"),
)
LUCIA, KENJI = 0, 1
LOGINS = (LUCIA, KENJI)


def _index(name: str) -> int:
    return next(i for i, (n, _) in enumerate(PEOPLE) if n == name)


PRIVATE = frozenset(
    _index(n)
    for n in (
        "Kenji Watanabe",
        "Amelia Hughes",
        "Felix Wagner",
        "Hugo Moreau",
        "Daniel Cohen",
        "Hannah Lee",
        "Ananya Iyer",
        "Zoe Harris",
    )
)
# Whom Lucía follows (Kenji is private: she followed him before he was).
LUCIA_FOLLOWS = tuple(
    _index(n)
    for n in (
        "Kenji Watanabe",
        "Javier Morales",
        "Carmen Ruiz",
        "Oliver Bennett",
        "Lena Hoffmann",
        "Émilie Laurent",
        "Ethan Brooks",
        "Chloe Nguyen",
        "Beatriz Costa",
        "Chinedu Okafor",
        "Priya Sharma",
        "Yui Tanaka",
        "Ruby Mitchell",
        "Amelia Hughes",
    )
)
# Pending follow requests: (requester, private account). Three wait for Kenji's answer; Lucía
# has asked to follow Hugo.
REQUESTS = tuple(
    (_index(a), _index(b))
    for a, b in (
        ("Haruto Sato", "Kenji Watanabe"),
        ("Oliver Bennett", "Kenji Watanabe"),
        ("Wei Ling Tan", "Kenji Watanabe"),
        ("Lucía Fernández", "Hugo Moreau"),
        ("Noah Kim", "Hannah Lee"),
        ("Isla Murray", "Zoe Harris"),
        ("Arjun Mehta", "Ananya Iyer"),
    )
)
# (blocker, blocked): no follow or request either way.
BLOCKS = ((_index("Kenji Watanabe"), _index("Marcus Reed")),)


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    timezone: str
    private: bool


@dataclass(frozen=True)
class Edge:
    """A follow, a request to follow or a block: from `source` to `target`, since when."""

    source: int
    target: int
    since: datetime


@dataclass(frozen=True)
class Night:
    person: int
    sleep_at: datetime
    wake_at: datetime | None  # None: in bed now, clocked in
    rating: int | None = None  # 1 to 5, private to the owner
    tags: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class FocusSession:
    person: int
    session_id: str
    started_at: datetime
    ended_at: datetime


@dataclass(frozen=True)
class UsageEvent:
    start: datetime
    seconds: float
    data: dict[str, Any]


@dataclass(frozen=True)
class Bucket:
    """An ActivityWatch bucket as aw-client makes it, with its events."""

    id: str
    type: str
    client: str
    hostname: str
    events: list[UsageEvent] = field(default_factory=list)


@dataclass(frozen=True)
class CategoryRule:
    path: tuple[str, ...]
    regex: str


@dataclass(frozen=True)
class Usage:
    person: int
    buckets: list[Bucket]
    rules: list[CategoryRule]


@dataclass(frozen=True)
class World:
    people: list[Person]
    follows: list[Edge]
    requests: list[Edge]  # pending, to private accounts
    blocks: list[Edge]
    nights: list[Night]
    focus: list[FocusSession]
    usage: list[Usage]

    @property
    def zones(self) -> set[str]:
        return {p.timezone for p in self.people}


def email_of(name: str) -> str:
    """`lucia.fernandez@example.com` for Lucía Fernández: accents dropped, ASCII only."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    parts = ["".join(c for c in word.lower() if c.isalnum()) for word in ascii_name.split()]
    return f"{parts[0]}.{parts[-1]}@{EMAIL_DOMAIN}"


def build(now: datetime, qualify_minutes: int = 30, seed: int = SEED) -> World:
    """The world as it stands at `now`; focus days qualify at `qualify_minutes`. Times are in
    whole seconds, as ActivityWatch's events are to the millisecond: no rounding can make two
    of a bucket's events overlap."""
    now = now.replace(microsecond=0)

    def rng(*part: object) -> random.Random:
        return random.Random(":".join(map(str, (seed, *part))))

    people = [
        Person(name, email_of(name), zone, index in PRIVATE)
        for index, (name, zone) in enumerate(PEOPLE)
    ]
    return World(
        people=people,
        follows=_follows(rng("follows"), now),
        requests=_since(rng("requests"), now, REQUESTS, 1, 12),
        blocks=_since(rng("blocks"), now, BLOCKS, 20, 60),
        nights=[n for i, p in enumerate(people) for n in _nights(rng("nights", i), i, p, now)],
        focus=[
            s
            for i, p in enumerate(people)
            for s in _focus(rng("focus", i), i, p, now, qualify_minutes)
        ],
        usage=[_usage(rng, i, people[i], now) for i in LOGINS],
    )


# The follow graph -----------------------------------------------------------------------------


def _follows(rng: random.Random, now: datetime) -> list[Edge]:
    """Everyone follows 4 to 14 others, neighbours (by zone) and the two logins likelier, since
    a day of the last ten months; none where a request waits or a block stands."""
    barred = {*REQUESTS, *BLOCKS, *((b, a) for a, b in BLOCKS)}
    edges: list[tuple[int, int]] = [(LUCIA, f) for f in LUCIA_FOLLOWS] + [(KENJI, LUCIA)]
    for follower, (_, zone) in enumerate(PEOPLE):
        wanted = rng.randint(4, 14)
        weights = [
            0.0
            if other == follower
            else (4.0 if other in LOGINS else 1.0)
            * (3.0 if PEOPLE[other][1].split("/")[0] == zone.split("/")[0] else 1.0)
            for other in range(len(PEOPLE))
        ]
        chosen: set[int] = set()
        while len(chosen) < wanted:
            chosen.add(rng.choices(range(len(PEOPLE)), weights)[0])
        if follower == LUCIA:
            continue  # her list is above; the draws are made all the same
        edges.extend((follower, followee) for followee in sorted(chosen))
    return _since(rng, now, list(dict.fromkeys(e for e in edges if e not in barred)), 2, 300)


def _since(
    rng: random.Random, now: datetime, pairs: Sequence[tuple[int, int]], first: int, last: int
) -> list[Edge]:
    """The pairs as edges since a moment of a day `first` to `last` days ago: the same moment
    all day long."""
    midnight = now.replace(hour=0, minute=0, second=0)
    edges = []
    for a, b in pairs:
        ago = timedelta(days=rng.randint(first, last), minutes=rng.randint(0, 1439))
        edges.append(Edge(a, b, midnight - ago))
    return edges


# Nights ---------------------------------------------------------------------------------------

NIGHT_TAGS = ("coffee late", "workout", "screens in bed", "travel", "stress", "reading")
NIGHT_NOTES = (
    "Neighbours had a party until 1.",
    "Woke up at 4 and could not fall asleep again.",
    "Best sleep in weeks.",
)


def _nights(rng: random.Random, index: int, person: Person, now: datetime) -> Iterator[Night]:
    """SLEEP_NIGHTS nights up to tonight: each person's own bedtime and length, later and
    longer at weekends, some nights not logged; raters rate about half of theirs. The night in
    progress at `now`, if any, is an open record; later ones are left out."""
    zone = ZoneInfo(person.timezone)
    today = now.astimezone(zone).date()
    bedtime = rng.uniform(22.0, 24.75)  # hours after midnight of the evening's date
    hours = rng.uniform(6.4, 8.2)
    logged = rng.uniform(0.92, 0.97) if index in LOGINS else rng.uniform(0.75, 0.97)
    rater = index in LOGINS or rng.random() < 0.35
    for back in range(SLEEP_NIGHTS, -1, -1):
        evening = today - timedelta(days=back)
        weekend = evening.weekday() >= 4  # Friday and Saturday nights
        bed = bedtime + (0.8 if weekend else 0.0) + rng.gauss(0, 0.45)
        length = hours + (0.9 if weekend else 0.0) + rng.gauss(0, 0.6)
        keep = rng.random() < logged
        rating = _rating(rng, length) if rater and rng.random() < 0.55 else None
        tags = (rng.choice(NIGHT_TAGS),) if rating is not None and rng.random() < 0.25 else ()
        note = rng.choice(NIGHT_NOTES) if rating is not None and rng.random() < 0.06 else None
        sleep_at = _at(evening, bed, zone)
        wake_at = _at(evening, bed + max(3.5, length), zone)  # by the clock, DST or not
        if not keep and not (index in LOGINS and back <= 1):
            continue
        if wake_at <= now:
            yield Night(index, sleep_at, wake_at, rating, tags, note)
        elif sleep_at <= now:
            yield Night(index, sleep_at, None)


def _rating(rng: random.Random, hours: float) -> int:
    return max(1, min(5, round(hours - 3.2 + rng.gauss(0, 0.7))))


def _at(day: date, hours: float, zone: ZoneInfo) -> datetime:
    """`hours` after the start of the local `day` (past 24: the next morning), to the minute."""
    minutes = round(hours * 60)
    # An aware datetime plus a timedelta is wall-clock arithmetic: 23:30 stays 23:30 on a DST day.
    local = datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=minutes)
    return local.astimezone(UTC)


# Focus ----------------------------------------------------------------------------------------


def _focus(
    rng: random.Random, index: int, person: Person, now: datetime, qualify: int
) -> Iterator[FocusSession]:
    """Each person's focus history: days that qualify (sessions adding up to `qualify` minutes
    or more), shorter days and days off. Lucía's last 80 days are a streak save for one missed
    day, 40 days ago, that a freeze she had earned covered; before it, a gap of three days
    (more than two freezes can cover) ends an older, patchier history."""
    zone = ZoneInfo(person.timezone)
    today = now.astimezone(zone).date()
    if index == LUCIA:
        days, chance = 200, 0.55
    elif index == KENJI:
        days, chance = 120, 0.8
    else:
        days, chance = FOCUS_DAYS, rng.uniform(0.3, 0.95)
    for back in range(days, -1, -1):
        day = today - timedelta(days=back)
        draw = rng.random()
        if index == LUCIA and back <= 80:
            kind = "none" if back == 40 else "qualified"
        elif index == LUCIA and back <= 83:
            kind = "none"
        else:
            kind = "qualified" if draw < chance else ("short" if draw < chance + 0.15 else "none")
        for number, (start, end) in enumerate(_day_sessions(rng, kind, day, zone, qualify)):
            if end <= now:
                yield FocusSession(index, f"demo-{day.isoformat()}-{number + 1}", start, end)


def _day_sessions(
    rng: random.Random, kind: str, day: date, zone: ZoneInfo, qualify: int
) -> list[tuple[datetime, datetime]]:
    if kind == "none":
        return []
    if kind == "short":
        total = rng.randint(5, max(5, qualify - 5))
        count = 1
    else:
        total = qualify + rng.randint(5, 90)
        count = rng.randint(1, 3)
    lengths = [total // count] * count
    lengths[-1] += total - sum(lengths)
    sessions = []
    at = rng.uniform(8.0, 10.5)
    for minutes in lengths:
        start = _at(day, at, zone)
        sessions.append((start, start + timedelta(minutes=minutes)))
        at += minutes / 60 + rng.uniform(0.3, 2.5)
    return sessions


# Usage ----------------------------------------------------------------------------------------

# (app, title, url or None, weight): what each computer's windows show.
WORK_WINDOWS = (
    ("Alacritty", "vim src/rhythm/sleep/records.py", None, 9),
    ("Alacritty", "vim tests/sleep/test_feed.py", None, 5),
    (
        "Firefox",
        "Pull requests · rhythm/rhythm · GitHub",
        "https://github.com/rhythm/rhythm/pulls",
        6,
    ),
    (
        "Firefox",
        "python - asyncpg pool sizing - Stack Overflow",
        "https://stackoverflow.com/q/1",
        3,
    ),
    ("Slack", "Slack | #sleep-team", None, 5),
    ("Thunderbird", "Inbox - Thunderbird", None, 3),
    ("zoom.us", "Zoom Meeting", None, 3),
    ("LibreOffice Writer", "Roadmap Q3.odt - LibreOffice Writer", None, 2),
    ("Spotify", "Spotify Premium", None, 1),
)
HOME_WINDOWS = (
    ("Firefox", "Lofi beats to relax to - YouTube", "https://www.youtube.com/watch?v=demo", 5),
    ("Firefox", "reddit: the front page of the internet", "https://www.reddit.com/", 3),
    ("Firefox", "Wikipedia, the free encyclopedia", "https://en.wikipedia.org/", 2),
    ("Minecraft", "Minecraft 1.21", None, 3),
    ("GIMP", "holiday.xcf - GIMP", None, 2),
    ("Telegram", "Telegram", None, 3),
    ("Spotify", "Spotify Premium", None, 2),
    ("Code", "records.py - rhythm - Visual Studio Code", None, 3),
)
RULES = [
    CategoryRule(("Work", "Meetings"), "zoom|Google Meet"),
    CategoryRule(("Work", "Programming", "Editor"), "Visual Studio Code|Alacritty"),
]


def _usage(rng: Callable[..., random.Random], index: int, person: Person, now: datetime) -> Usage:
    """Two computers over the last week and today so far: a laptop on working hours, a desktop
    in the evenings and at weekends, each with its window, AFK and browser buckets; a few
    breaks away from the keyboard inside every stretch of use."""
    zone = ZoneInfo(person.timezone)
    today = now.astimezone(zone).date()
    first = person.email.split(".")[0]
    buckets = []
    for host, windows in ((f"{first}-laptop", WORK_WINDOWS), (f"{first}-desktop", HOME_WINDOWS)):
        window = Bucket(f"aw-watcher-window_{host}", "currentwindow", "aw-watcher-window", host)
        afk = Bucket(f"aw-watcher-afk_{host}", "afkstatus", "aw-watcher-afk", host)
        web = Bucket(f"aw-watcher-web-firefox_{host}", "web.tab.current", "aw-client-web", host)
        for back in range(USAGE_DAYS - 1, -1, -1):
            day = today - timedelta(days=back)
            draws = rng("usage", index, host, back)
            for start, end in _stretches(draws, host.endswith("laptop"), day, zone):
                end = min(end, now - timedelta(minutes=1))
                if end - start >= timedelta(minutes=5):
                    _use(draws, windows, start, end, window, afk, web)
        buckets.extend([window, afk, web])
    return Usage(index, buckets, RULES)


def _stretches(
    rng: random.Random, work: bool, day: date, zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """When the computer is on that day."""
    weekend = day.weekday() >= 5
    if work:
        hours = [] if weekend else [(9.0, 13.0), (14.0, 18.0)]
    else:
        hours = [(10.5, 13.0), (16.0, 19.5)] if weekend else [(20.0, 22.5)]
    stretches = []
    for begin, finish in hours:
        start = _at(day, begin + rng.uniform(-0.3, 0.3), zone)
        end = _at(day, finish + rng.uniform(-0.3, 0.4), zone)
        stretches.append((start, end))
    return stretches


def _use(
    rng: random.Random,
    windows: tuple[tuple[str, str, str | None, int], ...],
    start: datetime,
    end: datetime,
    window: Bucket,
    afk: Bucket,
    web: Bucket,
) -> None:
    """Window events back to back from start to end, the browser's tabs under its windows, and
    AFK status covering the stretch: not-afk, with one to three breaks (the window stays on
    screen through a break, as it does; active time leaves the break out)."""
    at = start
    while at < end:
        app, title, url, _ = rng.choices(windows, [w[3] for w in windows])[0]
        stop = min(end, at + timedelta(seconds=rng.randint(40, 20 * 60)))
        seconds = (stop - at).total_seconds()
        window.events.append(UsageEvent(at, seconds, {"app": app, "title": title}))
        if url is not None:
            tab = {"url": url, "title": title, "audible": "YouTube" in title, "incognito": False}
            web.events.append(UsageEvent(at, seconds, tab))
        at = stop
    length = int((end - start).total_seconds())
    breaks = sorted(rng.randint(length // 10, length * 85 // 100) for _ in range(rng.randint(1, 3)))
    at = start
    for offset in breaks:
        away = start + timedelta(seconds=offset)
        back = min(end, away + timedelta(minutes=rng.randint(5, 25)))
        if away <= at or back >= end:
            continue
        afk.events.append(UsageEvent(at, (away - at).total_seconds(), {"status": "not-afk"}))
        afk.events.append(UsageEvent(away, (back - away).total_seconds(), {"status": "afk"}))
        at = back
    afk.events.append(UsageEvent(at, (end - at).total_seconds(), {"status": "not-afk"}))
