"""Counters and timings of a running pipeline, for logs, status heartbeats and `signd bench`.

Each counter has a single writer thread, so plain attributes are safe under the GIL; readers
take a `snapshot()`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field

import numpy as np

STAGES = (
    "capture",  # time in source.read(), waiting for the device included
    "extraction",  # keypoints from one frame (MediaPipe), ~0 for replays
    "inference",  # features + interpreter for one window
    "smoothing",  # the rest of the recognizer's step for a window: window, smoother, events
    "publish",  # fan-out of one event to every publisher
    "latency",  # capture of an event's last frame -> event published
    "handoff",  # keypoints ready -> taken by the inference thread
    "post_extraction",  # keypoints ready -> window classified and smoothed
    "event_post_extraction",  # keypoints ready -> event published
)


class Timings:
    """The last `keep` durations in milliseconds; percentiles over them."""

    def __init__(self, keep: int = 20000) -> None:
        self._values: deque[float] = deque(maxlen=keep)
        self.count = 0
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        with self._lock:
            self._values.append(ms)
            self.count += 1

    def values(self) -> np.ndarray:
        with self._lock:
            return np.fromiter(self._values, dtype=np.float64, count=len(self._values))

    def summary(self) -> dict[str, float | int]:
        v = self.values()
        if v.size == 0:
            return {"n": 0}
        return {
            "n": int(self.count),
            "p50": round(float(np.percentile(v, 50)), 4),
            "p95": round(float(np.percentile(v, 95)), 4),
            "max": round(float(v.max()), 4),
        }


@dataclass
class Counters:
    frames_captured: int = 0
    frames_dropped: int = 0
    """Frames a live source produced while the extractor was still busy: newest wins."""
    frames_processed: int = 0
    frames_with_hands: int = 0
    windows: int = 0
    resets: int = 0
    """Windows restarted because the signer was gone or the stream was cut."""
    events: int = 0
    events_dropped: int = 0
    """Events the publishing thread could not take in time (its queue was full)."""
    publish_errors: int = 0


@dataclass
class PipelineStats:
    counters: Counters = field(default_factory=Counters)
    timings: dict[str, Timings] = field(default_factory=lambda: {s: Timings() for s in STAGES})
    started: float = field(default_factory=time.monotonic)
    """When the pipeline started (monotonic)."""
    ready: float | None = None
    """When the extractor was ready for its first frame (monotonic): throughput counts from
    here, so MediaPipe's start-up is not taken for slow frames."""
    last_frame: float | None = None
    """When the latest frame came out of extraction (monotonic)."""

    def add(self, stage: str, ms: float) -> None:
        self.timings[stage].add(ms)

    def fps(self) -> float:
        """Frames through extraction per second, from the extractor being ready to the last frame."""
        end = self.last_frame if self.last_frame is not None else time.monotonic()
        elapsed = end - (self.ready if self.ready is not None else self.started)
        return self.counters.frames_processed / elapsed if elapsed > 0 else 0.0

    def snapshot(self) -> dict:
        return {
            "uptime_s": round(time.monotonic() - self.started, 3),
            "fps": round(self.fps(), 2),
            **asdict(self.counters),
            "timings_ms": {name: t.summary() for name, t in self.timings.items()},
        }
