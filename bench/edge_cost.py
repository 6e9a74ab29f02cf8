"""What the HTTP edge (rhythm.platform.http.edge.HttpEdge) costs a request, measured alone.

A trivial ASGI app that answers 200 is called in this process with and without the edge in
front, for a GET with the headers a client sends; the best of 15 rounds of 20,000 calls each
(the best, because other processes on a shared machine only ever add time).

    python -m bench.edge_cost
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rhythm.api import LARGE_BODY_ROUTES
from rhythm.platform.http.edge import BodyLimits, HttpEdge

SCOPE = {
    "type": "http",
    "method": "GET",
    "path": "/api/v1/users/me",
    "headers": [
        (b"host", b"rhythm"),
        (b"authorization", b"Bearer token"),
        (b"accept", b"*/*"),
        (b"user-agent", b"wrk"),
    ],
}


async def _trivial(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"{}"})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def _send(message: Any) -> None:
    pass


async def _main(rounds: int = 15, calls: int = 20_000) -> None:
    apps = {
        "without the edge": _trivial,
        "with the edge": HttpEdge(_trivial, BodyLimits(LARGE_BODY_ROUTES)),
    }
    best = dict.fromkeys(apps, float("inf"))
    for _ in range(rounds):
        for label, app in apps.items():
            start = time.perf_counter()
            for _ in range(calls):
                await app(dict(SCOPE), _receive, _send)
            best[label] = min(best[label], (time.perf_counter() - start) / calls * 1e6)
    for label, micros in best.items():
        print(f"{label}: {micros:.2f} µs per request")
    print(f"the edge: {best['with the edge'] - best['without the edge']:.2f} µs per request")


if __name__ == "__main__":
    asyncio.run(_main())
