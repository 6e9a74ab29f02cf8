"""Response models of the dashboard's own API routes: what one page needs from several
contexts in one call, built from the contexts' own response models."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field

from rhythm.focus.schemas import StreakOut
from rhythm.sleep.schemas import FeedItem, SleepRecordOut
from rhythm.usage.schemas import UsageItem

TOP_ITEMS = 5
FRIENDS_NIGHTS_LIMIT = 50


class ScreenTimeToday(BaseModel):
    total_seconds: float = Field(
        description="Active window time today over all hosts, as `GET /api/v1/usage/report` "
        "counts it (`count=active`)."
    )
    top_apps: list[UsageItem] = Field(
        max_length=TOP_ITEMS,
        description=f"The {TOP_ITEMS} apps with the most active time today, most first "
        "(the report's `group_by=app`).",
    )
    top_categories: list[UsageItem] = Field(
        max_length=TOP_ITEMS,
        description=f"The {TOP_ITEMS} categories with the most active time today, most first, "
        "as the report's `group_by=category` counts them (a category counts everything below "
        "it: `Work` and `Work > Programming` may both be listed).",
    )


class Today(BaseModel):
    date: Annotated[date, Field(description="Today, in `timezone`.")]
    timezone: str = Field(description="The zone whose day this is: the one asked for, or yours.")
    sleep: SleepRecordOut | None = Field(
        description="Last night: your ongoing night (`status` sleeping), else the night that "
        "ended today (the latest, if several did); null when there is neither."
    )
    focus: StreakOut = Field(
        description="Your focus streak figures; `today_minutes` counts today in `timezone`."
    )
    screen_time: ScreenTimeToday
    friends_nights: list[FeedItem] = Field(
        max_length=FRIENDS_NIGHTS_LIMIT,
        description="The nights of the people you follow that ended today, longest first, as "
        f"the followings feed gives them: at most {FRIENDS_NIGHTS_LIMIT}.",
    )
    more_friends_nights: bool = Field(
        description="Whether more of their nights ended today than `friends_nights` lists."
    )
