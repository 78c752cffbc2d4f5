"""Cameras that can vanish: a device source that logs, reopens with backoff and stays up.

A USB camera unplugged, a ribbon cable knocked, a driver reset: the read fails. The daemon
must not exit (systemd would restart it into the same missing camera, again and again); it
keeps the process, the socket and its clients, and reopens the device with a growing delay.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import abstractmethod

import numpy as np

from signd.daemon.config import SourceConfig

from .base import Frame, Source, fit_width

log = logging.getLogger(__name__)


class DeviceSource(Source):
    """Base of camera sources: subclasses open, grab and close the device."""

    live = True
    backoff_initial = 0.5
    backoff_max = 10.0

    def __init__(self, stop: threading.Event, config: SourceConfig) -> None:
        self.stop = stop
        self.width, self.height = config.camera_width, config.camera_height
        self.fps: float = config.camera_fps
        self.max_width = config.max_width
        self.reopens = 0  # successful reopenings after a failure
        self._index = 0
        self._segment = 0
        self._t0: float | None = None

    @abstractmethod
    def _open_device(self) -> None:
        """Open the device; raise an exception (any) when it cannot be opened."""

    @abstractmethod
    def _grab(self) -> np.ndarray | None:
        """One RGB frame, or None (or an exception) when the device failed."""

    @abstractmethod
    def _close_device(self) -> None: ...

    def open(self) -> None:
        self._open_device()  # subclasses turn failures into InputError for a clean first start
        self.state = "open"

    def close(self) -> None:
        self._close_device()
        self.state = "closed"

    def _reopen(self) -> bool:
        """Close and reopen until it works or we are stopped; True when open again."""
        self.state = "reopening"
        self._segment += 1  # frames after a reopen are a new stream: the window must not mix them
        try:
            self._close_device()
        except Exception as exc:  # a vanished device may fail to close too; nothing to save
            log.debug("closing the failed camera: %s", exc)
        delay = self.backoff_initial
        while not self.stop.is_set():
            log.info("%s: reopening in %.1f s", self.name, delay)
            if self.stop.wait(delay):
                break
            try:
                self._open_device()
            except Exception as exc:
                log.warning("%s: still unavailable: %s", self.name, exc)
                delay = min(delay * 2, self.backoff_max)
                continue
            self.reopens += 1
            self.state = "open"
            log.info("%s: reopened", self.name)
            return True
        return False

    def read(self) -> Frame | None:
        while not self.stop.is_set():
            try:
                image = self._grab()
            except Exception as exc:
                log.warning("%s: read failed: %s", self.name, exc)
                image = None
            if image is not None:
                now = time.monotonic()
                if self._t0 is None:
                    self._t0 = now
                image = fit_width(image, self.max_width)
                frame = Frame(self._index, now, now - self._t0, image=image, segment=self._segment)
                self._index += 1
                return frame
            log.warning("%s: no frame (camera gone?); the daemon stays up and reopens it", self.name)
            if not self._reopen():
                break
        self.state = "ended"
        return None
