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
