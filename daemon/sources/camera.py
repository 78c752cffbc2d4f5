"""USB and V4L2 cameras through OpenCV: `camera:N` or `/dev/videoN`.

MJPG, because most USB webcams deliver 30 fps at 640x480 only compressed; a driver buffer of
one frame, so a read returns the newest frame rather than one that waited in the queue.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from signd.daemon.config import SourceConfig
from signd.daemon.errors import InputError

from .device import DeviceSource

CaptureFactory = Callable[[Any, int], Any]


class CameraSource(DeviceSource):
    def __init__(
        self,
        device: int | str,
        stop: threading.Event,
        config: SourceConfig,
        capture_factory: CaptureFactory | None = None,
    ) -> None:
        super().__init__(stop, config)
        self.device = device
        self._factory = capture_factory or cv2.VideoCapture
        self._cap: Any = None
        self.name = f"camera {device}"

    def _open_device(self) -> None:
        cap = self._factory(self.device, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise OSError(f"cannot open {self.device}")
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        self._cap = cap

    def open(self) -> None:
        try:
            super().open()
        except OSError:
            raise InputError(
                f"camera {self.device} cannot be opened (not connected, busy, or no permission: "
                "is the user in the 'video' group?)"
            ) from None

    def _grab(self) -> np.ndarray | None:
        ok, image = self._cap.read()
        if not ok or image is None:
            return None
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)  # OpenCV decodes to BGR

    def _close_device(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
