"""The dashboard's pages: one table of them, and the one HTML shell each is served in. A page is
its script (web/static/pages/<name>.js), which renders into the shell's <main> from the JSON
API, signed in by the session cookie (identity.cookies)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass

from rhythm.web.assets import Assets


@dataclass(frozen=True, slots=True)
class Page:
    path: str
    name: str
    title: str
    charts: bool = False
    public: bool = False


PAGES: tuple[Page, ...] = (
    Page("/", "today", "Today", charts=True),
    Page("/sleep", "sleep", "Sleep", charts=True),
    Page("/focus", "focus", "Focus"),
    Page("/usage", "usage", "Screen time", charts=True),
    Page("/events", "events", "Events"),
    Page("/people", "people", "People"),
    Page("/account", "account", "Account"),
    Page("/signin", "signin", "Sign in", public=True),
)
NAV = [page for page in PAGES if not page.public]
MODULES = {"preact": "vendor/preact.mjs", "preact/hooks": "vendor/preact-hooks.mjs"}


class Shell:
    """The HTML of every page, built once per process, and the Content-Security-Policy it is
    served with: scripts only from rhythm itself, plus the one inline import map by its hash."""

    def __init__(self, assets: Assets) -> None:
        self.assets = assets
        imports = {name: assets.url(path) for name, path in MODULES.items()}
        self.import_map = json.dumps({"imports": imports}, separators=(",", ":"))
        digest = base64.b64encode(hashlib.sha256(self.import_map.encode()).digest()).decode()
        self.csp = (
            "default-src 'self'; "
            f"script-src 'self' 'sha256-{digest}'; "
            "style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
        self.pages = {page.path: self._render(page) for page in PAGES}

    def _render(self, page: Page) -> bytes:
        url = self.assets.url
        preload = [url(path) for path in MODULES.values()] + [url("vendor/htm.mjs"), url("app.js")]
        links = "".join(
            f'<a href="{p.path}"{" aria-current=page" if p is page else ""}>'
            f"{html.escape(p.title)}</a>"
            for p in NAV
        )
        header = (
            ""
            if page.public
            else f'<header class="top"><a class="brand" href="/">rhythm</a>'
            f'<nav aria-label="Main">{links}</nav>'
            f'<button type="button" id="sign-out" class="quiet">Sign out</button></header>'
        )
        charts = (
            f'<script src="{url("vendor/chart.umd.min.js")}" defer></script>' if page.charts else ""
        )
        return (
            "<!doctype html>"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(page.title)} · rhythm</title>"
            f'<link rel="icon" href="{url("favicon.svg")}" type="image/svg+xml">'
            f'<link rel="stylesheet" href="{url("app.css")}">'
            f'<script type="importmap">{self.import_map}</script>'
            + "".join(f'<link rel="modulepreload" href="{href}">' for href in preload)
            + charts
            + f'<script type="module" src="{url(f"pages/{page.name}.js")}"></script>'
            f'</head><body data-page="{page.name}">'
            '<a class="skip" href="#main">Skip to content</a>'
            f"{header}"
            f'<main id="main" tabindex="-1"><h1>{html.escape(page.title)}</h1>'
            '<div id="app" aria-live="polite"><p class="loading">Loading…</p></div></main>'
            "</body></html>"
        ).encode()
