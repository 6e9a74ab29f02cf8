"""The export's format version, the import's bounds, and its answer."""

from __future__ import annotations

from pydantic import BaseModel, Field

# The first line of an export: {"kind": "export", "version": FORMAT_VERSION}.
FORMAT_VERSION = 1
HEADER_KIND = "export"

# An import's body (api.LARGE_BODY_ROUTES): an export of a million usage intervals takes
# ~200 MB (150 to 250 bytes each), so 1 GiB holds ~5 million, as many as an import may hold
# (usage.schemas.MAX_IMPORT_EVENTS). Each line is at most LINE_LIMIT bytes.
IMPORT_BODY_LIMIT = 1024 * 1024 * 1024
LINE_LIMIT = 1024 * 1024

NDJSON = "application/x-ndjson"


class ImportSummary(BaseModel):
    imported: dict[str, int] = Field(description="Records stored, by kind (every kind is listed).")
    skipped: dict[str, int] = Field(
        description="Records read and not stored, by kind: API keys (their secrets are not in "
        "an export), followers (following is their own act), follows of accounts that no "
        "longer exist, and exact repeats."
    )
