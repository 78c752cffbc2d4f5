"""systemd integration without systemd-python: sd_notify datagrams and socket activation.

sd_notify(3) is one datagram of "KEY=value" lines to the socket named by $NOTIFY_SOCKET (a
path, or an abstract name starting with "@"); sd_listen_fds(3) hands inherited listening
sockets over as fds 3, 4, ... when $LISTEN_PID is our pid.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)

SD_LISTEN_FDS_START = 3


class Notifier:
    """Sends sd_notify messages; does nothing when not started by systemd (no NOTIFY_SOCKET)."""

    def __init__(self, address: str | None = None) -> None:
        addr = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self.enabled = bool(addr)
        self._addr = "\0" + addr[1:] if addr.startswith("@") else addr
        self._sock: socket.socket | None = None
        self.last_status = ""

    def send(self, *fields: str) -> bool:
        if not self.enabled:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(fields).encode(), self._addr)
            return True
        except OSError as exc:
            log.warning("sd_notify to %r failed: %s", self._addr, exc)
            return False

    def status(self, text: str) -> None:
        """STATUS=: one line for `systemctl status`; sent only when it changes."""
        if text != self.last_status:
            self.last_status = text
            self.send(f"STATUS={text}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings that systemd expects (half of WatchdogSec), or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1e6 / 2
    except ValueError:
        return None


def listen_fds() -> list[int]:
    """Listening sockets passed by a .socket unit; the variables are cleared so children don't
    take them too."""
    pid, n = os.environ.get("LISTEN_PID"), os.environ.get("LISTEN_FDS")
    if not pid or not n or pid != str(os.getpid()):
        return []
    for var in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(var, None)
    fds = list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + int(n)))
    for fd in fds:
        os.set_inheritable(fd, False)
    return fds
