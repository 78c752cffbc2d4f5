"""A video file: played at its own frame rate, or as fast as the pipeline goes with --fast."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np

from signd.daemon.config import SourceConfig
from signd.daemon.errors import DataError, require_readable

from .base import Frame, Pacer, Source, SourceKind, fit_width

_DEFAULT_FPS = 30.0
TRUNCATED = 0.9
"""A video that decodes fewer than this share of the frames its header announces is damaged."""


class VideoSource(Source):
    kind = SourceKind.IMAGE
    background = True

    def __init__(self, path: str | Path, stop: threading.Event, config: SourceConfig) -> None:
        if config.repeat < 1:
            raise ValueError("repeat must be >= 1")
        fast = config.fast
        self.path = str(path)
        self.repeat = config.repeat
        self._pass = 0
        self.stop = stop
        self.live = not fast
        self.max_width = config.max_width
        self.name = f"video {self.path}"
        self._cap: cv2.VideoCapture | None = None
        self._next: np.ndarray | None = None
        self._index = 0
        self._decoded = 0  # frames of the first pass
        self._announced = 0  # what the container's header says it holds
        self._truncated: str | None = None
        self._pacer = Pacer(stop, enabled=not fast)

    def open(self) -> None:
        require_readable(self.path, "video")
        if Path(self.path).stat().st_size == 0:
            raise DataError(f"{self.path}: video file is empty (no frames)")
        # One FFmpeg thread: decoding then happens in the thread that reads (the capture
        # thread, at its lower priority) instead of in FFmpeg's own threads, which would
        # compete with MediaPipe's at full priority.
        cap = cv2.VideoCapture(self.path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        if not cap.isOpened():
            # OpenCV refuses a container without a single frame as it refuses a non-video.
            raise DataError(f"{self.path}: no frames that OpenCV can decode (not a video, or an empty one)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        # Containers without a rate report 0 (or nonsense): play those at 30 fps.
        self.fps = fps if 1.0 <= fps <= 240.0 else _DEFAULT_FPS
        self._announced = int(max(cap.get(cv2.CAP_PROP_FRAME_COUNT), 0))
        self._cap = cap
        self._next = self._decode()
        if self._next is None:
            cap.release()
            raise DataError(f"{self.path}: video has no frames")
        self.state = "open"

    def _decode(self) -> np.ndarray | None:
        assert self._cap is not None
        ok, image = self._cap.read()
        if not ok or image is None:
            return None
        self._decoded += self._pass == 0
        return cv2.cvtColor(fit_width(image, self.max_width), cv2.COLOR_BGR2RGB)

    def _rewind(self) -> np.ndarray | None:
        """Start the next pass of --repeat; None when all passes are done."""
        if self._pass + 1 >= self.repeat:
            return None
        self._pass += 1
        assert self._cap is not None
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        return self._decode()

    def read(self) -> Frame | None:
        if self._truncated:
            raise DataError(self._truncated)
        image = self._next
        if image is None or self.stop.is_set():
            self.state = "ended"
            return None
        # Decoding one frame ahead tells us which frame is the last: the end of the segment.
        segment = self._pass
        self._next = self._decode()
        end = self._next is None
        if end and segment == 0 and self._decoded < TRUNCATED * self._announced - 1:
            # Headers count a frame or two more than decode (seen on every shared clip); a
            # file cut short decodes far fewer. Said after the last good frame is handed on.
            self._truncated = (
                f"{self.path}: decoding stopped after {self._decoded} of the {self._announced} frames "
                "its header announces: the file is truncated or damaged")
            self._next = None
        elif end:
            self._next = self._rewind()
        t_media = self._index / self.fps
        self._pacer.wait_until(t_media)
        frame = Frame(
            self._index, time.monotonic(), t_media, image=image, segment=segment, segment_end=end
        )
        self._index += 1
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self.state = "closed"
