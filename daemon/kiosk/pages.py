"""The open pages and what they are sent: every gesture and status as it comes, per-frame
streams (skeleton, probabilities) at most `MAX_RATE` times a second, newest first.

A screen shows at most 60 frames a second, so a faster source (a replay with --fast) is thinned
here, newest wins, and each line that was skipped is counted. A page that stops reading (a
hung browser) misses per-frame lines first, counted too, and is disconnected when even its
gestures back up; its EventSource reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable

from .http import sse

MAX_RATE = 60.0
"""Per-frame lines of one kind a page gets each second at most."""
SOFT_LIMIT = 256 * 1024
"""Bytes waiting for a page beyond which its per-frame lines are skipped."""
HARD_LIMIT = 4 * 1024 * 1024
"""Bytes waiting for a page beyond which it is disconnected."""


class Page:
    """One open event stream."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.sent: Counter[str] = Counter()
        self.skipped = 0
        self.closed = False

    def send(self, kind: str, chunk: bytes, droppable: bool) -> int:
        """Write `chunk`; returns 1 when it was skipped because the page is behind."""
        if self.closed:
            return 0
        waiting = self.writer.transport.get_write_buffer_size()
        if droppable and waiting > SOFT_LIMIT:
            self.skipped += 1
            return 1
        if waiting > HARD_LIMIT:
            self.close()
            return 0
        try:
            self.writer.write(chunk)
        except (ConnectionError, RuntimeError):
            self.close()
            return 0
        self.sent[kind] += 1
        return 0

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.writer.transport.abort()


class Throttle:
    """At most one line of each kind per 1/rate seconds goes through; a line that arrives
    sooner waits for its turn and is replaced (and counted) if a newer one comes first."""

    def __init__(self, loop: asyncio.AbstractEventLoop, emit: Callable[[str, str], None], rate: float = MAX_RATE) -> None:
        self._loop = loop
        self._emit = emit
        self.interval = 1.0 / rate
        self._last: dict[str, float] = {}
        self._pending: dict[str, str] = {}
        self.coalesced: Counter[str] = Counter()

    def offer(self, kind: str, line: str) -> None:
        if kind in self._pending:
            self._pending[kind] = line
            self.coalesced[kind] += 1
            return
        wait = self._last.get(kind, float("-inf")) + self.interval - self._loop.time()
        if wait <= 0:
            self._last[kind] = self._loop.time()
            self._emit(kind, line)
        else:
            self._pending[kind] = line
            self._loop.call_later(wait, self._flush, kind)

    def _flush(self, kind: str) -> None:
        line = self._pending.pop(kind, None)
        if line is not None:
            self._last[kind] = self._loop.time()
            self._emit(kind, line)


class Pages:
    """Fan-out to every open page, with counters for /stats."""

    def __init__(self) -> None:
        self.open: set[Page] = set()
        self.sent: Counter[str] = Counter()
        """Lines passed on, by kind, whether or not a page was open."""
        self.skipped = 0

    def add(self, page: Page, first: list[tuple[str, str]]) -> None:
        """A new page gets `first` (its state and the latest of each kind) before anything else."""
        for kind, line in first:
            page.send(kind, sse(line), droppable=False)
        if not page.closed:
            self.open.add(page)

    def remove(self, page: Page) -> None:
        self.open.discard(page)
        page.close()

    def broadcast(self, kind: str, line: str, droppable: bool) -> None:
        chunk = sse(line)
        for page in list(self.open):
            self.skipped += page.send(kind, chunk, droppable)
            if page.closed:
                self.open.discard(page)
        self.sent[kind] += 1

    def close_all(self) -> None:
        for page in list(self.open):
            self.remove(page)
