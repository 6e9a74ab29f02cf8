"""Compare two OpenAPI documents: the second may only add to the first.

    python bench/openapi_diff.py before.json after.json     (exit 1 on any other difference)
    python bench/openapi_diff.py --dump out.json            (this checkout's document)

Everything in the first document must be in the second, unchanged: paths, operations,
operationIds, parameters (keyed by name and location, so their order does not count),
request bodies, responses, schemas and descriptions. The second may add keys, list items,
parameters, responses, schemas and operations.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def missing(before: Any, after: Any, where: str = "") -> list[str]:
    """Every place where `after` drops or changes something `before` has."""
    if isinstance(before, dict) and isinstance(after, dict):
        problems: list[str] = []
        for key, value in before.items():
            if key not in after:
                problems.append(f"{where}/{key}: removed")
            else:
                problems += missing(value, after[key], f"{where}/{key}")
        return problems
    if isinstance(before, list) and isinstance(after, list):
        if where.endswith("/parameters"):
            keyed = {(p.get("name"), p.get("in")): p for p in after}
            problems = []
            for parameter in before:
                key = (parameter.get("name"), parameter.get("in"))
                if key not in keyed:
                    problems.append(f"{where}/{key}: removed")
                else:
                    problems += missing(parameter, keyed[key], f"{where}/{key}")
            return problems
        if before == after[: len(before)] or all(item in after for item in before):
            return []
        return [f"{where}: {json.dumps(before)[:200]} became {json.dumps(after)[:200]}"]
    if before != after:
        return [f"{where}: {json.dumps(before)[:200]} became {json.dumps(after)[:200]}"]
    return []


def dump(target: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.conftest import make_settings

    from rhythm.app import create_app

    settings = make_settings("postgresql://localhost/unused", "redis://localhost/0")
    document = create_app(settings).openapi()
    target.write_text(json.dumps(document, indent=1, sort_keys=True))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--dump"] and len(argv) == 2:
        dump(Path(argv[1]))
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    before, after = (json.loads(Path(name).read_text()) for name in argv)
    problems = missing(before, after)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} difference(s) other than additions")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
