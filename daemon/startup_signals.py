"""SIGHUP held from the first line of `signd` until the service listens for it.

SIGHUP's default action ends the process, and `systemctl reload signd` right after a start
sends it while the daemon is still importing and loading: the reload must wait, not kill.
Commands that are not the service get the default back, and a held SIGHUP delivered.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

_held: list[int] = []


def _hold(signum: int, _frame: FrameType | None) -> None:
    _held.append(signum)


def hold() -> None:
    signal.signal(signal.SIGHUP, _hold)


def take() -> list[int]:
    """The signals held so far (the service handles them now)."""
    out = list(_held)
    _held.clear()
    return out


def release() -> None:
    """Back to the default, as if nothing had been held."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    if take():
        os.kill(os.getpid(), signal.SIGHUP)
