"""Child processes that cannot outlive their parent."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL("libc.so.6", use_errno=True)

    def set_pdeathsig() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_pdeathsig


def spawn_child(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start `argv`; on Linux it receives SIGTERM if this process dies, even by SIGKILL."""
    return subprocess.Popen(argv, preexec_fn=_die_with_parent(), **kwargs)


def granian_argv(
    host: str, port: int, workers: int, target: str = "rhythm.app:create_app"
) -> list[str]:
    """The command that serves an ASGI app as `rhythm serve` does: Granian, uvloop, no
    websockets; `target` is a factory when it names rhythm's create_app."""
    argv = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--no-ws",
        "--log-level",
        "warning",
    ]
    if target.endswith(":create_app"):
        argv.append("--factory")
    return [*argv, target]
