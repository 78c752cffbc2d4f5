"""What every source yields, and the interface they share.

A source produces `Frame`s: an RGB image ready for the keypoint extractor (cameras, video
files) or a ready keypoint vector (replays of recordings, the demo). Sources convert their
own pixel order to RGB, so the extractor never guesses.
"""

from __future__ import annotations

import enum
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from signd.daemon.layout import Layout


class SourceKind(enum.Enum):
    IMAGE = "image"
    """Frames are pictures: keypoints come from the extractor."""
    KEYPOINTS = "keypoints"
    """Frames carry their keypoint vectors (replays of recordings, the demo)."""


@dataclass
class Frame:
    """One captured frame."""

    index: int
    """0-based position in the source; replays count across all sequences played back to back."""
    t_capture: float
    """time.monotonic() when the frame was captured (read, for files)."""
    t_media: float
    """Position in the source's own timeline, seconds (frame index / fps for files)."""
    image: np.ndarray | None = None
    """RGB uint8 (H, W, 3), for image sources."""
    keypoints: np.ndarray | None = None
    """float32 (F,) in the source's layout, for keypoint sources."""
    segment: int = 0
    """Frames of one segment are one continuous stream; a new segment is a cut."""
    segment_end: bool = False
    """The last frame of its segment (a replayed clip's last frame)."""


class Source(ABC):
    """A stream of frames. `open` validates and raises SigndError; `read` returns None at the end."""

    kind: SourceKind = SourceKind.IMAGE
    layout: Layout | None = None  # for keypoint sources
    live: bool = True
    """Live sources run at their own pace: when the pipeline is busy, the newest frame wins and
    older ones are dropped and counted. Non-live sources (files with --fast) are read only as
    fast as the pipeline takes them, so nothing is dropped."""
    fps: float | None = None
    background: bool = False
    """Reading costs CPU (decoding a file) but has no camera to keep up with: the capture
    thread runs at a lower priority, so decoding never takes a core from the extractor,
    which is what sets the pipeline's speed."""
    name: str = "source"
    state: str = "closed"  # closed, open, reopening, ended

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def read(self) -> Frame | None: ...

    def close(self) -> None:  # noqa: B027 - optional hook, most sources hold nothing
        """Release the device or file."""

    def describe(self) -> str:
        return self.name


class Pacer:
    """Holds a file source to its own frame rate (unless --fast), sleeping interruptibly."""

    def __init__(self, stop: threading.Event, enabled: bool) -> None:
        self.stop = stop
        self.enabled = enabled
        self._t0: float | None = None

    def wait_until(self, t_media: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now - t_media
        delay = self._t0 + t_media - now
        if delay > 0:
            self.stop.wait(delay)


def fit_width(image: np.ndarray, max_width: int) -> np.ndarray:
    """Shrink `image` to `max_width` pixels wide (aspect kept); smaller images, or any image
    when `max_width` is 0, pass unchanged.

    MediaPipe works on its own small crops, so a 1280 px frame costs more to copy and convert
    than it gives back; landmarks are normalised to the image, so shrinking does not move them.
    """
    if not max_width or image.shape[1] <= max_width:
        return image
    import cv2

    h = max(1, round(image.shape[0] * max_width / image.shape[1]))
    return cv2.resize(image, (max_width, h), interpolation=cv2.INTER_AREA)
