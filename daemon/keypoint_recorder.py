"""`signd run --record-keypoints FILE.npz`: the keypoints of a run, kept to be replayed elsewhere.

A Pi records what its extractor saw; a desktop plays the file back with `signd run --source
FILE.npz` (no camera, no MediaPipe) and gets the same events, or tries other models and
settings on it. The file is one continuous keypoint stream, the demo's format (read back by
`recordings.load_stream`; docs/runtime.md, "Keypoint recordings"). No picture is ever kept.

The inference thread adds every frame it takes, so a recording holds exactly what the
recognizer was given. Frames stay in memory until the run ends, in chunks (memory grows with
the recording; nothing is copied to save it), up to `max_frames`; later frames are counted,
not kept. The file is written once, at the end, through a temporary file in the same folder
and a rename: a run killed hard leaves the previous file (or none), never half of one.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO
from zipfile import ZIP_STORED, ZipFile

import numpy as np

from .errors import ConfigError, OutputError
from .keypoints import Keypoints
from .layout import Layout
from .recordings import MAX_STREAM_FPS

log = logging.getLogger(__name__)

DEFAULT_MAX_FRAMES = 108_000
"""An hour at 30 fps: 110 MB of pose-hands-258 frames in memory (720 MB of tutorial-1662)."""
MAX_FRAMES_LIMIT = 10_000_000
CHUNK_ROWS = 1024
"""Rows allocated at a time: 1 MB of pose-hands-258 frames."""
_ZIP64_BYTES = 0x7FFF0000  # beyond this a zip member needs 64-bit sizes, declared before writing


@dataclass(frozen=True)
class RecordTarget:
    """Where to write the recording and how many frames at most."""

    path: Path
    max_frames: int = DEFAULT_MAX_FRAMES

    def check(self) -> None:
        """Fail before the run starts, not after an hour of recording: ConfigError for a
        name the player would not take, OutputError when the folder cannot take the file."""
        if self.path.suffix != ".npz":
            raise ConfigError(f"--record-keypoints {self.path}: the file name must end in .npz "
                              "(signd run --source plays .npz files as keypoints)")
        if not 1 <= self.max_frames <= MAX_FRAMES_LIMIT:
            raise ConfigError(f"--record-max-frames must be within 1..{MAX_FRAMES_LIMIT}")
        folder = self.path.parent
        if not folder.is_dir():
            raise OutputError(f"--record-keypoints {self.path}: folder not found: {folder}")
        if self.path.is_dir():
            raise OutputError(f"--record-keypoints {self.path}: is a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(f"--record-keypoints {self.path}: cannot write in {folder} (permission denied)")


@dataclass(frozen=True)
class StreamInfo:
    """What the pipeline knows about the frames it records."""

    layout: Layout
    fps: float | None
    """The source's own frame rate (a file's, a replay's, what a camera was asked for)."""
    live: bool
    """A camera: frames may be dropped and come at the device's pace, not at `fps`."""
    source: str


@dataclass
class _Chunk:
    frames: np.ndarray  # (CHUNK_ROWS, F) float32
    times: np.ndarray = field(default_factory=lambda: np.empty(CHUNK_ROWS, np.float64))
    segments: np.ndarray = field(default_factory=lambda: np.empty(CHUNK_ROWS, np.int64))
    indexes: np.ndarray = field(default_factory=lambda: np.empty(CHUNK_ROWS, np.int64))


