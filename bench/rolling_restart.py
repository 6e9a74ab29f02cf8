"""A rolling restart of two API processes behind one port, under load: `python
bench/rolling_restart.py [--clients 8] [--settle 3]`.

HAProxy (Debian's `haproxy` package) listens on one port in front of two `rhythm serve`
processes (Granian, one worker each) on one PostgreSQL database (rhythm_bench_rolling,
recreated) and one Redis (a private redis-server, or RHYTHM_BENCH_REDIS_URL). Clients send
reads and writes through HAProxy for the whole run while each process in turn is:

1. set to `drain` through HAProxy's runtime API (no new request goes to it);
2. waited on until HAProxy has no request in flight to it;
3. stopped with SIGTERM (Granian finishes what it holds, the writers flush, the pool closes),
   started again on the same port and waited on until /ready answers;
4. set back to `ready`, and waited on until HAProxy's health check has it up.

It prints the requests sent, the failures (any exception or unexpected status) and checks that
every acknowledged focus session is in PostgreSQL; it exits 1 on any failure.

Why not Granian's own SIGHUP reload of its workers: on Linux each Granian worker listens on its
own SO_REUSEPORT socket, and the kernel resets the connections queued on a worker's socket when
that worker stops unless net.ipv4.tcp_migrate_req is 1 (it is 0 here, and it is a machine-wide
setting); the stopping worker also closes idle keep-alive connections under clients that are
about to reuse them. A proxy that stops routing to a process before it stops has neither race.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import free_port, rhythm_env
from bench.mixed_scenario import private_redis, recreate_database
from rhythm.platform.process import spawn_child

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

HAPROXY_CFG = """
global
    stats socket {sock} mode 600 level admin
    maxconn 2000

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout check 10s
    retries 3
    option redispatch

frontend api
    bind 127.0.0.1:{port}
    default_backend rhythm

backend rhythm
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    default-server check inter 500ms fall 10 rise 1
    server a 127.0.0.1:{port_a}
    server b 127.0.0.1:{port_b}
