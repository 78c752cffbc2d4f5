"""signd's configuration: nested frozen dataclasses, filled from a TOML file and then the command
line. Each section is what its part of the daemon takes (sources `[source]`, the extractor
`[keypoints]`, the recognizer `[window]` and `[smoothing]`, the publishers theirs), so every
setting has one owner and one default, here; a reload builds a new configuration.

Every field is typed; `load_config` checks each value against its type and rejects unknown
keys by their dotted path (`socket.grup: unknown key`), so a typo never silently falls back
to a default. An invalid configuration is a ConfigError (exit 78, EX_CONFIG).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from .errors import ConfigError
from .mqtt_settings import MqttConfig, check_mqtt
from .scheduling import EXTRACTOR_NICENESS
from .smoothing import SmoothingConfig, SmoothingOverrides
from .textfile import read_text
from .typed_fields import FieldError, update_dataclass
from .window import MAX_WINDOW_SECONDS

DEFAULT_CONFIG_PATH = "/etc/signd/signd.toml"
CONFIG_MAX_BYTES = 1 << 20  # a configuration is a page of text; anything bigger is not one


def default_model_path() -> Path:
    """The model shipped with signd (models/default)."""
    return Path(str(resources.files("signd.models") / "default" / "default.tflite"))


@dataclass(frozen=True)
class SourceConfig:
    uri: str = "demo"
    """demo, camera:N, /dev/videoN, picamera2[:N], a video file, a signer .npz or an MP_Data folder."""
    fast: bool = False
    """Files and replays: as fast as possible instead of at their own frame rate."""
    repeat: int = 1
    """Files, replays and the demo: play this many times."""
    max_width: int = 640
    """Frames wider than this are shrunk before MediaPipe; 0 keeps them as they are."""
    camera_width: int = 640
    camera_height: int = 480
    camera_fps: float = 30.0


@dataclass(frozen=True)
class ModelConfig:
    path: str = ""
    """A .tflite with its manifest <model>.json beside it; empty = the shipped default model."""
    labels: tuple[str, ...] = ()
    """Output names of a model without a manifest, in output order."""
    num_threads: int = 1
    runtime: str = ""
    """ai-edge-litert, tflite-runtime or tensorflow; empty = the first one installed."""
    custom_signs: str = ""
    """The file of signs taught with `signd enroll`; empty = <model>.signs.json beside the model."""


@dataclass(frozen=True)
class KeypointsConfig:
    model_complexity: int = 1
    """MediaPipe Holistic's pose model: 1 ships with mediapipe; 0 and 2 need their model file."""
    isolate: bool = True
    """Run MediaPipe in a process of its own (Linux), so that its Python side and the
    inference thread never wait for each other's GIL; false keeps it in a thread."""
    niceness: int = EXTRACTOR_NICENESS
    """How far that process yields the CPU (nice value, 0-19): 5 = to the daemon's own
    threads, which need little but need it at once; 0 when other busy programs on the machine
    should not get ahead of MediaPipe either (docs/runtime.md: a kiosk page beside it is not
    one)."""


@dataclass(frozen=True)
class WindowConfig:
    stride: int = 1
    """Classify a window every `stride` frames (1 = every frame, as the tutorial)."""
    reset_after: float = 1.0
    """Seconds without a hand after which the window restarts; 0 = never."""
    seconds: float | None = None
    """Make the window cover this many seconds whatever the frame rate (rows sampled evenly,
    frames held): for cameras slower than the recordings, e.g. a Pi 4 at a few fps. 0 = the
    last 30 frames, as the tutorial; unset = the model's recommendation (the shipped model:
    1.0), else 0."""


@dataclass(frozen=True)
class SocketConfig:
    path: str = ""
    """Unix socket for event clients, e.g. /run/signd/events.sock; empty = no socket."""
    mode: str = "0660"
    """Permissions of the socket file (octal)."""
    group: str = ""
    """Group owning the socket file; clients in it may connect. Empty = the daemon's group."""
    tcp: str = ""
    """Also listen on TCP, HOST:PORT; only given explicitly. Loopback unless you name another host."""
    heartbeat: float = 5.0
    """Seconds between `status` events."""
    queue: int = 256
    """Events kept for one client that is slow to read; beyond that they are dropped and counted."""
    stall_timeout: float = 10.0
    """A client whose queue stays full this long is disconnected."""


