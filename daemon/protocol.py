"""Event socket protocol v1: the messages besides `gesture`, and the client commands.

Server -> client, one JSON object per line (<= 4 KiB): `hello` on connect, then the watched
stream (`gesture`, `status` every few seconds, `error`), replies to commands (`watching`,
`status`, `describe`, `pong`, `error`), `dropped` after events were lost for a slow reader,
and `bye` when the daemon stops. Client -> server, one JSON object per line:

    {"cmd": "watch", "types": ["gesture"], "min_score": 0.8}
    {"cmd": "status"}   {"cmd": "describe"}   {"cmd": "ping", "id": 7}

Any command may carry an "id", echoed in its reply. Written up in docs/protocol.md.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .events import Event, register

PROTOCOL_VERSION = 1
MAX_LINE = 4096
"""Bytes in one line, newline included, both ways."""

STREAM_TYPES = ("gesture", "status", "error", "keypoints", "probs", "enroll")
"""Event types a client can watch. keypoints, probs and enroll are sent only to clients that ask."""
DEFAULT_WATCH = ("gesture", "status", "error")


@register
@dataclass
class HelloEvent(Event):
    type: ClassVar[str] = "hello"
    protocol: int
    signd: str
    model: dict[str, Any]
    """name, sha256, labels, quantization, layout of the running model."""
    source: str
    watching: list[str] = field(default_factory=lambda: list(DEFAULT_WATCH))


@register
@dataclass
class StatusEvent(Event):
    type: ClassVar[str] = "status"
    state: str
    """starting, running, reloading, stopping."""
    fps: float
    latency_ms: dict[str, float]
    """Capture -> event, p50 and p95 over recent events."""
    frames: int
    dropped_frames: int
    windows: int
    events: int
    dropped_events: int
    clients: int
    camera: str
    """The source's state: open, reopening, ended."""
    uptime_s: float
    model: str
    id: Any = None


@register
@dataclass
class ErrorEvent(Event):
    type: ClassVar[str] = "error"
    code: str
    """bad_json, bad_command, unknown_command, line_too_long, reload_failed, ..."""
    message: str
    id: Any = None


@register
@dataclass
class ByeEvent(Event):
    type: ClassVar[str] = "bye"
    reason: str


@register
@dataclass
class DroppedEvent(Event):
    type: ClassVar[str] = "dropped"
    count: int
    """Events this client missed because it did not read fast enough."""


@register
@dataclass
class PongEvent(Event):
    type: ClassVar[str] = "pong"
    id: Any = None


@register
@dataclass
class WatchingEvent(Event):
    type: ClassVar[str] = "watching"
    types: list[str]
    min_score: float
    id: Any = None


@register
@dataclass
class DescribeEvent(Event):
    type: ClassVar[str] = "describe"
    signd: str
    protocol: int
    model: dict[str, Any]
    source: str
    config: dict[str, Any]
    id: Any = None


@register
@dataclass
class KeypointsEvent(Event):
    """One frame's skeleton for displays: pose and hands in image coordinates (0..1), rounded.
    Sent only to clients that watch "keypoints"; a missing hand is null."""

    type: ClassVar[str] = "keypoints"
    frame: int
    pose: list[list[float]] | None
    """33 x [x, y, visibility], or null when nobody is seen."""
    left_hand: list[list[float]] | None
    """21 x [x, y]."""
    right_hand: list[list[float]] | None

    def to_dict(self) -> dict[str, Any]:
        # Sent for every frame: skip asdict's deep copy of 75 small lists.
        return {"v": 1, "type": self.type, "frame": self.frame, "pose": self.pose,
                "left_hand": self.left_hand, "right_hand": self.right_hand}


@register
@dataclass
class ProbsEvent(Event):
    """Every window's probabilities, for displays that draw a bar per sign. Watched only."""

    type: ClassVar[str] = "probs"
    frame: int
    probs: dict[str, float]


@register
@dataclass
class EnrollEvent(Event):
    """`signd enroll` from a camera, serving the socket: where the countdown is, for the kiosk."""

    type: ClassVar[str] = "enroll"
    name: str
    """The sign being taught."""
    example: int
    """1-based: the example being recorded."""
    examples: int
    phase: str
    """ready (counting down), sign (recording now), done."""
    seconds_left: float
    message: str
    """What to show, in words."""


# -- commands ------------------------------------------------------------------------------


class ProtocolError(ValueError):
    """A command the server cannot take; `code` goes into the error reply."""

    def __init__(self, code: str, message: str, id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.id = id

    def event(self) -> ErrorEvent:
        return ErrorEvent(self.code, str(self), self.id)


@dataclass
class Command:
    cmd: str
    id: Any = None
    types: list[str] | None = None
    min_score: float | None = None


_KEYS = {"watch": {"cmd", "id", "types", "min_score"}, "status": {"cmd", "id"},
         "describe": {"cmd", "id"}, "ping": {"cmd", "id"}}


def _plain_id(value: Any) -> Any:
    # Echoed back verbatim, so keep it small and scalar.
    if value is None or isinstance(value, (str, int, float, bool)) and len(str(value)) <= 64:
        if isinstance(value, float) and not math.isfinite(value):
            raise ProtocolError("bad_command", "id must be a finite number, a string or null")
        return value
    raise ProtocolError("bad_command", "id must be a string (<= 64 characters), a number or null")


def parse_command(line: bytes | str) -> Command:
    """One command line (without its newline); ProtocolError says what is wrong."""
    raw = line.encode("utf-8", "replace") if isinstance(line, str) else line
    if len(raw) + 1 > MAX_LINE:
        raise ProtocolError("line_too_long", f"a line may hold at most {MAX_LINE} bytes")
    try:
        d = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad_json", f"not JSON: {exc}") from None
    if not isinstance(d, dict):
        raise ProtocolError("bad_command", "a command is a JSON object such as {\"cmd\": \"ping\"}")
    cmd_id = _plain_id(d.get("id"))
    cmd = d.get("cmd")
    if not isinstance(cmd, str) or cmd not in _KEYS:
        raise ProtocolError("unknown_command", f"unknown command {cmd!r} (known: {', '.join(_KEYS)})", cmd_id)
    extra = sorted(set(d) - _KEYS[cmd])
    if extra:
        raise ProtocolError("bad_command", f"{cmd}: unknown key {extra[0]!r}", cmd_id)
    command = Command(cmd, cmd_id)
    if cmd == "watch":
        types = d.get("types", list(DEFAULT_WATCH))
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise ProtocolError("bad_command", "watch: types must be a list of event types", cmd_id)
        unknown = [t for t in types if t not in STREAM_TYPES]
        if unknown:
            raise ProtocolError("bad_command", f"watch: unknown type {unknown[0]!r} (known: {', '.join(STREAM_TYPES)})", cmd_id)
        score = d.get("min_score", 0.0)
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 <= score <= 1.0:
            raise ProtocolError("bad_command", "watch: min_score must be a number within 0..1", cmd_id)
        command.types = list(dict.fromkeys(types))
        command.min_score = float(score)
    return command
