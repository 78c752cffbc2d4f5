"""What a custom sign is matched on: a short summary of one window, computed with numpy only.

From the shared feature function's `signd-v1` set (so the signer's place, size and hand are
already factored out) it keeps where the body points are and, for the busier hand, whether it
was seen, where its wrist is, which way the palm and fingers point and how far each finger is
stretched (28 values), averaged over the window. Measured on the shared recordings
(bench/enroll.py, docs/enroll.md): the 60 raw hand-shape coordinates, the other hand and the
velocities made matching worse (noisy from frame to frame); the mean over the whole window
matched a person's own sign better than means over its halves, thirds or fifths (recall 0.92
against 0.89, 0.87, 0.83 at the same share of everything else, in one screen with the gate of
the time), as it does not depend on where in the window the sign sits.
"""

from __future__ import annotations

import numpy as np

from signd.daemon.layout import Layout
from signd.models.features import BODY_POINTS, compute_features, hand_seen_column

NAME = "signd-v1-mean/1"
"""Stored with every custom sign: examples described otherwise are not compared."""
FEATURES = "signd-v1"
_BODY = 2 * len(BODY_POINTS)  # nose, shoulders, elbows, wrists: x, y
_MAIN = hand_seen_column(FEATURES)  # the busier hand's block starts with its seen flag
assert _MAIN is not None, "signd-v1 has a main hand block"
# Its seen flag, wrist (2), palm normal (3), finger direction (3), finger stretch (5).
COLUMNS = np.array(list(range(_BODY)) + list(range(_MAIN, _MAIN + 14)))
SIZE = len(COLUMNS)


def describe_features(features: np.ndarray) -> np.ndarray:
    """Windows of `signd-v1` features (..., T, D) -> descriptors (..., SIZE) float32."""
    return np.asarray(features, np.float32)[..., COLUMNS].mean(axis=-2)


def describe(frames: np.ndarray, layout: Layout) -> np.ndarray:
    """Windows of keypoint frames (..., T, layout.size) -> descriptors (..., SIZE)."""
    return describe_features(compute_features(frames, layout, FEATURES))