@dataclass(frozen=True)
class RunConfig:
    source: SourceConfig = field(default_factory=SourceConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    keypoints: KeypointsConfig = field(default_factory=KeypointsConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    smoothing: SmoothingOverrides = field(default_factory=SmoothingOverrides)
    socket: SocketConfig = field(default_factory=SocketConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    log_level: str = "info"

    def model_path(self) -> Path:
        return Path(self.model.path) if self.model.path else default_model_path()

    def custom_signs_path(self) -> Path:
        if self.model.custom_signs:
            return Path(self.model.custom_signs)
        return self.model_path().with_suffix(".signs.json")


# -- validation ------------------------------------------------------------------------------


def check(cfg: RunConfig) -> RunConfig:
    """Cross-field and range rules; ConfigError naming the key."""
    rules = [
        ("source.repeat", 1 <= cfg.source.repeat <= 1_000_000, "must be within 1..1000000"),
        ("source.max_width", 0 <= cfg.source.max_width <= 16384, "must be within 0..16384 (0 keeps frames as they are)"),
        ("source.camera_width", 1 <= cfg.source.camera_width <= 16384, "must be within 1..16384"),
        ("source.camera_height", 1 <= cfg.source.camera_height <= 16384, "must be within 1..16384"),
        ("source.camera_fps", 0 < cfg.source.camera_fps <= 1000, "must be > 0 and <= 1000"),
        ("model.num_threads", 1 <= cfg.model.num_threads <= 64, "must be within 1..64"),
        ("model.runtime", cfg.model.runtime in ("", "ai-edge-litert", "tflite-runtime", "tensorflow"),
         "must be ai-edge-litert, tflite-runtime or tensorflow"),
        ("keypoints.model_complexity", cfg.keypoints.model_complexity in (0, 1, 2), "must be 0, 1 or 2"),
        ("keypoints.niceness", 0 <= cfg.keypoints.niceness <= 19, "must be 0-19"),
        ("window.stride", 1 <= cfg.window.stride <= 1000, "must be within 1..1000"),
        ("window.reset_after", 0 <= cfg.window.reset_after <= 3600, "must be within 0..3600 seconds (0 = never)"),
        ("window.seconds", cfg.window.seconds is None or 0 <= cfg.window.seconds <= MAX_WINDOW_SECONDS,
         f"must be within 0..{MAX_WINDOW_SECONDS:g} seconds (0 = a window of frames)"),
        ("socket.heartbeat", 0 < cfg.socket.heartbeat <= 3600, "must be > 0 and <= 3600 seconds"),
        ("socket.queue", 1 <= cfg.socket.queue <= 1_000_000, "must be within 1..1000000"),
        ("socket.stall_timeout", 0 < cfg.socket.stall_timeout <= 86400, "must be > 0 and <= 86400 seconds"),
        ("log_level", cfg.log_level in ("debug", "info", "warning", "error"), "must be debug, info, warning or error"),
    ]
    for key, ok, why in rules:
        if not ok:
            raise ConfigError(f"{key}: {why}")
    try:
        int(cfg.socket.mode, 8)
    except ValueError:
        raise ConfigError(f"socket.mode: expected an octal mode such as \"0660\", got {cfg.socket.mode!r}") from None
    if cfg.socket.tcp:
        host, _, port = cfg.socket.tcp.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"socket.tcp: expected HOST:PORT such as 127.0.0.1:7755, got {cfg.socket.tcp!r}")
    check_mqtt(cfg.mqtt)
    try:
        cfg.smoothing.apply(SmoothingConfig())
    except ValueError as exc:
        raise ConfigError(f"smoothing: {exc}") from None
    return cfg


def load_config(path: str | os.PathLike[str] | None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Defaults, then the TOML file at `path` (if any), then `overrides` (from the command line)."""
    cfg = RunConfig()
    if path is not None:
        p = Path(path)
        text = read_text(p, "config file", ConfigError, CONFIG_MAX_BYTES)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
        except RecursionError:
            raise ConfigError(f"{p}: not valid TOML: values nested too deeply") from None
        try:
            cfg = update_dataclass(cfg, data)
        except FieldError as exc:
            raise ConfigError(f"{p}: {exc}") from None
    if overrides:
        try:
            cfg = update_dataclass(cfg, overrides)
        except FieldError as exc:
            raise ConfigError(str(exc)) from None
    try:
        return check(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path is not None else str(exc)) from None
