"""Events as JSON Lines on standard output, flushed per line (logs go to stderr)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from signd.daemon.events import Event, GestureEvent

from .base import Publisher

log = logging.getLogger(__name__)


class StdoutPublisher(Publisher):
    name = "stdout"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.dropped = 0
        self._broken = False

    def wants(self, event: Event) -> bool:
        # stdout is for scripts reading signs: heartbeats and replies belong to the socket.
        return isinstance(event, GestureEvent)

    def publish(self, event: Event) -> None:
        if self._broken:
            self.dropped += 1
            return
        try:
            self.stream.write(event.to_json() + "\n")
            self.stream.flush()
        except BrokenPipeError:
            # The reader went away (`signd run | head -3`): keep running for the other sinks.
            self._broken = True
            self.dropped += 1
            log.warning("stdout reader went away; events are no longer written to stdout")
