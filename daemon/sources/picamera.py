"""Raspberry Pi cameras through picamera2 (from Raspberry Pi OS's apt, imported lazily).

picamera2 names formats after libcamera/DRM, in which the byte order is the reverse of the
name: "RGB888" arrays are [B, G, R] per pixel and "BGR888" are [R, G, B]. We ask for RGB888
(what OpenCV users expect) and convert whatever was configured to RGB explicitly.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from signd.daemon.config import SourceConfig
from signd.daemon.errors import InputError

from .device import DeviceSource

# format -> (channels kept, reverse them?) to get RGB
_TO_RGB: dict[str, tuple[slice, bool]] = {
    "RGB888": (slice(0, 3), True),  # [B, G, R]
    "BGR888": (slice(0, 3), False),  # [R, G, B]
    "XRGB8888": (slice(0, 3), True),  # [B, G, R, 255]
    "XBGR8888": (slice(0, 3), False),  # [R, G, B, 255]
}


def to_rgb(array: np.ndarray, fmt: str) -> np.ndarray:
    """An RGB (H, W, 3) copy of a picamera2 array in format `fmt`."""
    try:
        channels, reverse = _TO_RGB[fmt]
    except KeyError:
        raise InputError(f"picamera2 format {fmt!r} is not supported (use one of {', '.join(_TO_RGB)})") from None
    out = array[..., channels]
    return np.ascontiguousarray(out[..., ::-1] if reverse else out)


def _import_picamera2() -> Any:
    try:
        from picamera2 import Picamera2
    except ImportError as exc:
        raise InputError(
            f"picamera2 is not importable ({exc}): on Raspberry Pi OS run "
            "`sudo apt install python3-picamera2` and make the venv with --system-site-packages"
        ) from None
    return Picamera2


class PiCamera2Source(DeviceSource):
    def __init__(
        self,
        stop: threading.Event,
        config: SourceConfig,
        camera_num: int = 0,
        fmt: str = "RGB888",
        picamera2_cls: Any = None,
    ) -> None:
        super().__init__(stop, config)
        self.camera_num = camera_num
        self.fmt = fmt
        self._cls = picamera2_cls
        self._cam: Any = None
        self._format = fmt
        self.name = f"picamera2 camera {camera_num}"

    def _open_device(self) -> None:
        cls = self._cls or _import_picamera2()
        cam = cls(self.camera_num)
        try:
            config = cam.create_video_configuration(
                main={"size": (self.width, self.height), "format": self.fmt},
                controls={"FrameRate": self.fps},
                buffer_count=2,  # few buffers: we want the newest frame, not a queue
            )
            cam.configure(config)
            # picamera2 may adjust the request; convert what was really configured.
            self._format = cam.camera_config["main"]["format"]
            cam.start()
        except Exception:
            cam.close()
            raise
        self._cam = cam

    def open(self) -> None:
        try:
            super().open()
        except InputError:
            raise
        except Exception as exc:  # Picamera2() raises IndexError when there is no camera
            raise InputError(f"picamera2 camera {self.camera_num} cannot be opened: {exc!r}") from None

    def _grab(self) -> np.ndarray | None:
        return to_rgb(self._cam.capture_array("main"), self._format)

    def _close_device(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
            finally:
                self._cam.close()
                self._cam = None
