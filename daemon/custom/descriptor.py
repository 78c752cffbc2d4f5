"""What a custom sign is matched on: a short summary of one window, computed with numpy only.

From the shared feature function's `signd-v1` set (so the signer's place, size and hand are
already factored out) it keeps where the body points are and, for the busier hand, whether it
was seen, where its wrist is, which way the palm and fingers point and how far each finger is
stretched (28 values), averaged over the window. Measured on the shared recordings
(bench/enroll.py, docs/enroll.md): the 60 raw hand-shape coordinates, the other hand and the
velocities made matching worse (noisy from frame to frame); the mean over the whole window
matched a person's own sign better than means over its halves, thirds or fifths (recall 0.92
against 0.89, 0.87, 0.83 at the same share of everything else), as it does not depend on
where in the window the sign sits.
"""

from __future__ import annotations

import numpy as np

from signd.daemon.layout import Layout
from signd.models.features import compute_features

NAME = "signd-v1-mean/1"
"""Stored with every custom sign: examples described otherwise are not compared."""
FEATURES = "signd-v1"
_BODY = 14  # nose, shoulders, elbows, wrists: x, y
_VIS = 4
_HAND_BLOCK = 74
_MAIN = _BODY + _VIS + 2 * _HAND_BLOCK  # the busier hand's block (signd-v1 puts it third)
COLUMNS = np.array(list(range(_BODY)) + list(range(_MAIN, _MAIN + 14)))
SEGMENTS = 1
SIZE = len(COLUMNS) * SEGMENTS


_MEANS: dict[int, np.ndarray] = {}


def _means(frames: int) -> np.ndarray:
    """(SEGMENTS, frames): each row averages one part of a window (one product per window,
    instead of a slice and a mean per part: this runs on every window)."""
    m = _MEANS.get(frames)
    if m is None:
        m = np.zeros((SEGMENTS, frames), np.float32)
        for i, part in enumerate(np.array_split(np.arange(frames), SEGMENTS)):
            m[i, part] = 1.0 / len(part)
        m = _MEANS[frames] = m
    return m


def describe_features(features: np.ndarray) -> np.ndarray:
    """Windows of `signd-v1` features (..., T, D) -> descriptors (..., SIZE) float32."""
    x = np.asarray(features, np.float32)[..., COLUMNS]
    out = _means(x.shape[-2]) @ x
    return out.reshape(*out.shape[:-2], SIZE)


def describe(frames: np.ndarray, layout: Layout) -> np.ndarray:
    """Windows of keypoint frames (..., T, layout.size) -> descriptors (..., SIZE)."""
    return describe_features(compute_features(frames, layout, FEATURES))


def hand_frames(frames: np.ndarray, layout: Layout) -> np.ndarray:
    """Per window (..., T, F): in how many frames a hand was seen."""
    return layout.hands(np.asarray(frames)).sum(axis=-1)
