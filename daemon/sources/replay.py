"""Keypoint replays: a tutorial MP_Data folder or a signer .npz, and the embedded demo.

No MediaPipe: the keypoints were extracted when the data was recorded. A recording's
sequences are separate clips (the tutorial pauses between them while recording), so each
is its own segment: the window restarts at each clip and the smoother decides per clip.
The demo is one continuous stream with rest between signs, like a camera.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np

from signd.daemon.config import SourceConfig
from signd.daemon.errors import DataError, InputError
from signd.daemon.layout import Layout, layout_named
from signd.daemon.recordings import load_recording

from .base import Frame, Pacer, Source, SourceKind

REPLAY_FPS = 30.0  # the tutorial records at the webcam's 30 fps


class KeypointSource(Source):
    kind = SourceKind.KEYPOINTS
    # A recording is not a camera: played at its own rate (unless --fast), it still never
    # loses a frame when the machine is busy; it falls behind and catches up instead.
    live = False

    def __init__(self, stop: threading.Event, config: SourceConfig, fps: float) -> None:
        if config.repeat < 1:
            raise ValueError("repeat must be >= 1")
        self.stop = stop
        self.repeat = config.repeat
        self.fps = fps
        self._pacer = Pacer(stop, enabled=not config.fast)
        self._clips: np.ndarray = np.zeros((0, 0, 0), np.float32)  # (N, T, F)
        self._index = 0

    def _frames(self) -> Iterator[tuple[np.ndarray, int, bool]]:
        """(keypoints, segment, segment_end) of every frame, every repeat."""
        n, t = self._clips.shape[:2]
        for r in range(self.repeat):
            for i in range(n):
                for j in range(t):
                    yield self._clips[i, j], r * n + i, j == t - 1

    def open(self) -> None:
        self._load()
        self._iter = self._frames()
        self.state = "open"

    def _load(self) -> None:
        raise NotImplementedError

    @property
    def segment_frames(self) -> int:
        """Frames in one segment (a sequence of a recording, or the whole stream)."""
        return int(self._clips.shape[1])

    def read(self) -> Frame | None:
        if self.stop.is_set():
            return None
        try:
            kp, segment, end = next(self._iter)
        except StopIteration:
            self.state = "ended"
            return None
        t_media = self._index / self.fps
        self._pacer.wait_until(t_media)
        frame = Frame(self._index, time.monotonic(), t_media, keypoints=kp, segment=segment, segment_end=end)
        self._index += 1
        return frame


class ReplaySource(KeypointSource):
    """Every sequence of an MP_Data folder or signer .npz, back to back, one segment each."""

    def __init__(self, path: str | Path, stop: threading.Event, config: SourceConfig,
                 fps: float = REPLAY_FPS) -> None:
        super().__init__(stop, config, fps)
        self.path = str(path)
        self.name = f"replay {self.path}"

    def _load(self) -> None:
        rec = load_recording(self.path)
        if len(rec.X) == 0 or rec.X.shape[1] == 0:
            raise DataError(f"{self.path}: no sequences to replay")
        self.layout = rec.layout
        self._clips = rec.X


def demo_path() -> Path:
    """The embedded demo stream shipped with the default model."""
    return Path(str(resources.files("signd.models") / "default" / "demo.npz"))


def is_keypoint_stream(path: str | Path) -> bool:
    """Whether an .npz holds one continuous keypoint stream (`frames`, `fps`, `layout`, as the
    embedded demo) rather than a signer's sequences."""
    try:
        with np.load(path, allow_pickle=False) as d:
            return "frames" in d.files
    except (OSError, ValueError):
        return False  # the replay's loader says what is wrong with it


class DemoSource(KeypointSource):
    """One continuous keypoint stream played at its own rate, as a camera would give it: the
    embedded demo, or any .npz of the same form (`frames` (N, F), `fps`, `layout`)."""

    def __init__(self, stop: threading.Event, config: SourceConfig, path: str | Path | None = None) -> None:
        super().__init__(stop, config, REPLAY_FPS)
        self.path = str(path or demo_path())
        self.name = "demo" if path is None else f"keypoint stream {self.path}"

    def _load(self) -> None:
        p = Path(self.path)
        if not p.exists():
            raise InputError(f"the embedded demo stream is missing: {p} (reinstall signd)")
        try:
            d = np.load(p, allow_pickle=False)
            frames = d["frames"].astype(np.float32)
            layout: Layout = layout_named(str(d["layout"]))
            self.fps = float(d["fps"])
            if not 0 < self.fps <= 1000:
                raise ValueError(f"fps {self.fps} is not within 0..1000")
        except (KeyError, ValueError, OSError) as exc:
            raise DataError(f"{p}: not a demo stream ({exc})") from None
        if frames.ndim != 2 or frames.shape[1] != layout.size:
            raise DataError(f"{p}: frames have shape {frames.shape}; expected (N, {layout.size})")
        self.layout = layout
        self._clips = frames[None]
