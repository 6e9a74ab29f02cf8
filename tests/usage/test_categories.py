"""Categories without a database: matching as aw-core's `categorize` does it, and time per
category path."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rhythm.usage.categories import (
    DEFAULT_RULES,
    MAX_RULES,
    Classifier,
    DayEvents,
    Rule,
    Timed,
    category_usage,
    pattern_error,
)
from rhythm.usage.merge import Event

T0 = datetime(2026, 11, 10, 9, tzinfo=UTC)


# aw-core's rule, as aw_transform/classify.py has it (ActivityWatch/aw-core d628a9a): the oracle.
# Kept verbatim apart from names: Python's `re`, a regex searched in every string value of the
# data, no regex never matches, reduce with `len(t2) >= len(t1)` from ["Uncategorized"].
def aw_categorize(data: dict[str, Any], rules: list[Rule]) -> tuple[str, ...]:
    def match(rule: Rule) -> bool:
        if not rule.regex:
            return False
        regex = re.compile(rule.regex, (re.IGNORECASE if rule.ignore_case else 0) | re.UNICODE)
        return any(isinstance(v, str) and regex.search(v) for v in data.values())

    tags = [list(rule.path) for rule in rules if match(rule)]
    picked = reduce(lambda t1, t2: t2 if len(t2) >= len(t1) else t1, tags, ["Uncategorized"])
    return tuple(picked)


def test_the_deepest_matching_path_wins() -> None:
    classifier = Classifier(DEFAULT_RULES)
    # `Work > Programming > ActivityWatch` (ignore case) beats `Work > Programming` (GitHub).
    assert classifier.category({"app": "Firefox", "title": "GitHub - AW-core"}) == (
        "Work",
        "Programming",
        "ActivityWatch",
    )
    assert classifier.category({"app": "Firefox", "title": "GitHub"}) == ("Work", "Programming")
    assert classifier.category({"app": "libreoffice"}) == ("Work",)
    assert classifier.category({"app": "Firefox", "title": "REDDIT"}) == ("Media", "Social Media")
    assert classifier.category({"app": "Firefox", "title": "reddit"}) == ("Media", "Social Media")
    # Case counts without ignore_case.
    assert classifier.category({"app": "Firefox", "title": "github"}) == ("Uncategorized",)


def test_any_text_value_matches_and_others_are_ignored() -> None:
    classifier = Classifier([Rule(("Docs",), "docs\\.example"), Rule(("Num",), "1")])
    assert classifier.category({"app": "Firefox", "url": "https://docs.example/a"}) == ("Docs",)
    assert classifier.category({"app": "Firefox", "tabCount": 1, "audible": True}) == (
        "Uncategorized",
    )


def test_ties_go_to_the_later_rule_and_none_rules_never_match() -> None:
    rules = [Rule(("A",), "x"), Rule(("B",), "x"), Rule(("C", "D"), None)]
    assert Classifier(rules).category({"app": "x"}) == ("B",)
    assert Classifier(list(reversed(rules))).category({"app": "x"}) == ("A",)
    assert Classifier([Rule(("Only",), None)]).category({"app": ""}) == ("Uncategorized",)
    assert Classifier([]).category({"app": "x"}) == ("Uncategorized",)


def test_many_rules_match_as_each_alone() -> None:
    """Past one RE2 set (25 patterns) and up to the cap, with long patterns, each rule still
    matches exactly when it would alone."""
    rules = [
        Rule((f"R{i}", "x"), "|".join(f"w{i}_{j}" for j in range(120))[:1000], i % 2 == 1)
        for i in range(MAX_RULES)
    ]
    classifier = Classifier(rules)
    for i in (0, 24, 25, 26, 251, MAX_RULES - 1):
        assert classifier.category({"title": f"see W{i}_7 now"}) == (
            (f"R{i}", "x") if i % 2 else ("Uncategorized",)
        )
        assert classifier.category({"title": f"see w{i}_7 now"}) == (f"R{i}", "x")


def test_patterns_re2_refuses() -> None:
    assert pattern_error("GitHub|Stack Overflow") is None
    assert pattern_error("(?i)straße") is None
    for bad in ("a)(", "(?=a)", "(a)\\1", "a{2000}", "[z-a]", "\ud800"):
        reason = pattern_error(bad)
        assert reason and isinstance(reason, str), bad
    # A pattern wrapped in the set's group would have compiled: it matches nothing instead.
    assert Classifier([Rule(("X",), "a)(b")]).category({"app": "a)(b ab"}) == ("Uncategorized",)


# Patterns and values on which Python's `re` and RE2 agree: ASCII literals and the common
# operators (RE2 differs on \d, \w, \b outside ASCII, and refuses lookaround).
_atom = st.sampled_from(["a", "b", "c", "A", "B", "é", "É", ".", "[ab]", "[^c]", "x"])
_piece = st.builds(lambda a, q: a + q, _atom, st.sampled_from(["", "", "*", "+", "?"]))
_branch = st.lists(_piece, min_size=1, max_size=4).map("".join)
_pattern = st.builds(
    lambda branches, start, end: start + "|".join(branches) + end,
    st.lists(_branch, min_size=1, max_size=3),
    st.sampled_from(["", "^"]),
    st.sampled_from(["", "$"]),
)
_rule = st.builds(
    Rule,
    st.lists(st.sampled_from(["Work", "Media", "Fun"]), min_size=1, max_size=3).map(tuple),
    st.one_of(st.none(), _pattern),
    st.booleans(),
)
_value = st.one_of(st.text(alphabet="abcABCéÉx -", max_size=12), st.integers(), st.booleans())
_data = st.dictionaries(st.sampled_from(["app", "title", "url", "n"]), _value, max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(_rule, max_size=40), st.lists(_data, min_size=1, max_size=5))
def test_matches_aw_core(rules: list[Rule], datas: list[dict[str, Any]]) -> None:
    classifier = Classifier(rules)
    for data in datas:
        assert classifier.category(data) == aw_categorize(data, rules)


def timed(start_s: float, end_s: float, **data: Any) -> Timed:
    return Event(T0 + timedelta(seconds=start_s), T0 + timedelta(seconds=end_s), data)


def test_a_path_counts_itself_and_everything_below_it() -> None:
    classifier = Classifier(DEFAULT_RULES)
    events = [
        timed(0, 100, app="vim"),  # Work > Programming
        timed(100, 160, app="libreoffice"),  # Work
        timed(150, 200, app="GIMP"),  # Work > Image (overlaps the one before: another device)
        timed(300, 310, app="Spotify"),  # Media > Music
        timed(400, 450, app="Terminal"),  # Uncategorized
        timed(450, 450, app="Slack"),  # no time: no item
    ]
    total, items = category_usage(DayEvents.of(events), classifier)
    assert total == 100 + 100 + 10 + 50
    assert items == [
        ("Work", 200.0),
        ("Work > Programming", 100.0),
        ("Uncategorized", 50.0),
        ("Work > Image", 50.0),
        ("Media", 10.0),
        ("Media > Music", 10.0),
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 100), st.integers(0, 30), st.sampled_from(["vim", "GIMP", "mutt", "x"])
        ),
        max_size=30,
    )
)
def test_each_path_is_the_union_of_its_seconds(spans: list[tuple[int, int, str]]) -> None:
    """Against a second-by-second count: a path's seconds are the seconds covered by an event
    in it or below it, and the total those covered by any event."""
    classifier = Classifier(DEFAULT_RULES)
    events = [timed(s, s + d, app=app) for s, d, app in spans]
    total, items = category_usage(DayEvents.of(events), classifier)
    covered: dict[str, set[int]] = {}
    for s, d, app in spans:
        path = classifier.category({"app": app})
        for depth in range(1, len(path) + 1):
            covered.setdefault(" > ".join(path[:depth]), set()).update(range(s, s + d))
    assert total == len(set[int]().union(*covered.values()))
    assert dict(items) == {k: float(len(v)) for k, v in covered.items() if v}
    assert [s for _, s in items] == sorted((s for _, s in items), reverse=True)
