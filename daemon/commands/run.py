"""signd run: recognise signs from a camera, a video or a replay; one JSON event per sign on stdout."""

from __future__ import annotations

import argparse

from signd.daemon.config import RunConfig, SmoothingOverrides
from signd.daemon.interpreter import RUNTIME_NAMES
from signd.daemon.publishers import StdoutPublisher
from signd.daemon.runner import build_pipeline, run_until_done

NAME = "run"
HELP = "recognise signs and print one JSON event per sign (logs go to stderr)"


def _labels(text: str) -> list[str]:
    labels = [s.strip() for s in text.split(",") if s.strip()]
    if not labels:
        raise argparse.ArgumentTypeError("--labels needs comma-separated names, e.g. hello,thanks,iloveyou")
    return labels


def _seconds_or_never(text: str) -> float | None:
    if text in ("never", "none", "off"):
        return None
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0 seconds, or 'never'")
    return value


def _width(text: str) -> int | None:
    return None if text in ("none", "off", "0") else int(text)


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared by run and bench: where frames come from and which model reads them."""
    d = RunConfig()
    p.add_argument("--source", default=d.source, help="demo (default), camera:N, /dev/videoN, picamera2[:N], a video file, a signer .npz or an MP_Data folder")
    p.add_argument("--model", help="a .tflite model (its manifest <model>.json beside it); default: the shipped model")
    p.add_argument("--labels", type=_labels, help="output names of a model without a manifest, in output order: hello,thanks,iloveyou")
    p.add_argument("--fast", action="store_true", help="files and replays: as fast as possible instead of at their own frame rate")
    p.add_argument("--repeat", type=int, default=d.repeat, help="replays and the demo: play this many times")
    p.add_argument("--stride", type=int, default=d.stride, help="classify a window every N frames (default 1, as the tutorial)")
    p.add_argument("--reset-after", type=_seconds_or_never, default=d.reset_after, metavar="SECONDS", help="restart the window after this long without a hand (default 1.0; 'never')")
    p.add_argument("--num-threads", type=int, default=d.num_threads, help="interpreter threads (default 1)")
    p.add_argument("--runtime", choices=RUNTIME_NAMES, help="TFLite runtime (default: the first installed of " + ", ".join(RUNTIME_NAMES) + ")")
    p.add_argument("--model-complexity", type=int, choices=(0, 1, 2), default=d.model_complexity, help="MediaPipe Holistic model (1 is installed; 0 and 2 need their model file)")
    p.add_argument("--max-width", type=_width, default=d.max_width, help="shrink frames wider than this before MediaPipe (default 640; 'none')")
    p.add_argument("--camera-size", default=f"{d.camera_width}x{d.camera_height}", help="camera capture size WxH (default 640x480)")
    p.add_argument("--camera-fps", type=float, default=d.camera_fps)
    g = p.add_argument_group("smoothing (default: the model's recommendation)")
    g.add_argument("--threshold", type=float, help="top probability a window needs to count")
    g.add_argument("--majority", type=int, help="predictions to vote over")
    g.add_argument("--min-hold", type=int, help="windows in a row before a sign fires")
    g.add_argument("--cooldown", type=float, help="seconds after an event during which nothing fires")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    try:
        cw, ch = (int(v) for v in args.camera_size.lower().split("x"))
    except ValueError:
        raise SystemExit(f"signd: error: --camera-size must be WxH, got {args.camera_size!r}") from None
    return RunConfig(
        source=args.source, model=args.model, labels=args.labels, fast=args.fast, repeat=args.repeat,
        stride=args.stride, reset_after=args.reset_after, num_threads=args.num_threads,
        runtime=args.runtime, model_complexity=args.model_complexity, max_width=args.max_width,
        camera_width=cw, camera_height=ch, camera_fps=args.camera_fps,
        smoothing=SmoothingOverrides(args.majority, args.threshold, args.min_hold, args.cooldown),
    )


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    pipeline = build_pipeline(cfg, [StdoutPublisher()])
    run_until_done(pipeline)
    return 0
