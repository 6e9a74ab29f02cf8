"""Debian's PgBouncer in transaction pooling mode, in front of a test PostgreSQL (issue 15).

Used by tests/conftest.py (RHYTHM_TEST_PGBOUNCER=1), tests/test_pgbouncer.py and the bench's
`--via pgbouncer`. One process per user: it listens on a free loopback port, lets every database
of the server through (`* =`, so each xdist worker's `rhythm_test_*` database works), trusts
every connection (loopback only) and keeps no server connection it does not need, so that
`DROP DATABASE ... WITH (FORCE)` after `kill_database` finds nobody to reconnect.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

BINARY = "/usr/sbin/pgbouncer"

CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = trust
auth_file = {directory}/userlist.txt
admin_users = {user}
pool_mode = transaction
max_client_conn = 1000
default_pool_size = {pool_size}
min_pool_size = 0
server_lifetime = 3600
logfile = {directory}/pgbouncer.log
pidfile = {directory}/pgbouncer.pid
log_connections = 0
log_disconnections = 0
{run_as}
"""


def available() -> bool:
    return Path(BINARY).is_file() and os.access(BINARY, os.X_OK)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PgBouncer:
    """A PgBouncer process in front of `server_url`'s PostgreSQL; `url(name)` goes through it."""

    def __init__(self, server_url: str, *, pool_size: int = 20) -> None:
        server = make_url(server_url)
        self.server = server
        self.user = server.username or "postgres"
        self.port = _free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="rhythm-pgbouncer-"))
        # PgBouncer refuses to run as root: as root it drops to the postgres user, which must
        # read its configuration and write its log.
        run_as = ""
        if os.geteuid() == 0:
            run_as = "user = postgres"
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        (self.directory / "userlist.txt").write_text(f'"{self.user}" ""\n')
        (self.directory / "pgbouncer.ini").write_text(
            CONFIG.format(
                host=server.host or "127.0.0.1",
                port=server.port or 5432,
                listen_port=self.port,
                directory=self.directory,
                user=self.user,
                pool_size=pool_size,
                run_as=run_as,
            )
        )
        for name in ("userlist.txt", "pgbouncer.ini"):
            (self.directory / name).chmod(0o644)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PgBouncer:
        self.process = subprocess.Popen(
            [BINARY, str(self.directory / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"pgbouncer did not listen on {self.port}: {self.log()}")

    def url(self, database: str) -> str:
        """`database` on the same server, through PgBouncer."""
        return (
            self.server.set(host="127.0.0.1", port=self.port, database=database)
            .set(query={})
            .render_as_string(hide_password=False)
        )

    def admin(self, command: str) -> None:
        """One command of PgBouncer's admin console (simple query protocol only)."""
        with psycopg.connect(
            self.url("pgbouncer"), autocommit=True, cursor_factory=psycopg.ClientCursor
        ) as conn:
            conn.execute(command)

    def kill_database(self, database: str) -> None:
        """Close PgBouncer's server connections to `database` and its clients', before a DROP."""
        self.admin(f"KILL {database}")
        # KILL pauses the pool too: let it serve a database of the same name again later.
        self.admin(f"RESUME {database}")

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text()[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
