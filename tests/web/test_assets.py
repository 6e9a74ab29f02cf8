"""The dashboard's files over HTTP: pinned, compressed, cacheable by version, nothing outside
web/static; the pages' shell, its CSP, and the redirect to sign-in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi import FastAPI
from httpx import AsyncClient

from rhythm.web.assets import Assets
from rhythm.web.pages import PAGES

ROOT = Path(__file__).resolve().parents[2]


def test_the_vendored_files_are_the_pinned_ones() -> None:
    checked = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "vendor.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "match their pins" in checked.stdout


async def test_a_static_file_is_served_compressed_and_cached_by_version(
    app: FastAPI, client: AsyncClient
) -> None:
    assets = app.state.services[Assets]
    url = assets.url("vendor/chart.umd.min.js")
    raw = await client.get(url, headers={"Accept-Encoding": "identity"})
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("text/javascript")
    assert "immutable" in raw.headers["cache-control"]
    assert raw.content == (ROOT / "src/rhythm/web/static/vendor/chart.umd.min.js").read_bytes()
    packed = await client.get(url, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(raw.content) / 2
    # httpx inflated it: the same bytes.
    assert packed.content == raw.content
    # Another build's URL still gets today's file, but not for keeps.
    stale = await client.get("/static/000000000000/vendor/chart.umd.min.js")
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "no-cache"


async def test_nothing_outside_the_static_folder_is_served(client: AsyncClient) -> None:
    for path in (
        "/static/x/../../app.py",
        "/static/x/%2e%2e/%2e%2e/app.py",
        "/static/x/..%2f..%2fapp.py",
        "/static/x/",
        "/static/x/" + "a" * 5000,
        "/static/x/vendor",
    ):
        answer = await client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json", path


async def test_a_page_without_a_session_goes_to_sign_in(client: AsyncClient) -> None:
    for page in PAGES:
        answer = await client.get(page.path + "?x=1")
        if page.public:
            assert answer.status_code == 200
            continue
        assert answer.status_code == 303, page.path
        assert answer.headers["location"] == f"/signin?next={page.path}?x=1"


async def test_the_shell_names_only_rhythms_scripts(client: AsyncClient) -> None:
    answer = await client.get("/", headers={"Cookie": "rhythm_access=whatever"})
    assert answer.status_code == 200
    csp = answer.headers.get_list("content-security-policy")
    policy = next(p for p in csp if "script-src" in p)
    assert "script-src 'self' 'sha256-" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert answer.headers["cache-control"] == "no-store"
    assert "http://" not in answer.text and "https://" not in answer.text


async def test_the_docs_page_loads_its_assets_from_rhythm(client: AsyncClient) -> None:
    answer = await client.get("/docs")
    assert answer.status_code == 200
    assert "cdn" not in answer.text.lower()
    for src in ("swagger-ui-bundle.js", "swagger-ui.css"):
        start = answer.text.index(src)
        url = answer.text[answer.text.rindex('"', 0, start) + 1 : start + len(src)]
        assert url.startswith("/static/"), url
        fetched = await client.get(url, headers={"Accept-Encoding": "gzip"})
        assert fetched.status_code == 200
        assert len(fetched.content) > 10_000
