"""Frame sources behind one interface, chosen by a `--source` string.

    demo                 the embedded keypoint stream (no camera needed)
    camera:N, /dev/videoN  a V4L2 camera through OpenCV
    picamera2[:N]        a Raspberry Pi camera through picamera2
    PATH.npz             a signer file: keypoint sequences replayed back to back, one segment
                         each; or one continuous stream (frames, fps, layout), like the demo
    PATH/ (MP_Data)      a tutorial MP_Data folder, replayed the same way
    PATH                 any other file: a video, decoded with OpenCV
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from signd.daemon.config import SourceConfig
from signd.daemon.errors import InputError

from .base import Frame, Source, SourceKind
from .camera import CameraSource
from .picamera import PiCamera2Source
from .replay import DemoSource, ReplaySource, is_keypoint_stream
from .video import VideoSource

__all__ = ["Frame", "Source", "SourceKind", "is_live", "make_source"]

_CAMERA = re.compile(r"^camera(?::(\d+))?$")
_PICAMERA = re.compile(r"^picamera2(?::(\d+))?$")
_DEVICE = re.compile(r"^/dev/video\d+$")


def is_live(spec: str) -> bool:
    """Whether `spec` names a camera (frames come at the device's pace, not from a file)."""
    return bool(_CAMERA.match(spec) or _PICAMERA.match(spec) or _DEVICE.match(spec))


def make_source(config: SourceConfig, stop: threading.Event) -> Source:
    """The source named by `config.uri` (not yet opened); InputError when nothing matches."""
    spec = config.uri
    if spec == "demo":
        return DemoSource(stop, config)
    if m := _CAMERA.match(spec):
        return CameraSource(int(m.group(1) or 0), stop, config)
    if _DEVICE.match(spec):
        return CameraSource(spec, stop, config)
    if m := _PICAMERA.match(spec):
        return PiCamera2Source(stop, config, camera_num=int(m.group(1) or 0))
    path = Path(spec)
    if not path.exists():
        raise InputError(f"source not found: {spec} (a path, demo, camera:N, /dev/videoN or picamera2)")
    if path.suffix == ".npz" and is_keypoint_stream(path):
        return DemoSource(stop, config, path)
    if path.is_dir() or path.suffix == ".npz":
        return ReplaySource(path, stop, config)
    return VideoSource(path, stop, config)
