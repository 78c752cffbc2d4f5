"""Keypoint replays: a tutorial MP_Data folder or a signer .npz, and the embedded demo.

No MediaPipe: the keypoints were extracted when the data was recorded. A recording's
sequences are separate clips (the tutorial pauses between them while recording), so each
is its own segment: the window restarts at each clip and the smoother decides per clip.
The demo is one continuous stream with rest between signs, like a camera.
"""

from __future__ import annotations

import threading
import time
from importlib import resources
from pathlib import Path

import numpy as np

from signd.daemon.errors import DataError, InputError
from signd.daemon.layout import Layout, layout_named
from signd.daemon.recordings import load_recording

from .base import Frame, Pacer, Source

REPLAY_FPS = 30.0  # the tutorial records at the webcam's 30 fps


class _KeypointSource(Source):
    kind = "keypoints"
    # A recording is not a camera: played at its own rate (unless --fast), it still never
    # loses a frame when the machine is busy; it falls behind and catches up instead.
    live = False

    def __init__(self, stop: threading.Event, fast: bool, repeat: int, fps: float) -> None:
        if repeat < 1:
            raise ValueError("repeat must be >= 1")
        self.stop = stop
        self.repeat = repeat
        self.fps = fps
        self._pacer = Pacer(stop, enabled=not fast)
        self._clips: np.ndarray = np.zeros((0, 0, 0), np.float32)  # (N, T, F)
        self._clip_labels: list[str | None] = []
        self._index = 0

    def _frames(self):  # generator of (keypoints, segment, segment_end, label)
        n, t = self._clips.shape[:2]
        for r in range(self.repeat):
            for i in range(n):
                for j in range(t):
                    yield self._clips[i, j], r * n + i, j == t - 1, self._clip_labels[i]

    def open(self) -> None:
        self._load()
        self._iter = self._frames()
        self.state = "open"

    def _load(self) -> None:
        raise NotImplementedError

    def read(self) -> Frame | None:
        if self.stop.is_set():
            return None
        try:
            kp, segment, end, label = next(self._iter)
        except StopIteration:
            self.state = "ended"
            return None
        t_media = self._index / self.fps
        self._pacer.wait_until(t_media)
        frame = Frame(
            self._index, time.monotonic(), t_media, keypoints=kp, segment=segment,
            segment_end=end, label=label,
        )
        self._index += 1
        return frame


class ReplaySource(_KeypointSource):
    """Every sequence of an MP_Data folder or signer .npz, back to back, one segment each."""

    def __init__(
        self, path: str | Path, stop: threading.Event, fast: bool = False, repeat: int = 1,
        fps: float = REPLAY_FPS,
    ) -> None:
        super().__init__(stop, fast, repeat, fps)
        self.path = str(path)
        self.name = f"replay {self.path}"

    def _load(self) -> None:
        rec = load_recording(self.path)
        self.layout = rec.layout
        self.recording = rec
        self._clips = rec.X
        self._clip_labels = [rec.label_of(i) for i in range(len(rec.y))]


def demo_path() -> Path:
    """The embedded demo stream shipped with the default model."""
    return Path(str(resources.files("signd.models") / "default" / "demo.npz"))


class DemoSource(_KeypointSource):
    """The embedded demo: one continuous keypoint stream with rest between signs."""

    def __init__(
        self, stop: threading.Event, fast: bool = False, repeat: int = 1, path: str | Path | None = None
    ) -> None:
        super().__init__(stop, fast, repeat, REPLAY_FPS)
        self.path = str(path or demo_path())
        self.name = "demo"
        self.signs: list[str] = []
        self.onsets: list[int] = []

    def _load(self) -> None:
        p = Path(self.path)
        if not p.exists():
            raise InputError(f"the embedded demo stream is missing: {p} (reinstall signd)")
        try:
            d = np.load(p, allow_pickle=False)
            frames = d["frames"].astype(np.float32)
            layout: Layout = layout_named(str(d["layout"]))
            self.fps = float(d["fps"])
            self.signs = [str(s) for s in d["signs"].tolist()]
            self.onsets = [int(v) for v in d["onsets"].tolist()]
        except (KeyError, ValueError, OSError) as exc:
            raise DataError(f"{p}: not a demo stream ({exc})") from None
        if frames.ndim != 2 or frames.shape[1] != layout.size:
            raise DataError(f"{p}: frames have shape {frames.shape}; expected (N, {layout.size})")
        self.layout = layout
        self._clips = frames[None]
        self._clip_labels = [None]
