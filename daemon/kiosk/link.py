"""The kiosk's side of the event socket: the daemon's lines, and whether the daemon is there.

`signd.daemon.listener.listen` connects and reconnects in a thread of its own; every line it
reads is handed to the asyncio loop, where `LinkState` decides what the page is told:
connecting (the daemon was never reached), connected, or reconnecting (the daemon said `bye`,
or fell silent for longer than its heartbeat allows, which is how a crash shows).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from signd.daemon.config import SocketConfig
from signd.daemon.listener import listen

log = logging.getLogger(__name__)

WATCH = {"cmd": "watch", "types": ["gesture", "status", "error", "probs", "keypoints", "enroll"]}
DESCRIBE = {"cmd": "describe", "id": "kiosk"}
"""Asked on every connect: its config tells the heartbeat, hence how long silence may last."""
BACKOFF = (0.25, 2.0)
"""Reconnect delays: a restarted daemon is back on the page within about two seconds."""


class LinkState:
    """connecting -> connected <-> reconnecting, from the lines seen and the time between them."""

    def __init__(self, heartbeat: float = SocketConfig.heartbeat) -> None:
        self.state = "connecting"
        self.heartbeat = heartbeat
        self.last_line: float | None = None
        self.hellos = 0

    @property
    def silence_limit(self) -> float:
        """Seconds without a line after which the daemon counts as gone. A running daemon
        sends a status every heartbeat even when nothing else happens."""
        return 2 * self.heartbeat + 2.0

    def seen(self, kind: str, now: float) -> bool:
        """A line of type `kind` arrived; True when the state changed."""
        self.last_line = now
        if kind == "hello":
            self.hellos += 1
        new = "reconnecting" if kind == "bye" else "connected"
        return self._set(new)

    def tick(self, now: float) -> bool:
        if self.state == "connected" and self.last_line is not None and now - self.last_line > self.silence_limit:
            log.warning("no line from the daemon for %.0f s: treating it as gone", now - self.last_line)
            return self._set("reconnecting")
        return False

    def _set(self, state: str) -> bool:
        if state == self.state:
            return False
        log.info("daemon %s", state)
        self.state = state
        return True


class _Quieter(logging.Filter):
    """The listener warns on every failed connect; while the daemon is down for hours, one
    line a minute says as much as thirty."""

    def __init__(self, every: float = 60.0) -> None:
        super().__init__()
        self.every = every
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("cannot connect"):
            self._last.clear()  # something else happened: the next failure is news again
            return True
        now = time.monotonic()
        if now - self._last.get(record.msg, -self.every) < self.every:
            return False
        self._last[record.msg] = now
        return True


class DaemonLink:
    """Runs `listen` in a thread; `on_line` is called in the loop's thread for every line."""

    def __init__(self, address: str, loop: asyncio.AbstractEventLoop, on_line: Callable[[str], None]) -> None:
        self.address = address
        self._loop = loop
        self._on_line = on_line
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="signd-kiosk-link", daemon=True)
        self._filter = _Quieter()

    def start(self) -> None:
        logging.getLogger("signd.daemon.listener").addFilter(self._filter)
        self._thread.start()

    def _run(self) -> None:
        listen(self.address, self._deliver, self._stop, [WATCH, DESCRIBE], backoff=BACKOFF, on_state=self._state)

    def _state(self, state: str) -> None:
        # A daemon that crashed sends no `bye`; the closed connection says the same at once,
        # instead of after the silence limit.
        if state == "disconnected" and not self._stop.is_set():
            self._deliver('{"v":1,"type":"bye","reason":"connection lost"}')

    def _deliver(self, line: str) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._on_line, line)
        except RuntimeError:  # the loop is closed: nobody is left to show anything to
            return True
        return False

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        logging.getLogger("signd.daemon.listener").removeFilter(self._filter)
