"""Keypoint recordings: a tutorial MP_Data folder or a signer `.npz`, loaded and validated;
and continuous keypoint streams (`frames`, `fps`, `layout`: the demo, `signd run
--record-keypoints`).

Both the replay source and training read recordings through here, so a file that one accepts
the other accepts too. Every problem names the file (and the sequence or key) at fault.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError, InputError, require_readable
from .layout import LAYOUTS, Layout, layout_for_size

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def normalize_label(name: str) -> str:
    """Lower-case, spaces and punctuation removed: "I love you" -> "iloveyou"."""
    return _NOT_ALNUM.sub("", str(name).lower())


@dataclass
class Recording:
    """One signer's 30-frame sequences (or however long they are) with their labels."""

    path: str
    X: np.ndarray  # (N, T, F) float32
    y: np.ndarray  # (N,) int64, indexes into labels
    labels: list[str]
    seq_ids: list[str]
    layout: Layout

    @property
    def name(self) -> str:
        """The signer's name: the file or folder name without extension."""
        p = Path(self.path)
        return p.stem if p.suffix == ".npz" else p.name

    def label_of(self, i: int) -> str:
        return self.labels[int(self.y[i])]


def load_recording(path: str | os.PathLike[str]) -> Recording:
    """Load `path` as an MP_Data folder or a signer `.npz`."""
    p = Path(path)
    require_readable(p, "recording")
    if p.is_dir():
        return load_mp_data(p)
    if p.suffix == ".npz":
        return load_npz(p)
    raise DataError(f"not a keypoint recording (expected an MP_Data folder or a .npz file): {p}")


def _check_finite(path: Path, X: np.ndarray, seq_ids: list[str]) -> None:
    bad = ~np.isfinite(X)
    if bad.any():
        n, t, f = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(
            f"{path}: non-finite value (NaN or inf) in sequence {seq_ids[n]!r}, frame {t}, column {f}"
        )


def _layout_or_error(path: Path, size: int, where: str) -> Layout:
    layout = layout_for_size(size)
    if layout is None:
        raise DataError(
            f"{where}: frames have {size} values; expected 1662 (tutorial) or 258 (pose + hands)"
        )
    return layout


def _open_npz(p: Path, what: str) -> tuple[Any, set[str]]:
    """The opened `.npz` and its keys; an unreadable file is one line naming it."""
    require_readable(p, what)
    try:
        data = np.load(p, allow_pickle=False)
        return data, set(data.files)
    except Exception as exc:  # zip or format errors: the file is not an npz
        raise DataError(f"{p}: not a readable .npz file ({exc.__class__.__name__}: {exc})") from None


def load_npz(path: str | os.PathLike[str]) -> Recording:
    """A signer file as described in shared/data/README.md: X (N, T, F), y (N,), labels (K,)."""
    p = Path(path)
    data, files = _open_npz(p, "recording")
    for key in ("X", "y", "labels"):
        if key not in files:
            raise DataError(f"{p}: missing key {key!r} (has: {', '.join(sorted(files))})")
    X = data["X"]
    y = data["y"]
    labels = [normalize_label(s) for s in data["labels"].tolist()]
    if X.ndim != 3:
        raise DataError(f"{p}: key 'X' has shape {X.shape}; expected (sequences, frames, values)")
    if y.shape != (X.shape[0],):
        raise DataError(f"{p}: key 'y' has shape {y.shape}; expected ({X.shape[0]},)")
    if len(y) and (y.min() < 0 or y.max() >= len(labels)):
        raise DataError(f"{p}: key 'y' has class indexes outside 0..{len(labels) - 1}")
    seq_ids = (
        [str(s) for s in data["seq_ids"].tolist()]
        if "seq_ids" in files
        else [f"{labels[int(c)]}/{i}" for i, c in enumerate(y)]
    )
    layout = _layout_or_error(p, X.shape[2], str(p))
    X = X.astype(np.float32)
    _check_finite(p, X, seq_ids)
    return Recording(str(p), X, y.astype(np.int64), labels, seq_ids, layout)


