"""Shared bench machinery: servers to measure, a database for them, and the load generator.

Load comes from `wrk` (Debian package) when it is installed, otherwise from a Python fallback
built on httpx. Figures are meant to be read as ratios against a baseline measured in the same
run, because these shared 2-core machines are noisy.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from rhythm.platform.process import granian_argv, spawn_child

ROOT = Path(__file__).resolve().parent.parent
WRK = shutil.which("wrk")


@dataclass
class Result:
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    socket_errors: int = 0  # wrk's connect, read, write and timeout errors
    requests: int = 0

    def row(self) -> str:
        return (
            f"| {self.label} | {self.rps:,.0f} | {self.p50_ms:.1f} | {self.p99_ms:.1f} |"
            f" {self.errors} |"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


@contextmanager
def granian(target: str, env: dict[str, str], workers: int = 2) -> Iterator[str]:
    """Serve an ASGI app with Granian the way `rhythm serve` does; yields the base URL."""
    port = free_port()
    argv = granian_argv("127.0.0.1", port, workers, target)
    process = spawn_child(argv, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base + ("/health" if target.endswith(":create_app") else "/hello"), process)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def bench_database() -> Iterator[tuple[str, str]]:
    """(database URL, Redis URL) for a bench run.

    RHYTHM_BENCH_DATABASE_URL / RHYTHM_BENCH_REDIS_URL when set; else the local servers on
    127.0.0.1 when they answer; else embedded ones in a temporary directory.
    """
    db = os.environ.get("RHYTHM_BENCH_DATABASE_URL")
    redis = os.environ.get("RHYTHM_BENCH_REDIS_URL")
    if db and redis:
        yield db, redis
        return
    if _answers(5432) and _answers(6379):
        admin = "postgresql://postgres@127.0.0.1:5432/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = 'rhythm_bench'"
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE rhythm_bench"))
        yield "postgresql://postgres@127.0.0.1:5432/rhythm_bench", "redis://127.0.0.1:6379/15"
        return
    from rhythm.platform.embedded import EmbeddedServers

    directory = tempfile.mkdtemp(prefix="rhythm-bench-")
    servers = EmbeddedServers(Path(directory))
    try:
        yield servers.start()
    finally:
        servers.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


def rhythm_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
    env.update(
        RHYTHM_ENV="development",
        RHYTHM_DATABASE_URL=database_url,
        RHYTHM_REDIS_URL=redis_url,
        RHYTHM_SECRET_KEY="bench-secret-key-0123456789-abcdefghijklmnop",
        # Limits are still checked on every request; they are only set high enough that a
        # benchmark's single user is never refused.
        RHYTHM_RATE_LIMIT_DEFAULT="1000000000/minute",
        RHYTHM_RATE_LIMIT_ANONYMOUS="1000000000/minute",
        RHYTHM_RATE_LIMIT_AUTH="1000000000/minute",
        # wrk's one IP stands for the handful of integration clients that carry /search peaks.
        RHYTHM_RATE_LIMIT_SEARCH="1000000000/minute",
        # One API key sends all of the /api/0 stream: beyond the heartbeat pace's burst.
        RHYTHM_RATE_LIMIT_HEARTBEATS="1000000000/minute",
        RHYTHM_LOG_LEVEL=os.environ.get("RHYTHM_BENCH_LOG_LEVEL", "WARNING"),
        RHYTHM_DB_POOL_SIZE="20",
    )
    env.update(extra)
    return env


_LAT = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_ERR = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCK = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_TOTAL = re.compile(r"(\d+) requests in")


def _to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    label: str,
    url: str,
    *,
    connections: int,
    seconds: int = 10,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    timeout: int | None = None,
) -> Result:
    """`timeout`: seconds before wrk gives up on a request (and counts a socket error); wrk's
    default is 2."""
    if WRK is None:
        return asyncio.run(
            python_load(label, url, connections=connections, seconds=seconds, headers=headers)
        )
    argv = [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(script)]
    if timeout is not None:
        argv += ["--timeout", f"{timeout}s"]
    argv.append(url)
    run = subprocess.run(argv, capture_output=True, text=True, check=True)
    if run.stderr.strip():  # what a script reports, e.g. the first non-2xx answers
        print(run.stderr.strip(), file=sys.stderr)
    out = run.stdout
    lat = {m.group(1): _to_ms(m.group(2), m.group(3)) for m in _LAT.finditer(out)}
    rps = float(_RPS.search(out).group(1))  # type: ignore[union-attr]
    err = _ERR.search(out)
    sock = _SOCK.search(out)
    total = _TOTAL.search(out)
    return Result(
        label,
        rps,
        lat.get("50", 0.0),
        lat.get("99", 0.0),
        int(err.group(1)) if err else 0,
        sum(int(n) for n in sock.groups()) if sock else 0,
        int(total.group(1)) if total else 0,
    )


async def python_load(
    label: str,
    url: str,
    *,
    connections: int,
    seconds: int,
    headers: dict[str, str] | None = None,
) -> Result:
    """A fallback load generator: `connections` keep-alive clients in one process."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=10) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - start)
                errors += response.status_code >= 300

        await asyncio.gather(*[worker() for _ in range(connections)])
    latencies.sort()
    return Result(
        label,
        len(latencies) / seconds,
        latencies[len(latencies) // 2] * 1000,
        latencies[int(len(latencies) * 0.99)] * 1000,
        errors,
    )


def median_result(results: list[Result]) -> Result:
    return Result(
        results[0].label,
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.errors for r in results),
    )


TABLE_HEADER = "| what | req/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|"
