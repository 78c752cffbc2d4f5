"""Faithful fakes of the hardware edges: an OpenCV V4L2 capture and picamera2's Picamera2.

They keep the real calls' signatures and behaviour where signd depends on it: OpenCV's
`read()` returns (False, None) once a device is unplugged and a new `VideoCapture` on a
missing device is not opened; picamera2's byte orders are the reverse of the format names,
`Picamera2(n)` raises IndexError when camera n does not exist, and `capture_array` fails
unless started.
"""

from __future__ import annotations

import threading

import numpy as np


class FakeCameraDevice:
    """One /dev/videoN: produces `frames` (BGR), vanishes after `vanish_after` reads, stays
    unavailable for `unavailable_opens` open attempts, then comes back."""

    def __init__(self, frames: list[np.ndarray], vanish_after: int | None = None, unavailable_opens: int = 0):
        self.frames = frames
        self.vanish_after = vanish_after
        self.unavailable_opens = unavailable_opens
        self.present = True
        self.reads = 0
        self.opens = 0
        self.settings: dict[int, float] = {}
        self.lock = threading.Lock()

    def factory(self, device, api):
        return FakeVideoCapture(self, device, api)


class FakeVideoCapture:
    def __init__(self, dev: FakeCameraDevice, device, api) -> None:
        self.dev = dev
        self.device, self.api = device, api
        with dev.lock:
            dev.opens += 1
            if not dev.present:
                if dev.unavailable_opens > 0:
                    dev.unavailable_opens -= 1
                else:
                    dev.present = True  # plugged back in
            self._open = dev.present

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self._open

    def set(self, prop: int, value: float) -> bool:
        self.dev.settings[prop] = value
        return self._open

    def read(self):
        dev = self.dev
        with dev.lock:
            if not self._open or not dev.present:
                return False, None
            if dev.vanish_after is not None and dev.reads >= dev.vanish_after:
                dev.present = False
                dev.vanish_after = None
                return False, None
            frame = dev.frames[dev.reads % len(dev.frames)]
            dev.reads += 1
        return True, frame.copy()

    def release(self) -> None:
        self._open = False


# picamera2: memory byte order per format (the names are libcamera's, reversed in memory).
_ORDER = {"RGB888": "BGR", "BGR888": "RGB", "XRGB8888": "BGRA", "XBGR8888": "RGBA"}


class FakePicamera2:
    """The calls of picamera2.Picamera2 that signd uses, with their real behaviour."""

    cameras = 1
    rgb = (200, 30, 10)  # the scene's colour, as R, G, B

    def __init__(self, camera_num: int = 0) -> None:
        if camera_num >= self.cameras:
            raise IndexError("list index out of range")  # what picamera2 raises
        self.camera_num = camera_num
        self.camera_config = None
        self.started = False
        self.closed = False

    def create_video_configuration(self, main=None, lores=None, raw=None, transform=None,
                                   colour_space=None, buffer_count=6, controls=None,
                                   display="main", encode="main", queue=True, sensor=None):
        main = dict(main or {})
        main.setdefault("format", "XBGR8888")
        main.setdefault("size", (1280, 720))
        return {"use_case": "video", "main": main, "buffer_count": buffer_count,
                "controls": dict(controls or {})}

    def configure(self, config) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        if config["main"]["format"] not in _ORDER:
            raise RuntimeError(f"Format {config['main']['format']} not supported")
        self.camera_config = config

    def start(self) -> None:
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True

    def capture_array(self, name: str = "main") -> np.ndarray:
        if not self.started:
            raise RuntimeError("Camera is not running")
        fmt = self.camera_config[name]["format"]
        w, h = self.camera_config[name]["size"]
        value = {"R": self.rgb[0], "G": self.rgb[1], "B": self.rgb[2], "A": 255}
        px = [value[c] for c in _ORDER[fmt]]
        return np.tile(np.array(px, np.uint8), (h, w, 1))

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True
