"""The window over keypoint frames (the tutorial's last 30): a preallocated ring buffer, or
rows sampled over a span of seconds (`TimedWindowBuffer`).

Pure: no I/O, no threads. Each frame is written twice (at i and i + T) into a (2T, F)
buffer, so the last T frames are always one contiguous slice: a view, never a copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_WINDOW_SECONDS = 60.0
"""The longest span a window may cover: a sign takes a second or two; beyond a minute a setting
is a mistake (and 1e308 would never fill)."""


@dataclass
class Window:
    """The last `length` frames (a view into the ring: read it before the next push)."""

    frames: np.ndarray  # (T, F) float32
    frame: int  # source index of the last frame
    t_capture: float  # monotonic capture time of the last frame
    t_media: float  # position of the last frame in the source's timeline, seconds


class WindowBuffer:
    """Collects frames and hands out a window every `stride` frames once `length` are in.

    After `reset_after` seconds (of media time) without a hand, `absent_too_long` says so and
    the caller cuts the stream, so a window never mixes the previous signer's last sign with
    whatever comes next; 0 never does.
    """

    def __init__(self, length: int, features: int, stride: int, reset_after: float) -> None:
        if length < 1 or features < 1 or stride < 1:
            raise ValueError("length, features and stride must be >= 1")
        self.length = length
        self.stride = stride
        self.reset_after = reset_after
        self._buf = np.zeros((2 * length, features), np.float32)
        self._pos = 0  # next write index in [0, length)
        self._count = 0  # frames since the last reset
        self._since_emit = 0
        self._last_hands: float | None = None  # media time of the last frame with a hand

    @property
    def filled(self) -> int:
        return min(self._count, self.length)

    def reset(self) -> None:
        """Forget every frame (the buffer stays allocated)."""
        self._count = 0
        self._pos = 0
        self._since_emit = 0
        self._last_hands = None

    def absent_too_long(self, hands: bool, t_media: float) -> bool:
        """Note whether this frame shows a hand; True when the buffer holds frames and no hand
        has been seen for `reset_after` seconds (the caller then ends the segment and resets)."""
        if hands or self._last_hands is None:
            self._last_hands = t_media
            return False
        return (
            self.reset_after > 0
            and self._count > 0
            and t_media - self._last_hands >= self.reset_after
        )

    def push(self, frame: np.ndarray, index: int, t_capture: float, t_media: float) -> Window | None:
        """Add one frame; return a window when one is due."""
        T = self.length
        self._buf[self._pos] = frame
        self._buf[self._pos + T] = frame
        self._pos = (self._pos + 1) % T
        self._count += 1
        if self._count < T:
            return None
        self._since_emit += 1
        if self._count > T and self._since_emit < self.stride:
            return None
        self._since_emit = 0
        return Window(self._buf[self._pos : self._pos + T], index, t_capture, t_media)


class TimedWindowBuffer(WindowBuffer):
    """A window that covers `span` seconds, whatever the frame rate.

    The frame-count window assumes the camera runs as fast as the recordings the model learnt
    from: at the 2-5 fps of a Raspberry Pi 4, 30 frames would cover 6-15 seconds and a
    one-second sign would fill a sixth of them. This buffer keeps its recent frames with their
    times and hands out `length` rows sampled evenly over the last `span` seconds, each row the
    latest frame at or before its time (sample and hold, as a faster camera would have shown
    the scene). At the recordings' own rate (length / span fps) it gives exactly the frames the
    frame-count window gives. Rows are a fresh array, not a view.
    """

    def __init__(
        self, length: int, features: int, span: float, stride: int, reset_after: float,
        capacity: int | None = None,
    ) -> None:
        super().__init__(length, features, stride, reset_after)
        if span <= 0:
            raise ValueError("span must be > 0 seconds")
        self.span = span
        self.capacity = capacity or 4 * length  # frames kept: enough for up to 4x the rate
        self._buf = np.zeros((self.capacity, features), np.float32)
        self._times = np.zeros(self.capacity, np.float64)
        self._first: float | None = None  # media time of the first frame since the reset
        # Offsets of the sample times from the newest frame: -span + span/T, ..., 0.
        self._offsets = (np.arange(1, length + 1) - length) * (span / length)

    def reset(self) -> None:
        super().reset()
        self._first = None

    def push(self, frame: np.ndarray, index: int, t_capture: float, t_media: float) -> Window | None:
        C = self.capacity
        slot = self._count % C
        self._buf[slot] = frame
        self._times[slot] = t_media
        self._count += 1
        if self._first is None:
            self._first = t_media
        targets = t_media + self._offsets
        # Not ready until the frames reach back to the first sample time.
        if targets[0] < self._first - 1e-6:
            return None
        self._since_emit += 1
        if (self._since_emit - 1) % self.stride:  # the first ready frame, then every stride-th
            return None
        n = min(self._count, C)
        order = (np.arange(self._count - n, self._count)) % C  # oldest -> newest
        times = self._times[order]
        picks = np.searchsorted(times, targets + 1e-6, side="right") - 1
        rows = self._buf[order[np.maximum(picks, 0)]]
        return Window(rows, index, t_capture, t_media)