def _numeric_sorted(entries: list[Path]) -> list[Path]:
    def key(e: Path) -> tuple[int, int | str]:
        stem = e.stem if e.is_file() else e.name
        return (0, int(stem)) if stem.isdigit() else (1, stem)

    return sorted(entries, key=key)


def load_mp_data(root: str | os.PathLike[str]) -> Recording:
    """The tutorial layout: root/<action>/<sequence>/<frame>.npy, one 1-D vector per frame."""
    root = Path(root)
    require_readable(root, "MP_Data folder")
    actions = sorted(d for d in root.iterdir() if d.is_dir())
    sequences: list[np.ndarray] = []
    ys: list[int] = []
    seq_ids: list[str] = []
    labels: list[str] = []
    length: tuple[int, Path] | None = None  # frames per sequence, and where that was first seen
    width: tuple[int, Path] | None = None  # values per frame, and the first file with it
    for action in actions:
        seq_dirs = _numeric_sorted([d for d in action.iterdir() if d.is_dir()])
        if not seq_dirs:
            continue
        label = normalize_label(action.name)
        if label in labels:
            raise DataError(f"{action}: folder names {label!r} twice after normalising labels")
        labels.append(label)
        for seq_dir in seq_dirs:
            files = _numeric_sorted(list(seq_dir.glob("*.npy")))
            if not files:
                raise DataError(f"{seq_dir}: sequence folder holds no .npy frames")
            if length is None:
                length = (len(files), seq_dir)
            elif len(files) != length[0]:
                raise DataError(
                    f"{seq_dir}: ragged sequence, {len(files)} frames where {length[1]} has {length[0]}"
                )
            frames = []
            for f in files:
                try:
                    v = np.load(f, allow_pickle=False)
                except Exception as exc:
                    raise DataError(f"{f}: not a readable .npy frame ({exc})") from None
                v = np.asarray(v, dtype=np.float32).reshape(-1) if v.ndim <= 1 else v
                if v.ndim != 1:
                    raise DataError(f"{f}: frame has shape {v.shape}; expected a 1-D vector")
                if width is None:
                    width = (v.shape[0], f)
                    _layout_or_error(f, v.shape[0], str(f))
                elif v.shape[0] != width[0]:
                    raise DataError(
                        f"{f}: frame has {v.shape[0]} values where {width[1]} has {width[0]}"
                    )
                if not np.isfinite(v).all():
                    col = int(np.argwhere(~np.isfinite(v))[0][0])
                    raise DataError(f"{f}: non-finite value (NaN or inf) in column {col}")
                frames.append(v)
            sequences.append(np.stack(frames))
            ys.append(len(labels) - 1)
            seq_ids.append(f"{action.name}/{seq_dir.name}")
    if not sequences or width is None:
        raise InputError(f"no sequences found in MP_Data folder {root} (expected <action>/<sequence>/<frame>.npy)")
    X = np.stack(sequences).astype(np.float32)
    layout = _layout_or_error(root, width[0], str(width[1]))
    return Recording(str(root), X, np.asarray(ys, dtype=np.int64), labels, seq_ids, layout)


# -- continuous keypoint streams ----------------------------------------------------------------

STREAM_KEYS = ("frames", "fps", "layout")
"""What makes an .npz one continuous stream rather than a signer's sequences (`X`, `y`)."""
MAX_STREAM_FPS = 1000.0


@dataclass
class KeypointStream:
    """One continuous keypoint stream, validated: what `signd run --record-keypoints` writes
    and the demo ships (docs/runtime.md, "Keypoint recordings")."""

    path: str
    frames: np.ndarray  # (N, F) float32, finite
    fps: float
    layout: Layout
    timestamps: np.ndarray | None = None
    """(N,) float64 media time of each frame, non-decreasing; None: frame i is at i / fps."""
    segments: np.ndarray | None = None
    """(N,) int64, 0 for the first segment and one more at each cut; None: one segment."""


