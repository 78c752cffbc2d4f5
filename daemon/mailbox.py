"""A bounded hand-over between two pipeline threads.

With `drop_oldest` the producer never waits: when the box is full, the oldest item is thrown
away and counted (a live camera: the newest frame wins). Without it, the producer waits for
room, checking the stop event, so a file replay loses nothing.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from typing import Generic, Literal, TypeVar

T = TypeVar("T")


class Signal(enum.Enum):
    END = "end"
    """Sent down the pipeline when a source ends; every stage passes it on and exits."""
    EMPTY = "empty"
    """What `get` returns when nothing arrived in time."""


END: Literal[Signal.END] = Signal.END
EMPTY: Literal[Signal.EMPTY] = Signal.EMPTY


class Mailbox(Generic[T]):
    def __init__(self, capacity: int, drop_oldest: bool, stop: threading.Event) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.drop_oldest = drop_oldest
        self.stop = stop
        self.dropped = 0
        self._items: deque[T | Literal[Signal.END]] = deque()
        self._cond = threading.Condition()

    def put(self, item: T | Literal[Signal.END]) -> bool:
        """Hand over `item`; False when stopped before it fit."""
        with self._cond:
            while len(self._items) >= self.capacity:
                if self.drop_oldest:
                    self._items.popleft()
                    self.dropped += 1
                    break
                if self.stop.is_set():
                    return False
                self._cond.wait(0.05)
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float = 0.1) -> T | Signal:
        """The oldest item (END included), or EMPTY after `timeout` seconds."""
        with self._cond:
            if not self._items and not self._cond.wait_for(lambda: bool(self._items), timeout):
                return EMPTY
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def __len__(self) -> int:
        return len(self._items)
