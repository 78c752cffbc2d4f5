"""Frame sources behind one interface, chosen by a `--source` string.

    demo                 the embedded keypoint stream (no camera needed)
    camera:N, /dev/videoN  a V4L2 camera through OpenCV
    picamera2[:N]        a Raspberry Pi camera through picamera2
    PATH.npz             a signer file: keypoint sequences replayed back to back
    PATH/ (MP_Data)      a tutorial MP_Data folder, replayed the same way
    PATH                 any other file: a video, decoded with OpenCV
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

from signd.daemon.errors import InputError

from .base import Frame, Source
from .camera import CameraSource
from .picamera import PiCamera2Source
from .replay import DemoSource, ReplaySource
from .video import VideoSource

__all__ = ["Frame", "Source", "SourceOptions", "make_source"]

_CAMERA = re.compile(r"^camera(?::(\d+))?$")
_PICAMERA = re.compile(r"^picamera2(?::(\d+))?$")


@dataclass(frozen=True)
class SourceOptions:
    """How to open a source; each field matters only to the sources it names."""

    fast: bool = False
    """Files and replays: as fast as the pipeline goes, instead of at their own frame rate."""
    repeat: int = 1
    """Files, replays and the demo: play this many times."""
    max_width: int | None = 640
    """Images wider than this are shrunk before keypoint extraction."""
    camera_width: int = 640
    camera_height: int = 480
    camera_fps: float = 30.0


def make_source(spec: str, stop: threading.Event, options: SourceOptions | None = None) -> Source:
    """The source named by `spec` (not yet opened); InputError when nothing matches."""
    o = options or SourceOptions()
    cam = dict(width=o.camera_width, height=o.camera_height, fps=o.camera_fps, max_width=o.max_width)
    if spec == "demo":
        return DemoSource(stop, fast=o.fast, repeat=o.repeat)
    if m := _CAMERA.match(spec):
        return CameraSource(int(m.group(1) or 0), stop, **cam)
    if re.match(r"^/dev/video\d+$", spec):
        return CameraSource(spec, stop, **cam)
    if m := _PICAMERA.match(spec):
        return PiCamera2Source(stop, camera_num=int(m.group(1) or 0), **cam)
    path = Path(spec)
    if not path.exists():
        raise InputError(f"source not found: {spec} (a path, demo, camera:N, /dev/videoN or picamera2)")
    if path.is_dir() or path.suffix == ".npz":
        return ReplaySource(path, stop, fast=o.fast, repeat=o.repeat)
    return VideoSource(path, stop, fast=o.fast, max_width=o.max_width, repeat=o.repeat)
