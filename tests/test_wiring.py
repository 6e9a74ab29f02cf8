"""Cross-context listeners are registered by the app factory and by the worker, the whole list
each time, and never by importing a module: erasing an account reaches every context that keeps
something of it whatever was imported first. Each case runs in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

from rhythm.platform.settings import Settings

NONE: dict[str, list[str]] = {
    "account_deleted": [],
    "follows_changed": [],
    "visibility_changed": [],
}
# The listeners, by qualified name, in the order they run.
LISTENERS = {
    "account_deleted": [
        "rhythm.focus.recording.erase_account",
        "rhythm.sleep.feed.erase_account",
    ],
    "follows_changed": ["rhythm.sleep.feed.graph_changed"],
    "visibility_changed": ["rhythm.social.service.visibility_changed"],
}

REPORT = """
from rhythm.identity import service as identity_service
from rhythm.social import service as social_service

def names(functions):
    return [f"{f.__module__}.{f.__qualname__}" for f in functions]

def report():
    print(json.dumps({
        "account_deleted": names(identity_service.account_erasers()),
        "follows_changed": names(social_service.follows_listeners()),
        "visibility_changed": names(identity_service.visibility_listeners()),
    }))
"""


def run(body: str, *args: str) -> list[dict[str, list[str]]]:
    """Run `body` in a fresh interpreter; each line it prints is one report()."""
    code = "import json, sys\n" + REPORT + body
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_importing_every_module_registers_nothing() -> None:
    (imported,) = run(
        "import rhythm.api, rhythm.jobs, rhythm.cli\n"
        "import rhythm.sleep.feed, rhythm.sleep.records, rhythm.focus.recording\n"
        "import rhythm.usage.service\n"
        "import rhythm.catalog.service, rhythm.sleep.tasks\n"
        "report()\n"
    )
    assert imported == NONE


def test_the_app_factory_registers_every_listener_once() -> None:
    before, after, again = run(
        "report()\n"
        "from rhythm.app import create_app\n"
        "from rhythm.platform.settings import Settings\n"
        "settings = Settings(env='test', secret_key='x' * 48)\n"
        "create_app(settings)\n"
        "report()\n"
        "create_app(settings)\n"
        "report()\n"
    )
    assert before == NONE
    assert after == LISTENERS
    assert again == LISTENERS


def test_the_worker_registers_every_listener(settings: Settings) -> None:
    assert settings.database_url is not None and settings.redis_url is not None
    before, after = run(
        "report()\n"
        "import asyncio\n"
        "from rhythm.jobs import run_worker\n"
        "from rhythm.platform.resources import open_resources\n"
        "from tests.conftest import make_settings\n"
        "async def main():\n"
        "    resources = open_resources(make_settings(sys.argv[1], sys.argv[2]))\n"
        "    try:\n"
        "        await run_worker(resources, wait=False, queues=['nothing'])\n"
        "    finally:\n"
        "        await resources.close()\n"
        "asyncio.run(main())\n"
        "report()\n",
        settings.database_url,
        settings.redis_url,
    )
    assert before == NONE
    assert after == LISTENERS
