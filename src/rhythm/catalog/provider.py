"""Fetching the provider's feed: httpx with timeouts, a size cap after decompression and a
conditional GET. Retries are the sync task's (procrastinate), on ProviderUnavailable.

The body is read raw and decoded here, not by httpx: httpx decodes any stack of encodings
(`gzip, gzip`) and follows redirects to any host. Here a response may carry one encoding
(identity, gzip or deflate), is inflated in bounded steps until `max_bytes` of decoded feed,
and redirects are followed only within the origin (scheme, host, port) of the feed's URL.
"""

from __future__ import annotations

import tempfile
import zlib
from dataclasses import dataclass
from typing import IO

import httpx

MAX_REDIRECTS = 3
# Decoded bytes produced per inflate step: what one compressed chunk can make us hold at once.
INFLATE_STEP = 64 * 1024
ENCODINGS = {"identity", "gzip", "x-gzip", "deflate"}


class ProviderUnavailable(Exception):
    """A 5xx answer, a timeout or a connection failure: worth retrying later."""


class ProviderRefused(Exception):
    """An answer that retrying will not fix: a 4xx, a body over the size cap, a redirect to
    another origin, or an encoding rhythm does not accept."""


@dataclass
class Fetched:
    body: IO[bytes] | None  # None: not modified since the validators sent
    etag: str | None
    last_modified: str | None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


def content_encoding(header: str | None) -> str:
    """The one encoding of a response; a stacked or unknown one is refused."""
    codings = [c.strip().lower() for c in (header or "").split(",") if c.strip()]
    if len(codings) > 1:
        raise ProviderRefused(f"the feed has stacked encodings ({header}); one is accepted")
    coding = codings[0] if codings else "identity"
    if coding not in ENCODINGS:
        raise ProviderRefused(f"the feed's encoding {coding!r} is not gzip, deflate or identity")
    return coding


class Inflater:
    """Decodes one encoding incrementally, refusing once more than `max_bytes` come out."""

    def __init__(self, coding: str, max_bytes: int, out: IO[bytes]) -> None:
        self.coding = coding
        self.max_bytes = max_bytes
        self.out = out
        self.size = 0
        self._raw_deflate_tried = False
        self._decoder: zlib._Decompress | None = None
        if coding in {"gzip", "x-gzip"}:
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self._decoder = zlib.decompressobj()  # zlib-wrapped, else raw (below)

    def feed(self, data: bytes) -> None:
        if self._decoder is None:
            self._emit(data)
            return
        while data:
            try:
                piece = self._decoder.decompress(data, INFLATE_STEP)
            except zlib.error:
                if self.coding == "deflate" and self.size == 0 and not self._raw_deflate_tried:
                    # Some servers send raw deflate under "deflate"; retry from the start.
                    self._raw_deflate_tried = True
                    self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise ProviderRefused(f"the feed's {self.coding} encoding is corrupt") from None
            self._emit(piece)
            if self._decoder.eof:
                data = self._decoder.unused_data
                if data and self.coding != "deflate":  # another gzip member follows
                    self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    continue
                return
            data = self._decoder.unconsumed_tail

    def finish(self) -> None:
        if self._decoder is not None:
            if not self._decoder.eof:
                raise ProviderRefused(f"the feed's {self.coding} stream is truncated")
            self._emit(self._decoder.flush())

    def _emit(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.max_bytes:
            raise ProviderRefused(f"the feed is over {self.max_bytes} bytes once decoded")
        self.out.write(piece)


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
    target = httpx.URL(url)
    origin = _origin(target)
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                async with client.stream("GET", target, headers=headers) as response:
                    if response.has_redirect_location:
                        location = response.headers.get("location", "")
                        target = target.join(location)
                        if _origin(target) != origin:
                            raise ProviderRefused(
                                f"the provider redirected to another origin: {location}"
                            )
                        continue
                    if response.status_code == 304:
                        spool.close()
                        return Fetched(None, etag, last_modified)
                    if response.status_code >= 500:
                        raise ProviderUnavailable(f"the provider answered {response.status_code}")
                    if response.status_code >= 400:
                        raise ProviderRefused(f"the provider answered {response.status_code}")
                    inflater = Inflater(
                        content_encoding(response.headers.get("content-encoding")),
                        max_bytes,
                        spool,
                    )
                    async for chunk in response.aiter_raw():
                        inflater.feed(chunk)
                    inflater.finish()
                    spool.seek(0)
                    return Fetched(
                        spool, response.headers.get("etag"), response.headers.get("last-modified")
                    )
            raise ProviderRefused(f"the provider redirected more than {MAX_REDIRECTS} times")
    except httpx.TimeoutException as exc:
        spool.close()
        raise ProviderUnavailable(f"the provider timed out: {exc!r}") from None
    except httpx.TransportError as exc:
        spool.close()
        raise ProviderUnavailable(f"the provider could not be reached: {exc!r}") from None
    except BaseException:
        spool.close()
        raise
