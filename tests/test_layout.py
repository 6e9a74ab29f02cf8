"""The floors of the house: the platform knows nothing of FastAPI outside its HTTP adapters, and
the top level of the package holds only the wiring (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import rhythm

PACKAGE = Path(rhythm.__file__).parent
PLATFORM = PACKAGE / "platform"
WEB_FRAMEWORKS = ("fastapi", "starlette")


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_only_the_http_adapters_of_the_platform_import_a_web_framework() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            m for m in imported_modules(path) if m.split(".")[0] in WEB_FRAMEWORKS
        )
        for path in PLATFORM.rglob("*.py")
        if "http" not in path.relative_to(PLATFORM).parts
    }
    assert {path: found for path, found in offenders.items() if found} == {}


def test_the_top_level_holds_only_the_wiring() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert modules == {"__init__", "__main__", "app", "api", "jobs", "cli"}
