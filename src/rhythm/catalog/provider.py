"""Fetching the provider's feed: httpx with timeouts, a size cap after decompression and a
conditional GET. Retries are the sync task's (procrastinate), on ProviderUnavailable."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import IO

import httpx


class ProviderUnavailable(Exception):
    """A 5xx answer, a timeout or a connection failure: worth retrying later."""


class ProviderRefused(Exception):
    """An answer that retrying will not fix: a 4xx, or a body over the size cap."""


@dataclass
class Fetched:
    body: IO[bytes] | None  # None: not modified since the validators sent
    etag: str | None
    last_modified: str | None


async def fetch(
    url: str,
    *,
    max_bytes: int,
    etag: str | None = None,
    last_modified: str | None = None,
    connect_timeout: float = 5.0,
    total_timeout: float = 30.0,
) -> Fetched:
    """GET the feed into a temporary file. `max_bytes` caps the body as decoded (a gzip bomb
    stops at the cap, not when memory runs out)."""
    headers = {"Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    timeout = httpx.Timeout(total_timeout, connect=connect_timeout)
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=True, max_redirects=3) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code == 304:
                spool.close()
                return Fetched(None, etag, last_modified)
            if response.status_code >= 500:
                raise ProviderUnavailable(f"the provider answered {response.status_code}")
            if response.status_code >= 400:
                raise ProviderRefused(f"the provider answered {response.status_code}")
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ProviderRefused(f"the feed is over {max_bytes} bytes once decoded")
                spool.write(chunk)
            spool.seek(0)
            return Fetched(
                spool, response.headers.get("etag"), response.headers.get("last-modified")
            )
    except httpx.TimeoutException as exc:
        spool.close()
        raise ProviderUnavailable(f"the provider timed out: {exc!r}") from None
    except httpx.TransportError as exc:
        spool.close()
        raise ProviderUnavailable(f"the provider could not be reached: {exc!r}") from None
    except BaseException:
        spool.close()
        raise
