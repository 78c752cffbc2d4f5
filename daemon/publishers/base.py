"""The publisher interface: one implementation per sink (stdout, socket, MQTT, ...)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from signd.daemon.events import Event


class Publisher(ABC):
    """A sink for events. `publish` must return quickly: a sink that can stall (a slow client,
    a broker that went away) queues with a bound, drops and counts instead of waiting."""

    name: str = "publisher"
    dropped: int = 0
    """Events this sink lost (full queue, broken pipe, ...)."""

    def wants(self, event: Event) -> bool:
        """Whether this sink takes events of this kind at all (stdout takes only gestures)."""
        return True

    def wants_type(self, event_type: str) -> bool:
        """Whether anyone behind this sink wants events of `event_type` right now. The pipeline
        builds the per-frame streams (keypoints, probs) only when some sink wants them."""
        return event_type in ("gesture", "status", "error", "hello")

    def start(self) -> None:  # noqa: B027 - optional
        """Acquire resources (bind, connect) before the pipeline runs."""

    @abstractmethod
    def publish(self, event: Event) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional
        """Flush and release; called once after the last event."""
