"""Categories as ActivityWatch assigns them, and time per category. Pure: no I/O.

`Classifier.category` is aw-core's `aw_transform.classify.categorize` for one event: a rule
matches when its regex is found (`search`) in any string value of the event's data, a rule with
no regex never matches, and of the matching rules the deepest path wins, the later rule among
equally deep ones; an event no rule matches is `Uncategorized`.

Patterns run on RE2 (PyPI `google-re2`), whose time is linear in the text, so no rule can stall
a report. RE2 refuses what it cannot do in linear time (backreferences, lookaround), and its
`\\d`, `\\w` and `\\b` are ASCII only, where Python's `re` (aw-core's engine) also takes other
scripts' digits and letters; `pattern_error` is the check a rule passes when it is saved.

`category_usage` turns one day's events (already clipped to the day) into time per category
path, each path counting itself and everything below it; its caller chooses the events.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

import re2

UNCATEGORIZED: Final[tuple[str, ...]] = ("Uncategorized",)
SEPARATOR: Final = " > "  # a path as aw-webui shows it: `Work > Programming`
MAX_PATTERN: Final = 1_000
MAX_RULES: Final = 500
MAX_DEPTH: Final = 10
# Patterns per RE2 set: a set's automaton shares one memory budget, and a set that outgrows it
# would stop matching rather than fail, so large rule lists are split.
_PER_SET: Final = 25

Path = tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    path: Path
    regex: str | None  # None (a `none` rule) never matches
    ignore_case: bool = False


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the client's 422, not a server log line
    return options


_OPTIONS: Final = _options()


def pattern_error(pattern: str) -> str | None:
    """Why RE2 refuses the pattern, or None when it compiles."""
    try:
        re2.compile(pattern, _OPTIONS)
    except UnicodeEncodeError:
        return "not valid Unicode text (a lone surrogate)"
    except re2.error as exc:
        reason = exc.args[0] if exc.args else b""
        text = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        return text or "invalid pattern"
    return None


@dataclass(frozen=True)
class _Compiled:
    paths: list[Path]  # set index i is the i-th rule with a regex, in the rules' order
    sets: list[tuple[int, Any]]  # (index of its first pattern, re2.Set)


@functools.lru_cache(maxsize=64)
def _compile(rules: tuple[Rule, ...]) -> _Compiled:
    """Rules compiled once per process while they are unchanged (500 long patterns take
    a few hundred milliseconds)."""
    # A pattern that passed `pattern_error` when it was saved always does; one that would not
    # (an RE2 upgrade) matches nothing rather than failing every report.
    matching = [r for r in rules if r.regex and pattern_error(r.regex) is None]
    sets: list[tuple[int, Any]] = []
    for first in range(0, len(matching), _PER_SET):
        chunk = re2.Set.SearchSet(_OPTIONS)
        for rule in matching[first : first + _PER_SET]:
            # Each was checked alone above: wrapped in a group, `a)(b` would compile.
            chunk.Add(f"(?i:{rule.regex})" if rule.ignore_case else f"(?:{rule.regex})")
        chunk.Compile()
        sets.append((first, chunk))
    return _Compiled([r.path for r in matching], sets)


class Classifier:
    """A user's rules, for one report. Events with the same string values share one answer."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        compiled = _compile(tuple(rules))
        self._paths = compiled.paths
        self._sets = compiled.sets
        self._known: dict[tuple[str, ...], Path] = {}

    def category(self, data: Mapping[str, Any]) -> Path:
        values = tuple(v for v in data.values() if isinstance(v, str))
        found = self._known.get(values)
        if found is None:
            found = self._known[values] = self._pick(values)
        return found

    def _pick(self, values: tuple[str, ...]) -> Path:
        matched: set[int] = set()
        for value in values:
            for first, chunk in self._sets:
                hits = chunk.Match(value)
                if hits:
                    matched.update(first + i for i in hits)
        best = UNCATEGORIZED
        for index in sorted(matched):
            path = self._paths[index]
            if len(path) >= len(best):
                best = path
        return best


