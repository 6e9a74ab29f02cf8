"""scripts/openapi_diff.py's comparison, on small hand-made documents: an API may only add."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "openapi_diff.py"
_spec = importlib.util.spec_from_file_location("openapi_diff", SCRIPT)
assert _spec is not None and _spec.loader is not None
openapi_diff = importlib.util.module_from_spec(_spec)
sys.modules["openapi_diff"] = openapi_diff  # its dataclass looks its module up
_spec.loader.exec_module(openapi_diff)

BEFORE: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "rhythm", "version": "1"},
    "paths": {
        "/items": {
            "get": {
                "parameters": [
                    {
                        "in": "query",
                        "name": "limit",
                        "required": False,
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": {
                    "200": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Item"}}
                        }
                    }
                },
            }
        }
    },
    "components": {
        "schemas": {
            "Item": {
                "type": "object",
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
                "required": ["id"],
            }
        }
    },
}


def changed(edit: Any) -> dict[str, Any]:
    after = copy.deepcopy(BEFORE)
    edit(after)
    return after


def breaking(after: dict[str, Any]) -> list[str]:
    return [str(c) for c in openapi_diff.breaking(openapi_diff.compare(BEFORE, after))]


def test_the_same_document_has_no_change() -> None:
    assert openapi_diff.compare(BEFORE, copy.deepcopy(BEFORE)) == []


def test_additions_pass() -> None:
    def add(doc: dict[str, Any]) -> None:
        doc["info"]["version"] = "2"  # not part of the API
        doc["paths"]["/items"]["post"] = {"responses": {"201": {"description": "Created"}}}
        doc["paths"]["/items"]["get"]["responses"]["503"] = {"description": "Unavailable"}
        doc["paths"]["/items"]["get"]["parameters"].append(
            {"in": "query", "name": "cursor", "required": False, "schema": {"type": "string"}}
        )
        doc["components"]["schemas"]["Item"]["properties"]["tags"] = {"type": "array"}
        doc["components"]["schemas"]["Tag"] = {"type": "string"}

    changes = openapi_diff.compare(BEFORE, changed(add))
    assert {c.kind for c in changes} == {"added"}
    assert {c.where for c in changes} == {
        "paths /items post",
        "paths /items get responses 503",
        "paths /items get parameter query:cursor",
        "components schemas Item properties tags",
        "components schemas Tag",
    }


def test_removals_fail() -> None:
    assert breaking(changed(lambda d: d["paths"].pop("/items"))) == ["removed  paths /items"]
    assert breaking(changed(lambda d: d["paths"]["/items"]["get"]["parameters"].clear())) == [
        "removed  paths /items get parameter query:limit"
    ]
    assert breaking(
        changed(lambda d: d["components"]["schemas"]["Item"]["properties"].pop("name"))
    ) == ["removed  components schemas Item properties name"]
    assert breaking(changed(lambda d: d["paths"]["/items"]["get"]["responses"].pop("200"))) == [
        "removed  paths /items get responses 200"
    ]


def test_a_changed_type_fails() -> None:
    def retype(doc: dict[str, Any]) -> None:
        doc["components"]["schemas"]["Item"]["properties"]["id"]["type"] = "string"

    assert breaking(changed(retype)) == [
        'changed  components schemas Item properties id type: "integer" -> "string"'
    ]


def test_a_new_required_parameter_or_field_fails() -> None:
    def require(doc: dict[str, Any]) -> None:
        doc["paths"]["/items"]["get"]["parameters"].append(
            {"in": "query", "name": "week", "required": True, "schema": {"type": "string"}}
        )
        doc["components"]["schemas"]["Item"]["required"].append("name")

    assert breaking(changed(require)) == [
        'changed  components schemas Item required: "name"',
        "changed  paths /items get parameter query:week: a new required parameter",
    ]
