"""Each context owns its data: identity's cached-profile format is known to identity alone, the
other contexts reach identity through its public face, and shared services are read through the
one typed container (platform.http.shared), never untyped from `app.state`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rhythm
from rhythm.identity import service as identity_service
from rhythm.identity.profiles import KEY_PREFIX
from rhythm.platform.http.shared import Services

PACKAGE = Path(rhythm.__file__).parent
IDENTITY = PACKAGE / "identity"
CONTEXTS = ("social", "sleep", "focus", "usage", "catalog", "editors")
# What other contexts may import of identity: its service, the caller dependencies, and the
# types and response models those hand out; of its models, only the foreign key to a user.
IDENTITY_FACE = {"service", "dependencies", "principal", "schemas"}
IDENTITY_MODELS_FACE = {"user_fk"}
# Functions that read `app.state` by name: the container's accessor, and the error handlers'
# lazily built table of the app's own routes.
READS_APP_STATE = {
    "platform/http/problems.py:_allowed_methods",
    "platform/http/shared.py:shared",
}


def sources() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "migrations" not in p.relative_to(PACKAGE).parts]


def test_only_identity_knows_the_cached_profile_format() -> None:
    assert KEY_PREFIX == "auth:u:"
    outside = [p for p in sources() if not p.is_relative_to(IDENTITY)]
    assert len(outside) > 20
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in outside
        for literal in (KEY_PREFIX, "version|json")
        if literal in path.read_text()
    ]
    assert offenders == []


def test_other_contexts_use_only_identitys_public_face() -> None:
    imported: dict[str, set[str]] = {}
    for context in CONTEXTS:
        for path in (PACKAGE / context).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module == "rhythm.identity":
                    names = {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module == "rhythm.identity.models":
                    outside = {alias.name for alias in node.names} - IDENTITY_MODELS_FACE
                    names = {f"models.{name}" for name in outside}
                elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "rhythm.identity."
                ):
                    names = {(node.module or "").split(".")[2]}
                else:
                    continue
                imported.setdefault(str(path.relative_to(PACKAGE)), set()).update(names)
    assert imported, "the contexts import identity somewhere"
    assert {p: n - IDENTITY_FACE for p, n in imported.items() if n - IDENTITY_FACE} == {}


def _reads_app_state(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "state"
        and (
            (isinstance(node.value, ast.Attribute) and node.value.attr == "app")
            or (isinstance(node.value, ast.Name) and node.value.id == "app")
        )
    )


def test_shared_services_are_read_through_the_typed_container() -> None:
    readers: set[str] = set()
    for path in sources():
        if path == PACKAGE / "app.py":  # the app factory fills app.state
            continue
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if any(_reads_app_state(node) for node in ast.walk(function)):
                readers.add(f"{path.relative_to(PACKAGE)}:{function.name}")
    assert readers == READS_APP_STATE


def test_the_container_is_keyed_by_type() -> None:
    class Feed:
        pass

    services = Services()
    feed = services.add(Feed, Feed())
    assert services[Feed] is feed
    assert services.kinds() == [Feed]
    with pytest.raises(ValueError, match="Feed is already shared"):
        services.add(Feed, Feed())
    with pytest.raises(KeyError):
        services[Services]


def test_the_profile_fragment_names_identitys_key() -> None:
    lua = identity_service.profile_lua()
    assert f"'{KEY_PREFIX}{{' .. user_id .. '}}'" in lua  # the user's hash tag
    assert "local function profile_fields(raw)" in lua
