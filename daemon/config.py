"""signd's configuration: nested dataclasses, filled from a TOML file and then the command line.

Every field is typed; `load_config` checks each value against its type and rejects unknown
keys by their dotted path (`socket.grup: unknown key`), so a typo never silently falls back
to a default. An invalid configuration is a ConfigError (exit 78, EX_CONFIG).
"""

from __future__ import annotations

import os
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from .broker import check_mqtt
from .errors import ConfigError
from .scheduling import EXTRACTOR_NICENESS
from .smoothing import SmoothingConfig

DEFAULT_CONFIG_PATH = "/etc/signd/signd.toml"


def default_model_path() -> Path:
    """The model shipped with signd (models/default)."""
    return Path(str(resources.files("signd.models") / "default" / "default.tflite"))


@dataclass
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


@dataclass
class ModelConfig:
    path: str = ""
    """A .tflite with its manifest <model>.json beside it; empty = the shipped default model."""
    labels: list[str] = field(default_factory=list)
    """Output names of a model without a manifest, in output order."""
    num_threads: int = 1
    runtime: str = ""
    """ai-edge-litert, tflite-runtime or tensorflow; empty = the first one installed."""


@dataclass
class KeypointsConfig:
    model_complexity: int = 1
    """MediaPipe Holistic's pose model: 1 ships with mediapipe; 0 and 2 need their model file."""
    isolate: bool = True
    """Run MediaPipe in a process of its own (Linux), so that its Python side and the
    inference thread never wait for each other's GIL; false keeps it in a thread."""
    niceness: int = EXTRACTOR_NICENESS
    """How far that process yields the CPU (nice value, 0-19): 5 = to the daemon's own
    threads, which need little but need it at once; 0 when other busy programs on the machine
    should not get ahead of MediaPipe either. (The kiosk page rendering beside it is not one:
    the daemon kept 0.885 of its frames per second at 5 and 0.869 at 0, bench/kiosk_load.py.)"""


@dataclass
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


@dataclass
class SmoothingOverrides:
    """Smoothing settings given by the user; unset keeps the model's (or the built-in) default."""

    majority: int | None = None
    threshold: float | None = None
    min_hold: int | None = None
    cooldown: float | None = None

    def apply(self, base: SmoothingConfig) -> SmoothingConfig:
        given = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        return replace(base, **given)


@dataclass
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


@dataclass
class MqttConfig:
    url: str = ""
    """mqtt://HOST[:PORT] (1883) or mqtts://HOST[:PORT] (8883); empty = no MQTT."""
    device: str = ""
    """This Pi's name in topics (signd/<device>/gesture); empty = the hostname."""
    topic_prefix: str = "signd"
    username: str = ""
    password_file: str = ""
    """A file whose first line is the password; empty = systemd's credential mqtt-password, if any."""
    ca_file: str = ""
    """mqtts: CA certificates to trust (PEM); empty = the system's."""
    cert_file: str = ""
    """mqtts: a client certificate (PEM), for brokers that ask for one; with key_file."""
    key_file: str = ""
    queue: int = 1000
    """Events kept while the broker is away; beyond that the oldest are dropped and counted."""
    keepalive: int = 30
    """Seconds between pings when idle; a dead connection is noticed within 1.5 times this."""
    reconnect_min: float = 1.0
    """Seconds before the first reconnect attempt; doubled after each failure ..."""
    reconnect_max: float = 60.0
    """... up to this."""
    discovery: bool = False
    """Publish a Home Assistant discovery message (retained), so gestures show up as an entity."""
    discovery_prefix: str = "homeassistant"


@dataclass
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


# -- validation ------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """`value` as type `tp`, or ConfigError naming `where`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool) or not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    return value


def update_dataclass(obj: Any, data: dict[str, Any], prefix: str = "") -> Any:
    """A copy of dataclass `obj` with `data` applied; unknown keys and wrong types are errors."""
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"{where}: unknown key (known: {', '.join(sorted(names))})")
        current = getattr(obj, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table [{where}], got {value!r}")
            changes[key] = update_dataclass(current, value, f"{where}.")
        else:
            changes[key] = _coerce(value, hints[key], where)
    return replace(obj, **changes)


def check(cfg: RunConfig) -> RunConfig:
    """Cross-field and range rules; ConfigError naming the key."""
    rules = [
        ("source.repeat", cfg.source.repeat >= 1, "must be >= 1"),
        ("source.max_width", cfg.source.max_width >= 0, "must be >= 0 (0 keeps frames as they are)"),
        ("source.camera_fps", cfg.source.camera_fps > 0, "must be > 0"),
        ("model.num_threads", cfg.model.num_threads >= 1, "must be >= 1"),
        ("model.runtime", cfg.model.runtime in ("", "ai-edge-litert", "tflite-runtime", "tensorflow"),
         "must be ai-edge-litert, tflite-runtime or tensorflow"),
        ("keypoints.model_complexity", cfg.keypoints.model_complexity in (0, 1, 2), "must be 0, 1 or 2"),
        ("keypoints.niceness", 0 <= cfg.keypoints.niceness <= 19, "must be 0-19"),
        ("window.stride", cfg.window.stride >= 1, "must be >= 1"),
        ("window.reset_after", cfg.window.reset_after >= 0, "must be >= 0 (0 = never)"),
        ("window.seconds", cfg.window.seconds is None or cfg.window.seconds >= 0,
         "must be >= 0 (0 = a window of frames)"),
        ("socket.heartbeat", cfg.socket.heartbeat > 0, "must be > 0"),
        ("socket.queue", cfg.socket.queue >= 1, "must be >= 1"),
        ("socket.stall_timeout", cfg.socket.stall_timeout > 0, "must be > 0"),
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
        smoothing_for({}, cfg.smoothing)
    except ValueError as exc:
        raise ConfigError(f"smoothing: {exc}") from None
    return cfg


def load_config(path: str | os.PathLike[str] | None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Defaults, then the TOML file at `path` (if any), then `overrides` (from the command line)."""
    cfg = RunConfig()
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {p}") from None
        except OSError as exc:
            raise ConfigError(f"config file {p} cannot be read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
        try:
            cfg = update_dataclass(cfg, data)
        except ConfigError as exc:
            raise ConfigError(f"{p}: {exc}") from None
    if overrides:
        cfg = update_dataclass(cfg, overrides)
    try:
        return check(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path is not None else str(exc)) from None


def smoothing_for(manifest_extra: dict[str, Any], overrides: SmoothingOverrides) -> SmoothingConfig:
    """Built-in defaults, then the model's recommended settings, then the user's."""
    base = SmoothingConfig()
    rec = manifest_extra.get("smoothing") if isinstance(manifest_extra, dict) else None
    if isinstance(rec, dict):
        known = {f.name for f in fields(SmoothingConfig)}
        values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in rec.items() if k in known}
        base = replace(base, **values)
    return overrides.apply(base)
