"""The v1 event schema: one dataclass per event type, one JSON object per line.

Every publisher (stdout, socket, MQTT, kiosk) takes the same objects and the same
`to_json()`; readers turn a line back into an object with `parse_event`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

SCHEMA_VERSION = 1


@dataclass
class Event:
    """Base of all events: `type` names the class, `v` is the schema version."""

    type: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"v": SCHEMA_VERSION, "type": self.type, **asdict(self)}

    def to_json(self) -> str:
        """One line of JSON, no spaces, no newline."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class GestureEvent(Event):
    """A sign was performed."""

    type: ClassVar[str] = "gesture"
    label: str
    score: float
    """Mean top probability over the windows that decided it."""
    top: dict[str, float]
    """Up to five labels with the highest probability in the last window, highest first."""
    frame: int
    """0-based index (within the source) of the last frame of the deciding window."""
    t: float
    """Wall clock (Unix time, seconds) when the event was made."""
    latency_ms: float
    """From the capture of `frame` to this event."""
    sentence: list[str] = field(default_factory=list)
    """The last distinct words, oldest first (the tutorial's sentence)."""
    seq: int = 0
    """Events since the daemon started, from 1: a gap means an event was lost."""


EVENT_TYPES: dict[str, type[Event]] = {GestureEvent.type: GestureEvent}


def register(cls: type[Event]) -> type[Event]:
    """Class decorator for event types defined in other modules (status, hello, ...)."""
    EVENT_TYPES[cls.type] = cls
    return cls


def parse_event(line: str | bytes) -> Event:
    """An event object from one JSON line; ValueError when it is not a known v1 event."""
    d = json.loads(line)
    if not isinstance(d, dict):
        raise ValueError("an event is a JSON object")
    if d.get("v") != SCHEMA_VERSION:
        raise ValueError(f"unsupported event schema version {d.get('v')!r}")
    cls = EVENT_TYPES.get(d.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown event type {d.get('type')!r}")
    return cls.from_dict(d)
