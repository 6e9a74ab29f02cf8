"""Issue 10's body-limit figure: a server's memory while strangers send 50 MB bodies.

One Granian worker; with no credentials, each attempt POSTs 50 MB to /api/v1/auth/login,
over a raw socket: with Content-Length, chunked, and four Content-Length ones at once. The
server's RSS (main process and worker) is sampled every 10 ms; the table gives it idle and at
its peak during each attempt, and the status answered.

    python -m bench.body_memory
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import psutil

from bench.harness import bench_database, granian, rhythm_env

MB = 1_000_000
PIECE = b" " * 65536


def _rss() -> int:
    return sum(p.memory_info().rss for p in psutil.Process().children(recursive=True))


def _with_length() -> Iterator[bytes]:
    yield f"Content-Length: {50 * MB}\r\n\r\n".encode()
    for _ in range(50 * MB // len(PIECE)):
        yield PIECE
    yield b" " * (50 * MB % len(PIECE))


def _chunked() -> Iterator[bytes]:
    yield b"Transfer-Encoding: chunked\r\n\r\n"
    frame = f"{len(PIECE):x}\r\n".encode() + PIECE + b"\r\n"
    for _ in range(50 * MB // len(PIECE)):
        yield frame
    yield b"0\r\n\r\n"


def _attempt(port: int, body: Callable[[], Iterator[bytes]]) -> str:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(60)
        head = b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        try:
            sock.sendall(head)
            for piece in body():
                sock.sendall(piece)
        except OSError:
            pass  # answered and closed early
        try:
            answer = sock.recv(65536)
        except OSError:
            return "reset"
    return answer.split(b" ", 2)[1].decode() if answer else "closed"


def _measure(label: str, run: Callable[[], list[str]]) -> None:
    idle = _rss()
    peak = idle
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    statuses = run()
    done.set()
    sampler.join()
    print(
        f"| {label} | {idle / 2**20:.0f} | {peak / 2**20:.0f} | {(peak - idle) / 2**20:+.0f}"
        f" | {', '.join(statuses)} |"
    )


def main() -> None:
    from rhythm.migrations import upgrade

    with bench_database() as (database_url, redis_url):
        upgrade(database_url)
        with granian("rhythm.app:create_app", rhythm_env(database_url, redis_url), 1) as base:
            port = int(base.rsplit(":", 1)[1])
            time.sleep(2)
            print("| 50 MB to POST /api/v1/auth/login | idle MiB | peak MiB | growth | status |")
            print("|---|---|---|---|---|")
            _measure("Content-Length", lambda: [_attempt(port, _with_length)])
            _measure("chunked", lambda: [_attempt(port, _chunked)])

            def four() -> list[str]:
                statuses: list[str] = []
                threads = [
                    threading.Thread(target=lambda: statuses.append(_attempt(port, _with_length)))
                    for _ in range(4)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                return statuses

            _measure("Content-Length, four at once", four)


if __name__ == "__main__":
    main()
