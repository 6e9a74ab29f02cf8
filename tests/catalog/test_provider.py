"""The provider fetch against real loopback servers: redirects stay within the feed's origin,
one content encoding is accepted, and a compressed body is inflated within the byte budget."""

from __future__ import annotations

import gzip
import http.server
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from rhythm.catalog.provider import ProviderRefused, fetch

FEED = b"<?xml version='1.0'?><planList><output></output></planList>"
CAP = 10 * 1024 * 1024


def _bomb(size: int) -> bytes:
    """`size` zero bytes, gzip-compressed (a 1 GiB bomb is about 1 MiB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join([*parts, packer.flush()])


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


# path -> (status, headers, body)
Routes = dict[str, tuple[int, dict[str, str], bytes]]


@contextmanager
def server(routes: Routes) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = routes.get(self.path, (404, {}, b""))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def read(url: str, max_bytes: int = CAP) -> bytes:
    fetched = await fetch(url, max_bytes=max_bytes)
    assert fetched.body is not None
    with fetched.body as body:
        return body.read()


async def test_redirects_are_followed_only_within_the_origin() -> None:
    with server({"/feed.xml": (200, {}, FEED)}) as other:
        routes: Routes = {
            "/old": (301, {"Location": "/feed.xml"}, b""),
            "/away": (302, {"Location": other + "/feed.xml"}, b""),
            "/loop": (307, {"Location": "/loop"}, b""),
            "/feed.xml": (200, {}, FEED),
        }
        with server(routes) as base:
            assert await read(base + "/old") == FEED
            # The same host on another port is another origin.
            with pytest.raises(ProviderRefused, match="another origin"):
                await read(base + "/away")
            with pytest.raises(ProviderRefused, match="redirected more than"):
                await read(base + "/loop")


async def test_one_encoding_is_accepted() -> None:
    once = gzip.compress(FEED)
    routes: Routes = {
        "/gzip": (200, {"Content-Encoding": "gzip"}, once),
        "/deflate": (200, {"Content-Encoding": "deflate"}, zlib.compress(FEED)),
        "/raw-deflate": (200, {"Content-Encoding": "deflate"}, _raw_deflate(FEED)),
        "/identity": (200, {"Content-Encoding": "identity"}, FEED),
        "/stacked": (200, {"Content-Encoding": "gzip, gzip"}, gzip.compress(once)),
        "/split": (200, {"Content-Encoding": "gzip", "X-Other": "x"}, once),
        "/unknown": (200, {"Content-Encoding": "compress"}, FEED),
        "/corrupt": (200, {"Content-Encoding": "gzip"}, b"\x1f\x8b" + bytes(40)),
        "/truncated": (200, {"Content-Encoding": "gzip"}, once[: len(once) // 2]),
    }
    with server(routes) as base:
        for path in ("/gzip", "/deflate", "/raw-deflate", "/identity", "/split"):
            assert await read(base + path) == FEED, path
        with pytest.raises(ProviderRefused, match="stacked encodings"):
            await read(base + "/stacked")
        with pytest.raises(ProviderRefused, match="not gzip, deflate or identity"):
            await read(base + "/unknown")
        with pytest.raises(ProviderRefused, match="corrupt"):
            await read(base + "/corrupt")
        with pytest.raises(ProviderRefused, match="truncated"):
            await read(base + "/truncated")


async def test_a_gzip_bomb_stops_at_the_cap_with_bounded_memory() -> None:
    bomb = _bomb(1024 * 1024 * 1024)  # 1 GiB of zeros
    assert len(bomb) < 2 * 1024 * 1024
    with server({"/bomb": (200, {"Content-Encoding": "gzip"}, bomb)}) as base:
        tracemalloc.start()
        try:
            with pytest.raises(ProviderRefused, match=f"over {CAP} bytes once decoded"):
                await read(base + "/bomb")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # The spool keeps 8 MiB in memory before it moves to disk; the rest is one inflate step
    # and the compressed chunks in flight, far from the 1 GiB the body would inflate to.
    assert peak < 40 * 1024 * 1024
