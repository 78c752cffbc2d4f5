"""What a converted model is checked on, and the numbers that say whether it still answers alike.

The windows come from real recordings (`--data`: signer `.npz` files or MP_Data folders,
through the runtime's own loader and feature function) or, without data, from a few
synthetic windows. Agreement is argmax agreement with Keras; accuracy is per class, for the
windows whose label is one of the model's; the spread counts the predicted classes, and a
model that puts >= 95% of real windows in one class is flagged as collapsed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from signd.daemon.errors import DataError
from signd.daemon.layout import convert_layout, layout_named
from signd.daemon.recordings import load_recording, normalize_label
from signd.models.features import compute_features

COLLAPSE_SHARE = 0.95
SYNTHETIC_WINDOWS = 8


@dataclass
class VerificationSet:
    """Model inputs (N, T, D) and, where known, the index of their label in the model's labels."""

    X: np.ndarray
    y: np.ndarray  # (N,) int64, -1 when the recording's label is not one of the model's
    sources: list[str] = field(default_factory=list)
    synthetic: bool = False

    @property
    def labelled(self) -> int:
        return int((self.y >= 0).sum())


def from_recordings(
    paths: list[str | os.PathLike[str]], labels: list[str], layout: str, features: str, frames: int
) -> VerificationSet:
    """Windows of every recording, as the model's input; DataError names the file that does not fit."""
    lay = layout_named(layout)
    wanted = {normalize_label(name): i for i, name in enumerate(labels)}
    xs, ys, sources = [], [], []
    for path in paths:
        rec = load_recording(path)
        if rec.X.shape[1] != frames:
            raise DataError(f"{path}: sequences have {rec.X.shape[1]} frames; the model takes {frames}")
        try:
            keypoints = convert_layout(rec.X, rec.layout, lay)
        except ValueError:
            raise DataError(
                f"{path}: {rec.layout.name} frames cannot feed a {lay.name} model (the model needs the face)"
            ) from None
        xs.append(compute_features(keypoints, lay, features).astype(np.float32))
        ys.append(np.asarray([wanted.get(rec.labels[int(c)], -1) for c in rec.y], np.int64))
        sources.append(str(path))
    return VerificationSet(np.concatenate(xs), np.concatenate(ys), sources)


def synthetic(frames: int, values: int, seed: int = 0) -> VerificationSet:
    """A few windows for a model given without data: zeros and keypoint-like noise in [0, 1].

    They prove that the file loads and computes what Keras computes on them; they say nothing
    about real signs, so quantized variants are not accepted on them.
    """
    rng = np.random.default_rng(seed)
    X = rng.random((SYNTHETIC_WINDOWS, frames, values), dtype=np.float32)
    X[0] = 0.0
    return VerificationSet(X, np.full(SYNTHETIC_WINDOWS, -1, np.int64), ["synthetic"], synthetic=True)


def agreement(reference: np.ndarray, outputs: np.ndarray) -> tuple[float, float]:
    """(argmax agreement, largest absolute probability difference)."""
    if len(reference) == 0:
        return 1.0, 0.0
    agree = float(np.mean(reference.argmax(1) == outputs.argmax(1)))
    return agree, float(np.max(np.abs(reference - outputs)))


def accuracy(outputs: np.ndarray, y: np.ndarray, labels: list[str]) -> dict[str, float | None]:
    """Accuracy per class over the labelled windows (None for a class without windows), and 'all'."""
    pred = outputs.argmax(1)
    result: dict[str, float | None] = {}
    for i, name in enumerate(labels):
        mask = y == i
        result[name] = float(np.mean(pred[mask] == i)) if mask.any() else None
    known = y >= 0
    result["all"] = float(np.mean(pred[known] == y[known])) if known.any() else None
    return result


def spread(outputs: np.ndarray, labels: list[str]) -> dict[str, int]:
    """How many windows each class wins."""
    counts = np.bincount(outputs.argmax(1), minlength=len(labels)) if len(outputs) else np.zeros(len(labels), int)
    return {name: int(c) for name, c in zip(labels, counts, strict=True)}


def collapsed(counts: dict[str, int], share: float = COLLAPSE_SHARE) -> str | None:
    """The class that takes >= `share` of the windows, or None."""
    total = sum(counts.values())
    if total == 0:
        return None
    top = max(counts, key=lambda k: counts[k])
    return top if counts[top] / total >= share else None


def golden_indexes(vset: VerificationSet, classes: int, count: int = 4) -> list[int]:
    """Up to `count` windows to ship as golden pairs: one per class first, then spread out."""
    picks: list[int] = []
    for c in range(classes):
        hits = np.flatnonzero(vset.y == c)
        if len(hits) and len(picks) < count:
            picks.append(int(hits[0]))
    for i in np.linspace(0, len(vset.X) - 1, count).round().astype(int):
        if len(picks) >= count:
            break
        if int(i) not in picks:
            picks.append(int(i))
    return picks
