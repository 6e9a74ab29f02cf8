"""Compare the OpenAPI documents of two revisions of rhythm: an API change may only add.

    python scripts/openapi_diff.py [BEFORE [AFTER]]

BEFORE and AFTER are git revisions; BEFORE defaults to `main`, AFTER to the working tree (also
named by `.`). Each revision's `src/` is exported to a temporary directory and its document is
built there, in a subprocess, by `create_app(settings).openapi()`: no server and no database are
needed. Every removed or changed path, operation, parameter, request body, response, schema and
schema property is printed, additions too; the exit code is 1 if anything was removed or
changed, 0 if AFTER only adds to BEFORE.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
WORKING_TREE = "."
GIT = shutil.which("git") or "git"

# Run inside the revision's source: the settings module moved over time, create_app did not.
BUILD = """
import json, sys
try:
    from rhythm.platform.settings import Settings
except ImportError:
    from rhythm.config import Settings
import rhythm
from rhythm.app import create_app
assert rhythm.__file__.startswith(sys.argv[1]), rhythm.__file__
settings = Settings(
    env="test",
    database_url="postgresql://rhythm@127.0.0.1:1/unused",
    redis_url="redis://127.0.0.1:1/0",
    secret_key="openapi-diff-secret-key-0123456789-abcdefghij",
    data_dir=sys.argv[2],
)
json.dump(create_app(settings).openapi(), sys.stdout)
"""


@dataclass(frozen=True)
class Change:
    kind: str  # "added", "removed" or "changed"
    where: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind:8} {self.where}{': ' + self.detail if self.detail else ''}"


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Every difference from `before` to `after`, the document's `info` aside."""
    changes: list[Change] = []
    for key in sorted(set(before) | set(after)):
        if key != "info":
            _compare(before.get(key, _ABSENT), after.get(key, _ABSENT), [key], changes)
    return changes


def breaking(changes: list[Change]) -> list[Change]:
    return [change for change in changes if change.kind != "added"]


class _Absent:
    def __repr__(self) -> str:
        return "absent"


_ABSENT = _Absent()


def _where(path: list[str]) -> str:
    """`paths /x get parameter query:limit schema maximum`, readable in a terminal."""
    return " ".join(path)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, _Absent) else "absent"
    return text if len(text) <= 120 else text[:117] + "..."


def _compare(before: Any, after: Any, path: list[str], changes: list[Change]) -> None:
    if isinstance(before, _Absent):
        changes.append(Change("added", _where(path)))
    elif isinstance(after, _Absent):
        changes.append(Change("removed", _where(path)))
    elif isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            _compare(before.get(key, _ABSENT), after.get(key, _ABSENT), [*path, key], changes)
    elif isinstance(before, list) and isinstance(after, list):
        _compare_lists(before, after, path, changes)
    elif before != after:
        changes.append(Change("changed", _where(path), f"{_short(before)} -> {_short(after)}"))


def _compare_lists(
    before: list[Any], after: list[Any], path: list[str], changes: list[Change]
) -> None:
    if path[-1] == "parameters":
        # A parameter is known by where it goes and its name; a new required one breaks clients.
        old, new = _parameters(before), _parameters(after)
        for key in sorted(set(old) | set(new)):
            here = [*path[:-1], "parameter", key]
            if key not in old and new[key].get("required"):
                changes.append(Change("changed", _where(here), "a new required parameter"))
            else:
                _compare(old.get(key, _ABSENT), new.get(key, _ABSENT), here, changes)
        return
    # Other lists (required, enum, anyOf, tags...) are compared as sets of items.
    old_items = {json.dumps(item, sort_keys=True) for item in before}
    new_items = {json.dumps(item, sort_keys=True) for item in after}
    for item in sorted(old_items - new_items):
        changes.append(Change("removed", _where(path), item))
    for item in sorted(new_items - old_items):
        # A newly required field is a stricter request or a looser promise: not an addition.
        kind = "changed" if path[-1] == "required" else "added"
        changes.append(Change(kind, _where(path), item))


def _parameters(parameters: list[Any]) -> dict[str, Any]:
    return {f"{p.get('in')}:{p.get('name')}": p for p in parameters if isinstance(p, dict)}


def source_of(revision: str, into: Path) -> Path:
    """The `src/` directory of a revision (the working tree's own for `.`)."""
    if revision == WORKING_TREE:
        return REPOSITORY / "src"
    archive = subprocess.run(
        [GIT, "-C", str(REPOSITORY), "archive", "--format=tar", revision, "src"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def document(revision: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rhythm-openapi-") as scratch:
        source = source_of(revision, Path(scratch))
        env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
        env["PYTHONPATH"] = str(source)
        built = subprocess.run(
            [sys.executable, "-c", BUILD, str(source), str(Path(scratch) / "data")],
            env=env,
            cwd=scratch,  # no .env of the checkout is read
            capture_output=True,
            text=True,
        )
        if built.returncode != 0:
            sys.exit(f"openapi_diff: cannot build the document of {revision}:\n{built.stderr}")
        result: dict[str, Any] = json.loads(built.stdout)
        return result


def main(argv: list[str]) -> int:
    if len(argv) > 2 or any(a.startswith("-") for a in argv):
        print(__doc__, file=sys.stderr)
        return 2
    before = argv[0] if argv else "main"
    after = argv[1] if len(argv) > 1 else WORKING_TREE
    changes = compare(document(before), document(after))
    name = "the working tree" if after == WORKING_TREE else after
    for change in changes:
        print(change)
    bad = breaking(changes)
    added = len(changes) - len(bad)
    print(f"{before} -> {name}: {added} added, {len(bad)} removed or changed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