def _key(data: np.lib.npyio.NpzFile, p: Path, key: str) -> np.ndarray:
    try:
        return data[key]
    except ValueError as exc:  # an object array: pickles are never loaded
        raise DataError(f"{p}: key {key!r} cannot be read ({exc})") from None


def _per_frame(p: Path, key: str, a: np.ndarray, n: int, kinds: str, what: str) -> np.ndarray:
    if a.shape != (n,) or a.dtype.kind not in kinds:
        raise DataError(f"{p}: key {key!r} has shape {a.shape} and dtype {a.dtype}; expected ({n},) {what}")
    return a


def load_stream(path: str | os.PathLike[str]) -> KeypointStream:
    """A continuous stream `.npz`: `frames` (N, F) floats in `layout` (its name), `fps`; optional
    `timestamps` and `segments` per frame. Anything else in the file is left alone."""
    p = Path(path)
    data, files = _open_npz(p, "keypoint stream")
    with data:
        for key in STREAM_KEYS:
            if key not in files:
                raise DataError(f"{p}: missing key {key!r} (has: {', '.join(sorted(files))})")
        name = _key(data, p, "layout")
        if name.dtype.kind != "U" or name.size != 1 or str(name.reshape(-1)[0]) not in LAYOUTS:
            shown = repr(name.reshape(-1)[0].item()) if name.size == 1 else f"an array of shape {name.shape}"
            raise DataError(f"{p}: key 'layout' is {shown}; expected one of: {', '.join(LAYOUTS)}")
        layout = LAYOUTS[str(name.reshape(-1)[0])]
        fps_a = _key(data, p, "fps")
        fps = float(fps_a.reshape(-1)[0]) if fps_a.size == 1 and fps_a.dtype.kind in "fiu" else float("nan")
        if not 0 < fps <= MAX_STREAM_FPS:  # NaN fails this too
            shown = repr(fps_a.tolist()) if fps_a.size <= 1 else f"an array of shape {fps_a.shape}"
            raise DataError(f"{p}: key 'fps' is {shown}; expected one number within 0..{MAX_STREAM_FPS:g}")
        raw = _key(data, p, "frames")
        if raw.ndim != 2 or raw.shape[1] != layout.size or raw.dtype.kind != "f":
            raise DataError(f"{p}: key 'frames' has shape {raw.shape} and dtype {raw.dtype}; "
                            f"expected (frames, {layout.size}) floats for layout {layout.name}")
        with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: checked next
            frames = raw.astype(np.float32)
        bad = ~np.isfinite(frames)
        if bad.any():
            t, f = (int(v) for v in np.argwhere(bad)[0])
            raise DataError(f"{p}: key 'frames': non-finite value (NaN or inf) in frame {t}, column {f}")
        n = len(frames)
        timestamps = segments = None
        if "timestamps" in files:
            timestamps = _per_frame(p, "timestamps", _key(data, p, "timestamps"), n, "fiu", "seconds")
            timestamps = timestamps.astype(np.float64)
            if not np.isfinite(timestamps).all() or (np.diff(timestamps) < 0).any():
                raise DataError(f"{p}: key 'timestamps' must be finite and never decrease")
        if "segments" in files:
            seg = _per_frame(p, "segments", _key(data, p, "segments"), n, "iu", "integers")
            if (np.diff(seg.astype(np.int64)) < 0).any():
                raise DataError(f"{p}: key 'segments' must never decrease")
            # Renumbered 0, 1, 2, ...: only where the stream is cut matters.
            segments = np.concatenate([[0], np.cumsum(np.diff(seg) != 0)]).astype(np.int64)[:n]
    return KeypointStream(str(p), frames, fps, layout, timestamps, segments)
