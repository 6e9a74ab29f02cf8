"""`rhythm users export EMAIL > file` and `rhythm users import EMAIL file`, run as an operator
runs them: the same records as the API's, a one-line summary, and one sentence for a problem."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from fastapi import FastAPI
from httpx import AsyncClient

from tests.factories import create_user
from tests.portability.test_export_import import NIGHT, comparable, export, fill, ndjson
from tests.test_cli import rhythm, sentence


def rhythm_to_file(database_url: str, redis_url: str, path: Path, *args: str) -> None:
    """`rhythm ARGS > path`, as an operator redirects a binary export."""
    env = {
        **os.environ,
        "RHYTHM_DATABASE_URL": database_url,
        "RHYTHM_REDIS_URL": redis_url,
        "RHYTHM_SECRET_KEY": "operator-secret-key-0123456789-abcdefghij",
        "RHYTHM_LOG_LEVEL": "ERROR",
    }
    with path.open("wb") as out:
        done = subprocess.run(
            [sys.executable, "-m", "rhythm", *args], env=env, stdout=out, timeout=60, check=False
        )
    assert done.returncode == 0


async def test_export_then_import_through_the_command(
    app: FastAPI, client: AsyncClient, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    ada = await create_user(app, name="Ada")
    await fill(app, client, ada)
    done = rhythm(database_url, redis_url, "users", "export", ada.email.upper())
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    by_api = await export(client, ada)
    # An API key's last use may be written in between: the records are the API's otherwise.
    assert [r["kind"] for r in records] == [r["kind"] for r in by_api]
    assert comparable(records) == comparable(by_api)
    (summary,) = done.stderr.strip().splitlines()
    assert summary.startswith(f"Exported {ada.email.upper()}: "), summary

    zipped = tmp_path / "ada.zip"
    rhythm_to_file(database_url, redis_url, zipped, "users", "export", ada.email, "--format", "csv")
    with zipfile.ZipFile(zipped) as archive:
        assert len(archive.read("sleep_night.csv").decode().splitlines()) == 1 + 3

    file = tmp_path / "ada.ndjson"
    file.write_text(done.stdout)
    fresh = await create_user(app, name="Fresh")
    done = rhythm(database_url, redis_url, "users", "import", fresh.email, str(file))
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()
    assert line.startswith(
        f"Imported into {fresh.email}: 1 profile, 1 block, 2 following, 1 follow_request, "
        "3 sleep_night"
    )
    assert "(skipped: 2 api_key, 1 follower, 1 follow_request_received)" in line
    assert comparable(await export(client, fresh)) == comparable(records)


async def test_problems_are_one_sentence(
    app: FastAPI, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    line = sentence(rhythm(database_url, redis_url, "users", "export", "nobody@example.com"))
    assert line == (
        "rhythm: nobody@example.com was not exported: no account has the email nobody@example.com"
    )
    ada = await create_user(app)
    missing = tmp_path / "absent.ndjson"
    line = sentence(rhythm(database_url, redis_url, "users", "import", ada.email, str(missing)))
    assert line.startswith(f"rhythm: {missing} was not imported: cannot read it ("), line
    bad = tmp_path / "bad.ndjson"
    bad.write_text(ndjson([NIGHT, {**NIGHT, "wake_at": "2026-01-10T22:00:00+01:00"}]))
    line = sentence(rhythm(database_url, redis_url, "users", "import", ada.email, str(bad)))
    assert line == (
        f"rhythm: {bad} was not imported: Line 2 (sleep_night): The wake time must be after "
        "bedtime."
    )
    line = sentence(
        rhythm(database_url, redis_url, "users", "import", "nobody@example.com", str(bad))
    )
    assert line.endswith("no account has the email nobody@example.com"), line
    line = sentence(
        rhythm(database_url, redis_url, "users", "export", ada.email, "--format", "xml"), 2
    )
    assert line == "rhythm: --format is ndjson or csv."
