"""Schemathesis over the whole OpenAPI schema of the live server: hostile input.

Every phase: examples, coverage and fuzzing for each operation, and the stateful phase, whose
state machine chains operations through the schema's links (declared in app.LINKS, and those
schemathesis infers). Each runs as user A, as user B and anonymously. On top of schemathesis'
own data, hooks put the edges that found past bugs into path parameters, query parameters and
bodies: extreme and non-finite numbers, dates at years 1 and 9999, 100,000-character strings,
300-character ids and control characters in every string.

Every response must be a non-5xx that conforms to the schema, and every 4xx must be
application/problem+json (except /search, whose contract has its own error body).

`make test` runs a few examples per operation; `make fuzz` runs many more (RHYTHM_FUZZ_EXAMPLES,
RHYTHM_FUZZ_STEPS).
"""

from __future__ import annotations

import json
import math
import os
import random
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from rhythm.app import OWN_ERROR_FORMAT

EXAMPLES = int(os.environ.get("RHYTHM_FUZZ_EXAMPLES", "10"))
STATEFUL_EXAMPLES = int(os.environ.get("RHYTHM_FUZZ_STATEFUL_EXAMPLES", "15"))
STEPS = int(os.environ.get("RHYTHM_FUZZ_STEPS", "8"))
# make test draws the same cases on every run, so that its verdict is the code's, not the draw's;
# make fuzz (RHYTHM_FUZZ_RANDOM=1) draws new ones each time to find what those miss.
DERANDOMIZE = os.environ.get("RHYTHM_FUZZ_RANDOM") != "1"
# Shrinking a failure can take minutes per operation; the failing input is reported unshrunk.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]

DESTRUCTIVE = {
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/logout-all"),
    ("DELETE", "/api/v1/users/me"),
    ("POST", "/api/v1/users/me/password"),
}

# --- Who calls -------------------------------------------------------------------------------


@dataclass
class Identity:
    """An account on the live server (or nobody): the headers for each case."""

    base: str
    name: str
    token: str | None = None
    api_key: str | None = None
    user_id: str | None = None
    calls: int = 0

    @property
    def anonymous(self) -> bool:
        return self.name == "anonymous"

    def sign_up(self) -> tuple[str, str]:
        response = httpx.post(
            self.base + "/api/v1/auth/register",
            json={
                "email": f"fuzz-{self.name}-{uuid.uuid4().hex}@example.com",
                "password": "fuzzing-password",
                "name": f"Fuzz {self.name}",
            },
            timeout=30,
        )
        response.raise_for_status()
        body = response.json()
        return body["access_token"], body["user"]["id"]

    def _works(self, token: str) -> bool:
        me = httpx.get(
            self.base + "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        return me.status_code == 200

    def headers_for(self, method: str, path: str) -> dict[str, str]:
        if self.anonymous:
            return {}
        if (method.upper(), path) in DESTRUCTIVE:
            # Operations that end the caller's session or account get an account of their own.
            token, _ = self.sign_up()
            return {"Authorization": f"Bearer {token}"}
        # A stateful chain may revoke the shared session (GET /auth/sessions, then DELETE one):
        # it is checked every few calls, not on each (the machine has little CPU to spare).
        self.calls += 1
        if self.token is None or (self.calls % 25 == 0 and not self._works(self.token)):
            self.token, self.user_id = self.sign_up()
            key = httpx.post(
                self.base + "/api/v1/auth/api-keys",
                json={"name": "fuzz"},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=30,
            )
            key.raise_for_status()
            self.api_key = key.json()["key"]
        # ActivityWatch's and WakaTime's routes take an API key; the others a device session's.
        secret = self.api_key if path.startswith(("/api/0/", "/api/compat/")) else self.token
        return {"Authorization": f"Bearer {secret}"}


IDENTITIES = ["user-a", "user-b", "anonymous"]


@pytest.fixture(scope="session", params=IDENTITIES)
def identity(request: pytest.FixtureRequest, live_server: str) -> Identity:
    return Identity(live_server, request.param)


# --- Hostile values --------------------------------------------------------------------------

# Numbers JSON cannot carry as Python floats: these markers are written into the request body
# as the bare tokens (before_call), which rhythm's JSON parser reads as inf and nan.
RAW_NUMBERS = {
    "__1e309__": "1e309",
    "__-1e309__": "-1e309",
    "__nan__": "NaN",
    "__inf__": "Infinity",
}
EDGE_NUMBERS: list[Any] = [1e308, -1e308, -1, 0, 2**63, -(2**63) - 1, 5e-324, *RAW_NUMBERS]
# The same as query strings, where they are text anyway.
EDGE_NUMBER_TEXT = ["1e308", "1e309", "-1e309", "inf", "-inf", "nan", "-1", "1e-400", "9" * 400]
EDGE_DATES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01",
    "9999-12-31",
    "0000-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
]
CONTROL = ["\n", "\r", "\t", "\x00", "\x1b", "\u2028", "\r\n", "\x7f"]
LONG_TEXT = "x" * 100_000
LONG_ID = "i" * 300
# In a URL, long but within Granian's 64 KiB limit: beyond it Granian itself answers 414 with an
# empty body, before rhythm sees the request (docs/reliability.md).
LONG_QUERY = "q" * 60_000
EDGE_STRINGS = ["", " ", LONG_ID, *CONTROL, *EDGE_DATES, *EDGE_NUMBER_TEXT]
EDGE_BODY = [LONG_TEXT, *EDGE_STRINGS]
EDGE_QUERY = [LONG_QUERY, *EDGE_STRINGS]
# In a path, no edge may make it another route's ("" or ".." would).
EDGE_PATH = ["%00", " ", LONG_ID, *CONTROL, *EDGE_DATES, *EDGE_NUMBER_TEXT]


