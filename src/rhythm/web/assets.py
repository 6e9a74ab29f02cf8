"""The dashboard's static files (web/static: its own scripts and styles, and the pinned vendor
libraries of scripts/vendor.py), read once, each kept gzipped beside its bytes, and served
under a URL that names the build: `/static/<version>/<path>`, cacheable for a year.

`version` is a hash of every file, so a changed file is a new URL and no browser keeps a stale
one; a request naming another version still gets today's file, but not cached.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).parent / "static"
PREFIX = "/static"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".md": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str


class Assets:
    """Every file under `root`, by its path relative to it."""

    def __init__(self, root: Path = STATIC) -> None:
        self.files: dict[str, Asset] = {}
        digest = hashlib.sha256()
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root).as_posix()
            body = path.read_bytes()
            digest.update(relative.encode() + b"\0" + body)
            media_type = TYPES.get(path.suffix, "text/plain; charset=utf-8")
            self.files[relative] = Asset(body, gzip.compress(body, 9, mtime=0), media_type)
        self.version = digest.hexdigest()[:12]

    def url(self, relative: str) -> str:
        if relative not in self.files:
            raise KeyError(f"no static file {relative}")
        return f"{PREFIX}/{self.version}/{relative}"
