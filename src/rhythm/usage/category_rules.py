"""A user's category rules, and the report of time per category.

Every account starts with aw-webui's default rules. They are written on the account's first
category write or listing (with a marker row, so that deleting them all does not bring them
back); until then a report reads the defaults without writing, so a client cannot tell when
they were written.

The report is computed from the rules as they are when it is read (usage.categories), so a
changed rule changes past days too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.platform.errors import Conflict, ItemRefused, NotFound
from rhythm.usage import repository
from rhythm.usage.categories import (
    DEFAULT_RULES,
    MAX_RULES,
    Classifier,
    DayEvents,
    Rule,
    category_usage,
)
from rhythm.usage.repository import CategoryRow
from rhythm.usage.schemas import CategoryIn

# The events categorized: window events, as aw-webui categorizes them.
CATEGORY_TYPES = ("currentwindow",)


class CategoryNotFound(NotFound):
    slug = "category-not-found"
    title = "Category not found"


class TooManyCategories(Conflict):
    slug = "too-many-categories"
    title = "Too many categories"


def _rule(row: CategoryRow) -> Rule:
    return Rule(tuple(row.name), row.regex if row.rule_type == "regex" else None, row.ignore_case)


async def _seed(session: AsyncSession, user_id: uuid.UUID) -> None:
    await repository.seed_categories(
        session, user_id, [(list(r.path), r.regex, r.ignore_case) for r in DEFAULT_RULES]
    )


async def list_categories(session: AsyncSession, user_id: uuid.UUID) -> list[CategoryRow]:
    """The user's rules in the order they were made (the order that settles ties)."""
    seeded, rows = await repository.categories(session, user_id)
    if not seeded:
        await _seed(session, user_id)
        _, rows = await repository.categories(session, user_id)
    return rows


async def create_category(
    session: AsyncSession,
    user_id: uuid.UUID,
    name: list[str],
    regex: str | None,
    ignore_case: bool,
) -> CategoryRow:
    """A new rule, after the user's others; 409 past MAX_RULES."""
    await _seed(session, user_id)
    if await repository.count_categories(session, user_id) >= MAX_RULES:
        raise TooManyCategories(f"At most {MAX_RULES} categories; delete one first.")
    return await repository.insert_category(
        session, user_id, name, "none" if regex is None else "regex", regex, ignore_case
    )


async def update_category(
    session: AsyncSession,
    user_id: uuid.UUID,
    category_id: int,
    name: list[str],
    regex: str | None,
    ignore_case: bool,
) -> CategoryRow:
    """Replace a rule (it keeps its place); 404 when the user has no rule of that id."""
    found = await repository.update_category(
        session,
        user_id,
        category_id,
        name,
        "none" if regex is None else "regex",
        regex,
        ignore_case,
    )
    if found is None:
        raise CategoryNotFound(f"No category {category_id}.")
    return found


async def delete_category(session: AsyncSession, user_id: uuid.UUID, category_id: int) -> None:
    if not await repository.delete_category(session, user_id, category_id):
        raise CategoryNotFound(f"No category {category_id}.")


async def rules_of(session: AsyncSession, user_id: uuid.UUID) -> list[Rule]:
    """The rules a report applies: the user's, or the defaults before they are written."""
    seeded, rows = await repository.categories(session, user_id)
    return [_rule(r) for r in rows] if seeded else list(DEFAULT_RULES)


async def window_events(
    session: AsyncSession, user_id: uuid.UUID, days: Sequence[tuple[date, datetime, datetime]]
) -> dict[date, DayEvents]:
    """The event source of the category report: each day's window events, clipped to it.
    (Other events fit as `DayEvents.of(events)`: anything with a start, an end and data.)"""
    found = await repository.day_events(session, user_id, days, CATEGORY_TYPES)
    empty = DayEvents([], [], [])
    return {day: DayEvents(*found[day]) if day in found else empty for day, _, _ in days}


def by_category(
    events: dict[date, DayEvents], rules: Sequence[Rule]
) -> Iterable[tuple[date, float, list[tuple[str, float]]]]:
    """Each day's total and its time per category path (usage.categories.category_usage)."""
    classifier = Classifier(rules)
    for day, day_events in events.items():
        total, items = category_usage(day_events, classifier)
        yield day, total, items


async def usage_by_category(
    session: AsyncSession, user_id: uuid.UUID, days: Sequence[tuple[date, datetime, datetime]]
) -> list[tuple[date, float, list[tuple[str, float]]]]:
    """(date, total seconds, [(category key, seconds), most first]) per day."""
    rules = await rules_of(session, user_id)
    return list(by_category(await window_events(session, user_id, days), rules))


# Export and import of an account (portability) ---------------------------------------------------


def _rule_json(rule: Rule) -> str:
    return json.dumps(
        {
            "type": "none" if rule.regex is None else "regex",
            "regex": rule.regex,
            "ignore_case": rule.ignore_case,
        }
    )


async def export_rules(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """The rules the user has, as CategoryIn's fields (the rule as JSON text): the user's in
    creation order, or aw-webui's defaults while the account has not been given them."""
    seeded, _ = await repository.categories(session, user_id)
    if not seeded:
        yield [(list(r.path), _rule_json(r)) for r in DEFAULT_RULES]
        return
    async for rows in repository.category_rows(session, user_id):
        yield rows


def _are_defaults(rows: Sequence[CategoryRow]) -> bool:
    return [_rule(r) for r in rows] == list(DEFAULT_RULES)


async def rules_changed(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether the user's rules are other than aw-webui's defaults (an import replaces those)."""
    seeded, rows = await repository.categories(session, user_id)
    return seeded and not _are_defaults(rows)


async def import_rules(
    session: AsyncSession, user_id: uuid.UUID, items: Sequence[tuple[int, CategoryIn]]
) -> int:
    """Give the user exported rules, in order, instead of the defaults (or after the rules an
    earlier batch of the same import gave); past MAX_RULES, the first one over raises
    ItemRefused with its key."""
    seeded, rows = await repository.categories(session, user_id)
    kept = [] if not seeded or _are_defaults(rows) else [_rule(r) for r in rows]
    room = MAX_RULES - len(kept)
    if len(items) > room:
        raise ItemRefused(items[room][0], TooManyCategories(f"At most {MAX_RULES} categories."))
    rules = [(list(r.path), r.regex, r.ignore_case) for r in kept]
    rules += [(c.name, c.rule.regex, c.rule.ignore_case) for _, c in items]
    await repository.replace_categories(session, user_id, rules)
    return len(items)