def _leaves(value: Any, trail: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*trail, k))] or [
            (trail, value)
        ]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*trail, i))] or [
            (trail, value)
        ]
    return [(trail, value)]


def _replaced(value: Any, trail: tuple[Any, ...], new: Any) -> Any:
    if not trail:
        return new
    head, rest = trail[0], trail[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replaced(copy[head], rest, new)
    return copy


def _controlled(value: Any, char: str) -> Any:
    """Every string in value with a control character put in its middle."""
    if isinstance(value, str):
        middle = len(value) // 2
        return value[:middle] + char + value[middle:]
    if isinstance(value, dict):
        return {k: _controlled(v, char) for k, v in value.items()}
    if isinstance(value, list):
        return [_controlled(v, char) for v in value]
    return value


def _edge_for(current: Any, strings: list[str], rng: random.Random) -> Any:
    if isinstance(current, bool) or current is None:
        return rng.choice([*strings, *EDGE_NUMBERS])
    if isinstance(current, int | float):
        return rng.choice(EDGE_NUMBERS)
    return rng.choice(strings)


def hostile(value: Any, strings: list[str], rng: random.Random) -> Any:
    """value as generated, one of its leaves replaced by an edge, or a control character in
    every one of its strings."""
    draw = rng.random()
    if value is None or draw < 0.4:
        return value
    if draw < 0.75:
        trail, current = rng.choice(_leaves(value))
        return _replaced(value, trail, _edge_for(current, strings, rng))
    return _controlled(value, rng.choice(CONTROL))


# POST /users/me/import takes an export's JSON Lines: sent as the bytes generated, as any
# binary body is.
schemathesis.serializer.alias("application/x-ndjson", "application/octet-stream")


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Puts the edges into the case just before it is sent.

    Here rather than in flatmap hooks: schemathesis re-validates a case a before_call hook
    changed, so a case the edges make invalid is expected to be refused, and one they make
    valid is no longer expected to be. The choice is seeded by the case, so a replay sends the
    same request.
    """
    rng = random.Random(repr((case.method, case.path, case.path_parameters, case.query, case.body)))
    if case.path_parameters:
        case.path_parameters = hostile(case.path_parameters, EDGE_PATH, rng)
    if case.query:
        case.query = hostile(case.query, EDGE_QUERY, rng)
    if case.body is not None and isinstance(case.body, dict | list | str | int | float):
        case.body = hostile(case.body, EDGE_BODY, rng)
    if _has_marker(case.body):
        # Bodies carrying RAW_NUMBERS markers are sent as text with the bare tokens in, in place
        # of the `json` the case serialises to.
        text = json.dumps(case.body)
        for marker, token in RAW_NUMBERS.items():
            text = text.replace(json.dumps(marker), token)
        kwargs["data"] = text.encode()


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Drops a case whose headers were made invalid: the identity (headers_for) sends its own
    Authorization, which undoes that mutation, so the server rightly accepts it. Missing and
    bad credentials are covered by the anonymous run and tests/identity."""
    meta = getattr(case, "meta", None)
    header = meta.components.get(ParameterLocation.HEADER) if meta is not None else None
    if header is not None and header.mode.is_negative:
        return False
    # Unknown query parameters are ignored, as FastAPI and aw-server ignore them (a client may
    # send more than a route reads): a case made negative only by adding one is not one.
    return not any(str(key).startswith(UNKNOWN_PROPERTY) for key in case.query or {})


UNKNOWN_PROPERTY = "x-schemathesis-unknown-property"


def _has_marker(value: Any) -> bool:
    if isinstance(value, str):
        return value in RAW_NUMBERS
    if isinstance(value, dict):
        return any(_has_marker(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_marker(v) for v in value)
    return False


# --- Checks ----------------------------------------------------------------------------------


def errors_are_problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx is application/problem+json with a well-formed body (except /search)."""
    if not 400 <= response.status_code < 500 or case.operation.path in OWN_ERROR_FORMAT:
        return None
    content_type = response.headers.get("content-type") or response.headers.get("Content-Type")
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else None
    assert content_type and content_type.startswith("application/problem+json"), (
        f"{response.status_code} answered as {content_type!r}, not application/problem+json"
    )
    body = json.loads(response.content)
    assert body["status"] == response.status_code and {"type", "title", "detail"} <= body.keys()
    return True


def no_non_finite_numbers(ctx: Any, response: Any, case: Any) -> bool | None:
    """No response carries NaN or Infinity: what was accepted is finite."""
    content_type = response.headers.get("content-type") or response.headers.get("Content-Type")
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else None
    if not response.content or not (content_type or "").startswith("application/json"):
        return None
    json.loads(response.content, parse_constant=_refuse_constant)
    return True


def _refuse_constant(token: str) -> float:
    raise AssertionError(f"response carries the non-finite number {token}")


# A request the schema allows may still be refused for good reason (404 for a random id,
# 409 for a duplicate), so positive data is not required to succeed.
EXCLUDED = [positive_data_acceptance]
ADDED = [errors_are_problem_json, no_non_finite_numbers]


# --- Per operation: examples, coverage and fuzzing --------------------------------------------


@pytest.fixture(scope="session")
def api_schema(live_server: str, identity: Identity) -> Any:
    return schemathesis.openapi.from_url(live_server + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=PHASES,
    derandomize=DERANDOMIZE,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: Any, identity: Identity) -> None:
    case.call_and_validate(
        headers=identity.headers_for(case.method, case.path),
        excluded_checks=EXCLUDED,
        additional_checks=ADDED,
        timeout=30,
    )


# --- Stateful: chains of calls through the schema's links -------------------------------------


def test_stateful_chains(live_server: str, identity: Identity) -> None:
    loaded = schemathesis.openapi.from_url(live_server + "/openapi.json")
    machine = loaded.as_state_machine()

    class Chains(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": identity.headers_for(case.method, case.path), "timeout": 30}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                excluded_checks=EXCLUDED,
                additional_checks=ADDED,
                transport_kwargs=kwargs or None,
            )

    # Which rule can run next depends on the server's answers, so Hypothesis may find that a
    # replayed prefix draws differently; schemathesis' own runner starts over then, and so
    # does this test (a real failure replayed inconsistently is a FlakyFailure, not caught).
    for _ in range(3):
        try:
            Chains.run(
                settings=settings(
                    max_examples=STATEFUL_EXAMPLES,
                    stateful_step_count=STEPS,
                    deadline=None,
                    derandomize=DERANDOMIZE,
                    database=None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
            )
            return
        except FlakyStrategyDefinition:
            continue


def test_links_name_a_parameter_of_their_target(app: Any) -> None:
    """Each declared link fills a path parameter its target operation has."""
    from rhythm.app import LINKS

    paths = app.openapi()["paths"]
    for (method, path, status), (parameter, _, targets) in LINKS.items():
        links = paths[path][method.lower()]["responses"][status]["links"]
        assert set(links) == set(targets)
        for verb, target in targets.values():
            assert "{" + parameter + "}" in target and verb.lower() in paths[target]


def test_hostile_values_are_what_they_claim() -> None:
    """The edges are sent as intended: the raw tokens parse as non-finite numbers."""
    for token in RAW_NUMBERS.values():
        assert not math.isfinite(json.loads(token))
    assert len(LONG_TEXT) == 100_000 and len(LONG_ID) == 300
