"""signd run: recognise signs from a camera, a video or a replay; one JSON event per sign on stdout."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from signd.daemon.config import ModelConfig, RunConfig, SourceConfig, WindowConfig, load_config
from signd.daemon.errors import ConfigError
from signd.daemon.interpreter import RUNTIME_NAMES
from signd.daemon.keypoint_recorder import DEFAULT_MAX_FRAMES, RecordTarget
from signd.daemon.logging_setup import setup_logging
from signd.daemon.service import run_service

NAME = "run"
HELP = "recognise signs and print one JSON event per sign (logs go to stderr)"

# The defaults quoted in the help come from the config sections, which own them.
_S, _M, _W = SourceConfig(), ModelConfig(), WindowConfig()

# command-line flag (argparse dest) -> dotted config key; a flag given overrides the file
FLAG_KEYS = {
    "source": "source.uri",
    "fast": "source.fast",
    "repeat": "source.repeat",
    "max_width": "source.max_width",
    "camera_fps": "source.camera_fps",
    "model": "model.path",
    "labels": "model.labels",
    "num_threads": "model.num_threads",
    "runtime": "model.runtime",
    "model_complexity": "keypoints.model_complexity",
    "stride": "window.stride",
    "reset_after": "window.reset_after",
    "window_seconds": "window.seconds",
    "threshold": "smoothing.threshold",
    "majority": "smoothing.majority",
    "min_hold": "smoothing.min_hold",
    "cooldown": "smoothing.cooldown",
    "socket": "socket.path",
    "socket_group": "socket.group",
    "tcp": "socket.tcp",
    "mqtt": "mqtt.url",
    "mqtt_device": "mqtt.device",
    "mqtt_discovery": "mqtt.discovery",
}


def _labels(text: str) -> list[str]:
    labels = [s.strip() for s in text.split(",") if s.strip()]
    if not labels:
        raise argparse.ArgumentTypeError("--labels needs comma-separated names, e.g. hello,thanks,iloveyou")
    return labels


def _seconds_or_never(text: str) -> float:
    if text in ("never", "none", "off"):
        return 0.0
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0 seconds, or 'never'")
    return value


def _width(text: str) -> int:
    return 0 if text in ("none", "off") else int(text)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH such as 640x480, got {text!r}") from None
    return w, h


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared by run and bench. Defaults live in signd.daemon.config, not here: a flag
    that is not given leaves the config file's value alone."""
    p.add_argument("--config", metavar="FILE", help="TOML configuration (e.g. /etc/signd/signd.toml); flags override it")
    p.add_argument("--source", help="demo (default), camera:N, /dev/videoN, picamera2[:N], a video file, a signer .npz or an MP_Data folder")
    p.add_argument("--model", help="a .tflite model (its manifest <model>.json beside it); default: the shipped model")
    p.add_argument("--labels", type=_labels, help="output names of a model without a manifest, in output order: hello,thanks,iloveyou")
    p.add_argument("--fast", action="store_const", const=True, help="files and replays: as fast as possible instead of at their own frame rate")
    p.add_argument("--repeat", type=int, help="files, replays and the demo: play this many times")
    p.add_argument("--stride", type=int, help=f"classify a window every N frames (default {_W.stride}; 1 = every frame, as the tutorial)")
    p.add_argument("--window-seconds", type=float, metavar="SECONDS", help="make the window cover this many seconds at any frame rate (slow cameras, e.g. a Pi 4); 0 = the last 30 frames, as the tutorial; default: the model's recommendation")
    p.add_argument("--reset-after", type=_seconds_or_never, metavar="SECONDS", help=f"restart the window after this long without a hand (default {_W.reset_after:g}; 'never')")
    p.add_argument("--num-threads", type=int, help=f"interpreter threads (default {_M.num_threads})")
    p.add_argument("--runtime", choices=RUNTIME_NAMES, help="TFLite runtime (default: the first installed of " + ", ".join(RUNTIME_NAMES) + ")")
    p.add_argument("--model-complexity", type=int, choices=(0, 1, 2), help="MediaPipe Holistic model (1 ships with mediapipe; 0 and 2 need their model file)")
    p.add_argument("--max-width", type=_width, help=f"shrink frames wider than this before MediaPipe (default {_S.max_width}; 'none')")
    p.add_argument("--camera-size", type=_size, help=f"camera capture size WxH (default {_S.camera_width}x{_S.camera_height})")
    p.add_argument("--camera-fps", type=float)
    g = p.add_argument_group("smoothing (default: the model's recommendation)")
    g.add_argument("--threshold", type=float, help="top probability a window needs to count")
    g.add_argument("--majority", type=int, help="predictions to vote over")
    g.add_argument("--min-hold", type=int, help="windows in a row before a sign fires")
    g.add_argument("--cooldown", type=float, help="seconds after an event during which nothing fires")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    g = p.add_argument_group("event socket")
    g.add_argument("--socket", metavar="PATH", help="serve events on this Unix socket (e.g. /run/signd/events.sock)")
    g.add_argument("--socket-group", metavar="GROUP", help="group owning the socket file (mode 0660)")
    g.add_argument("--tcp", metavar="HOST:PORT", help="also serve events on TCP (explicit opt-in; use 127.0.0.1)")
    g = p.add_argument_group("MQTT (credentials only from the config file: mqtt.username, mqtt.password_file)")
    g.add_argument("--mqtt", metavar="URL", help="publish events to this broker: mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    g.add_argument("--mqtt-device", metavar="NAME", help="this Pi's name in the topics signd/NAME/... (default: the hostname)")
    g.add_argument("--mqtt-discovery", action="store_const", const=True, help="publish a Home Assistant discovery message")
    # Command-line only: a recording is one run's choice, not a setting of the service.
    g = p.add_argument_group("keypoint recording (replay it with --source FILE.npz; docs/runtime.md)")
    g.add_argument("--record-keypoints", metavar="FILE.npz",
                   help="write the keypoints of this run to FILE.npz when it ends (no pictures)")
    g.add_argument("--record-max-frames", type=int, metavar="N",
                   help=f"record at most N frames, kept in memory until the end (default {DEFAULT_MAX_FRAMES}: "
                        "an hour at 30 fps, 110 MB of pose-hands-258 keypoints)")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The flags that were given, as a nested dict of config keys."""
    out: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        section, _, name = key.partition(".")
        out.setdefault(section, {})[name] = value

    for dest, key in FLAG_KEYS.items():
        value = getattr(args, dest, None)
        if value is not None:
            put(key, value)
    if getattr(args, "camera_size", None) is not None:
        put("source.camera_width", args.camera_size[0])
        put("source.camera_height", args.camera_size[1])
    return out


def config_from_args(args: argparse.Namespace) -> RunConfig:
    cfg = load_config(args.config, overrides_from_args(args))
    if getattr(args, "log_level", None) is None:
        setup_logging(cfg.log_level)
    return cfg


def record_target(args: argparse.Namespace) -> RecordTarget | None:
    """--record-keypoints, checked before anything runs (ConfigError, OutputError)."""
    path, limit = getattr(args, "record_keypoints", None), getattr(args, "record_max_frames", None)
    if path is None:
        if limit is not None:
            raise ConfigError("--record-max-frames needs --record-keypoints FILE.npz")
        return None
    target = RecordTarget(Path(path), DEFAULT_MAX_FRAMES if limit is None else limit)
    target.check()
    return target


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    return run_service(cfg, config_path=args.config, overrides=overrides_from_args(args), record=record_target(args))