"""


@dataclass
class Tally:
    sent: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)


class HAProxy:
    def __init__(self, work: Path, port: int, port_a: int, port_b: int) -> None:
        self.sock = work / "haproxy.sock"
        config = work / "haproxy.cfg"
        config.write_text(
            HAPROXY_CFG.format(sock=self.sock, port=port, port_a=port_a, port_b=port_b)
        )
        self.process = spawn_child([HAPROXY, "-f", str(config), "-db"])

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.sock))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server(self, name: str) -> dict[str, str]:
        """This server's row of `show stat` (status, scur, ...)."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "rhythm" and row.get("svname") == name:
                return row
        raise KeyError(name)

    def wait_for(self, name: str, condition: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.server(name)
            if condition == "idle" and row["scur"] == "0":
                return
            if condition == "up" and row["status"] == "UP":
                return
            time.sleep(0.05)
        raise TimeoutError(f"{name} not {condition}: {self.server(name)}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return spawn_child(
        [sys.executable, "-m", "rhythm", "serve", "--port", str(port), "--workers", "1"],
        env=env,
    )


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


async def client(base: str, token: str, index: int, stop: asyncio.Event, tally: Tally) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        n = 0
        while not stop.is_set():
            n += 1
            kind = n % 4
            session_id = f"roll-{index}-{n}"
            tally.sent += 1
            try:
                if kind == 0:
                    response = await http.get("/api/v1/users/me", headers=headers)
                    expected = {200}
                elif kind == 1:
                    start = f"2026-02-{1 + n % 28:02d}T{index:02d}:{n % 60:02d}:00Z"
                    response = await http.post(
                        "/api/v1/focus/sessions",
                        headers=headers,
                        json={
                            "session_id": session_id,
                            "started_at": start,
                            "ended_at": start.replace(":00Z", ":40Z"),
                            "timezone": "UTC",
                        },
                    )
                    expected = {201}
                elif kind == 2:
                    response = await http.post(
                        "/api/v1/usage/heartbeats",
                        headers=headers,
                        json={
                            "timestamp": (datetime.now(UTC) - timedelta(seconds=60)).isoformat(),
                            "app": "Editor",
                            "source": "rolling",
                            "pulsetime": 30,
                        },
                    )
                    expected = {202}
                else:
                    response = await http.get(
                        "/search",
                        params={
                            "starts_at": "2030-01-01T00:00:00",
                            "ends_at": "2030-02-01T00:00:00",
                        },
                    )
                    expected = {200}
            except httpx.HTTPError as exc:
                tally.outcomes[type(exc).__name__] += 1
                tally.failures.append(f"{type(exc).__name__}: {exc!r}")
                continue
            tally.outcomes[str(response.status_code)] += 1
            if response.status_code not in expected:
                tally.failures.append(f"{response.status_code}: {response.text[:200]}")
            elif kind == 1:
                tally.acknowledged.add(session_id)


def rolling_restart(clients: int = 8, settle: float = 3.0) -> Tally:
    """Run the whole procedure; the tally of what the clients saw."""
    from rhythm.migrations import upgrade

    work = Path(tempfile.mkdtemp(prefix="rhythm-rolling-"))
    database_url = recreate_database("rhythm_bench_rolling")
    upgrade(database_url)
    tally = Tally()
    with private_redis() as redis_url:
        env = rhythm_env(database_url, redis_url, RHYTHM_DB_POOL_SIZE="8")
        ports = {"a": free_port(), "b": free_port()}
        servers = {name: serve(env, port) for name, port in ports.items()}
        front = free_port()
        proxy = HAProxy(work, front, ports["a"], ports["b"])
        base = f"http://127.0.0.1:{front}"
        try:
            for name, port in ports.items():
                wait_ready(f"http://127.0.0.1:{port}", servers[name])
            for name in ports:
                proxy.wait_for(name, "up")

            def restart(name: str) -> None:
                proxy.command(f"set server rhythm/{name} state drain")
                proxy.wait_for(name, "idle")
                servers[name].send_signal(signal.SIGTERM)
                servers[name].wait(60)
                assert servers[name].returncode == 0, servers[name].returncode
                servers[name] = serve(env, ports[name])
                wait_ready(f"http://127.0.0.1:{ports[name]}", servers[name])
                proxy.command(f"set server rhythm/{name} state ready")
                proxy.wait_for(name, "up")

            async def drive() -> None:
                async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                    registered = await http.post(
                        "/api/v1/auth/register",
                        json={
                            "email": f"roll-{uuid.uuid4().hex[:8]}@example.com",
                            "password": "rolling-password",
                            "name": "Rolling",
                        },
                    )
                    assert registered.status_code == 201, registered.text
                token = registered.json()["access_token"]
                stop = asyncio.Event()
                tasks = [
                    asyncio.create_task(client(base, token, i, stop, tally)) for i in range(clients)
                ]
                await asyncio.sleep(settle)
                for name in ports:
                    await asyncio.to_thread(restart, name)
                    await asyncio.sleep(settle)
                stop.set()
                await asyncio.gather(*tasks)

            asyncio.run(drive())
        finally:
            proxy.stop()
            for process in servers.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(60)
            shutil.rmtree(work, ignore_errors=True)
        with psycopg.connect(database_url) as conn:
            stored = {
                row[0]
                for row in conn.execute(
                    "SELECT session_id FROM focus_sessions WHERE session_id LIKE 'roll-%'"
                )
            }
        missing = tally.acknowledged - stored
        if missing:
            tally.failures.append(f"{len(missing)} acknowledged sessions missing")
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of load between steps")
    args = parser.parse_args()
    started = time.monotonic()
    tally = rolling_restart(args.clients, args.settle)
    print(
        f"rolling restart of 2 processes behind HAProxy, {args.clients} clients,"
        f" {time.monotonic() - started:.0f} s: {tally.sent} requests, {len(tally.failures)}"
        f" failed; answers {dict(tally.outcomes)}; {len(tally.acknowledged)} acknowledged"
        " focus sessions checked in PostgreSQL"
    )
    for failure in tally.failures[:20]:
        print("  " + failure)
    sys.exit(1 if tally.failures else 0)


if __name__ == "__main__":
    main()