class Timed(Protocol):
    """An event of a day, clipped to it (a usage.merge.Event is one)."""

    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class DayEvents:
    """A day's events as columns, in order of their starts: epoch seconds and data. Columns,
    because a day has thousands of events and an object per event is what the garbage
    collector would walk (a report of 20,000 heartbeats paused 150 ms for it)."""

    starts: Sequence[float]
    ends: Sequence[float]
    data: Sequence[Mapping[str, Any]]

    @classmethod
    def of(cls, events: Iterable[Timed]) -> DayEvents:
        ordered = sorted(events, key=lambda e: e.start)
        return cls(
            [e.start.timestamp() for e in ordered],
            [e.end.timestamp() for e in ordered],
            [e.data for e in ordered],
        )


def category_usage(day: DayEvents, classifier: Classifier) -> tuple[float, list[tuple[str, float]]]:
    """The day's total (the union of all its events) and, per category path with time, the
    union of the events in it or below it: `(key, seconds)` with the path joined by ` > `,
    most first."""
    # Each union is [seconds, end so far], fed intervals in order of their starts. An event
    # feeds the total and each prefix of its path: `targets` per path, and per data object
    # (`day.data` keeps them alive, so their ids stay theirs).
    total = [0.0, float("-inf")]
    unions: dict[Path, list[float]] = {}
    targets_of: dict[Path, list[list[float]]] = {}
    by_data: dict[int, list[list[float]]] = {}
    for start, end, data in zip(day.starts, day.ends, day.data, strict=True):
        targets = by_data.get(id(data))
        if targets is None:
            path = classifier.category(data)
            targets = targets_of.get(path)
            if targets is None:
                targets = [total]
                for depth in range(1, len(path) + 1):
                    targets.append(unions.setdefault(path[:depth], [0.0, float("-inf")]))
                targets_of[path] = targets
            by_data[id(data)] = targets
        for union in targets:
            reached = union[1]
            if end > reached:
                union[0] += end - (start if start > reached else reached)
                union[1] = end
    items = [(SEPARATOR.join(p), u[0]) for p, u in unions.items() if u[0] > 0]
    items.sort(key=lambda kv: (-kv[1], kv[0]))
    return total[0], items


# aw-webui's default categories (src/util/classes.ts, `defaultCategories`): what a new
# account starts with. `Uncategorized` is listed as aw-webui lists it, as a rule that matches
# nothing.
DEFAULT_RULES: Final[tuple[Rule, ...]] = (
    Rule(("Work",), "Google Docs|libreoffice|ReText"),
    Rule(
        ("Work", "Programming"),
        "GitHub|Stack Overflow|BitBucket|Gitlab|vim|Spyder|kate|Ghidra|Scite",
    ),
    Rule(("Work", "Programming", "ActivityWatch"), "ActivityWatch|aw-", ignore_case=True),
    Rule(("Work", "Image"), "GIMP|Inkscape"),
    Rule(("Work", "Video"), "Kdenlive"),
    Rule(("Work", "Audio"), "Audacity"),
    Rule(("Work", "3D"), "Blender"),
    Rule(("Media",), None),
    Rule(("Media", "Games"), "Minecraft|RimWorld"),
    Rule(("Media", "Video"), "YouTube|Plex|VLC"),
    Rule(("Media", "Social Media"), "reddit|Facebook|Twitter|Instagram|devRant", ignore_case=True),
    Rule(("Media", "Music"), "Spotify|Deezer", ignore_case=True),
    Rule(("Comms",), None),
    Rule(
        ("Comms", "IM"),
        "Messenger|Telegram|Signal|WhatsApp|Rambox|Slack|Riot|Element|Discord|Nheko|NeoChat"
        "|Mattermost",
    ),
    Rule(("Comms", "Email"), "Gmail|Thunderbird|mutt|alpine"),
    Rule(UNCATEGORIZED, None),
)
