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
from signd.daemon.recordings import STREAM_KEYS, load_recording, load_stream

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

    def _media_time(self, index: int) -> float:
        """Where frame `index` (counted over every repeat) is in the source's own timeline."""
        return index / self.fps

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
        t_media = self._media_time(self._index)
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
    embedded demo and `signd run --record-keypoints`) rather than a signer's sequences (`X`).
    A file with some of the stream's keys and no `X` is a stream, so that the stream's loader
    names the key it lacks."""
    try:
        with np.load(path, allow_pickle=False) as d:
            return "X" not in d.files and any(k in d.files for k in STREAM_KEYS)
    except (OSError, ValueError):
        return False  # the replay's loader says what is wrong with it


class DemoSource(KeypointSource):
    """One continuous keypoint stream played at its own rate, as a camera would give it: the
    embedded demo, or any .npz of the same form (`frames` (N, F), `fps`, `layout`; see
    `recordings.load_stream`). A recording's own `timestamps` and `segments`, when it has them,
    are played as they were recorded: a camera's uneven frame times and its reopenings (cuts)
    decide the same windows again."""

    def __init__(self, stop: threading.Event, config: SourceConfig, path: str | Path | None = None) -> None:
        super().__init__(stop, config, REPLAY_FPS)
        self.path = str(path or demo_path())
        self.name = "demo" if path is None else f"keypoint stream {self.path}"
        self._times: np.ndarray | None = None
        self._segments: np.ndarray = np.zeros(0, np.int64)

    def _load(self) -> None:
        p = Path(self.path)
        if not p.exists() and self.name == "demo":
            raise InputError(f"the embedded demo stream is missing: {p} (reinstall signd)")
        stream = load_stream(p)
        self.layout = stream.layout
        self.fps = stream.fps
        self._clips = stream.frames[None]
        n = len(stream.frames)
        self._segments = stream.segments if stream.segments is not None else np.zeros(n, np.int64)
        self._times = stream.timestamps

    def _frames(self) -> Iterator[tuple[np.ndarray, int, bool]]:
        frames, seg = self._clips[0], self._segments
        cuts = int(seg[-1]) + 1 if len(seg) else 1
        # A segment's last frame is the one before a cut (or the stream's last): as a replay
        # ends its clips, and what a camera's reopening decides at the next frame.
        ends = np.append(seg[1:] != seg[:-1], True) if len(seg) else seg.astype(bool)
        for r in range(self.repeat):
            for j in range(len(frames)):
                yield frames[j], r * cuts + int(seg[j]), bool(ends[j])

    def _media_time(self, index: int) -> float:
        if self._times is None or not len(self._times):
            return index / self.fps
        n = len(self._times)
        r, j = divmod(index, n)
        # A repeat starts one frame after the previous one ended.
        period = float(self._times[-1] - self._times[0]) + 1.0 / self.fps
        return float(self._times[j]) + r * period

    @property
    def segment_frames(self) -> int:
        """The longest segment: a camera reopened for a moment must not hide the rest."""
        if not len(self._segments):
            return 0
        return int(np.bincount(self._segments).max())