class KeypointRecorder:
    """Frames in (`add`, from one thread), one file out (`save`, once, when the run ends)."""

    def __init__(self, target: RecordTarget, info: StreamInfo) -> None:
        self.target = target
        self.info = info
        self.created = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
        self.recorded = 0
        self.not_recorded = 0
        """Frames past `max_frames`: counted for the summary line, not kept."""
        self.written: Path | None = None
        self._chunks: list[_Chunk] = []
        self._closed = False
        self._lock = threading.Lock()  # `save` may run while a straggling thread still adds

    def add(self, kp: Keypoints) -> None:
        with self._lock:
            if self._closed:
                return
            if self.recorded >= self.target.max_frames:
                if not self.not_recorded:
                    log.warning("keypoint recording full at %d frames (--record-max-frames); the run "
                                "goes on, later frames are not recorded", self.recorded)
                self.not_recorded += 1
                return
            row = self.recorded % CHUNK_ROWS
            if row == 0:
                self._chunks.append(_Chunk(np.empty((CHUNK_ROWS, self.info.layout.size), np.float32)))
            c = self._chunks[-1]
            c.frames[row] = kp.values
            c.times[row] = kp.t_media
            c.segments[row] = kp.segment
            c.indexes[row] = kp.frame
            self.recorded += 1

    def _column(self, name: str, n: int) -> np.ndarray:
        return np.concatenate([getattr(c, name) for c in self._chunks])[:n] if n else np.zeros(0)

    def fps(self, times: np.ndarray) -> float:
        """A file's own rate; for a camera, the rate its frames reached the recognizer at
        (dropped frames and a slow device included), which is what a player assuming even
        spacing should use. Players that read `timestamps` need neither."""
        nominal = self.info.fps if self.info.fps and 0 < self.info.fps <= MAX_STREAM_FPS else None
        if not self.info.live and nominal:
            return float(nominal)
        span = float(times[-1] - times[0]) if len(times) > 1 else 0.0
        if span > 0:
            return float(min(max((len(times) - 1) / span, 1e-3), MAX_STREAM_FPS))
        return float(nominal or 30.0)

    def save(self) -> Path | None:
        """Write the file (once; later frames are ignored); None when nothing was recorded.
        OutputError names the file when it cannot be written."""
        with self._lock:
            self._closed = True
            n = self.recorded
        if self.written is not None or n == 0:
            return self.written
        from . import __version__

        times = self._column("times", n)
        small = {
            "fps": np.float64(self.fps(times)),
            "layout": np.str_(self.info.layout.name),
            "timestamps": times,
            "segments": self._column("segments", n),
            "source_frames": self._column("indexes", n),
            "source": np.str_(self.info.source),
            "created": np.str_(self.created),
            "signd_version": np.str_(__version__),
        }
        path = self.target.path
        tmp: Path | None = None
        try:
            fd, tmp = _create_temp(path)
            with os.fdopen(fd, "wb") as f:
                self._write_npz(f, n, small)
                f.flush()
                os.fsync(f.fileno())  # the rename must not reach the disk before the data
            os.replace(tmp, path)
            tmp = None
            _sync_folder(path.parent)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write the keypoint recording: {exc.strerror or exc}") from None
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        self.written = path
        return path

    def _write_npz(self, f: BinaryIO, n: int, small: dict[str, np.ndarray]) -> None:
        """np.savez's layout (a stored zip of .npy members), with `frames` written chunk by
        chunk: np.savez would first need them as one array, a second copy of the recording."""
        width = self.info.layout.size
        size = n * width * 4
        with ZipFile(f, "w", compression=ZIP_STORED, allowZip64=True) as zf:
            with zf.open("frames.npy", "w", force_zip64=size > _ZIP64_BYTES) as out:
                header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")),
                          "fortran_order": False, "shape": (n, width)}
                np.lib.format.write_array_header_1_0(out, header)
                left = n
                for c in self._chunks:
                    rows = min(left, CHUNK_ROWS)
                    out.write(c.frames[:rows].astype("<f4", copy=False).tobytes())
                    left -= rows
                    if not left:
                        break
            for key, value in small.items():
                with zf.open(f"{key}.npy", "w") as out:
                    np.lib.format.write_array(out, np.asanyarray(value), allow_pickle=False)

    def summary(self) -> str:
        """The recording's part of the run's summary line."""
        if self.written is None:
            what = "none recorded" if self.recorded == 0 else f"{self.recorded} frames NOT written"
            return f"keypoints: {what}, {self.target.path} left as it was"
        mb = self.written.stat().st_size / 1e6
        text = f"keypoints: {self.recorded} frames recorded to {self.written} ({mb:.1f} MB)"
        if self.not_recorded:
            text += f", {self.not_recorded} not recorded (--record-max-frames {self.target.max_frames})"
        return text


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new hidden file beside `path`, for the rename to be atomic; created with the mode
    open() gives (the umask applies), unlike mkstemp's 0600."""
    for _ in range(16):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (a Pi may lose power right after the run)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot sync a folder; the file itself is synced
    finally:
        os.close(fd)
