"""The one feature function: keypoint frames in, model input out.

Training and the runtime's classifier both call `compute_features`, so a model never meets
features computed differently from the ones it learnt on. Every feature set takes frames in
one keypoint layout, shaped (..., T, layout.size), and returns float32 (..., T, D).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from signd.daemon.layout import Layout, layout_named

FeatureFn = Callable[[np.ndarray, Layout], np.ndarray]


def _raw(frames: np.ndarray, layout: Layout) -> np.ndarray:
    """The tutorial's input: the keypoints as they are."""
    return np.asarray(frames, dtype=np.float32)


FEATURE_SETS: dict[str, FeatureFn] = {"raw": _raw}


def compute_features(frames: np.ndarray, layout: str | Layout, features: str) -> np.ndarray:
    """Model input for `frames` (..., T, layout.size) under the named feature set."""
    lay = layout_named(layout) if isinstance(layout, str) else layout
    if frames.shape[-1] != lay.size:
        raise ValueError(f"frames have {frames.shape[-1]} values; layout {lay.name} has {lay.size}")
    try:
        fn = FEATURE_SETS[features]
    except KeyError:
        raise KeyError(f"unknown feature set {features!r} (known: {', '.join(FEATURE_SETS)})") from None
    return fn(frames, lay)


def feature_dim(layout: str | Layout, features: str) -> int:
    """D, the number of values per frame that `features` makes from `layout` frames."""
    lay = layout_named(layout) if isinstance(layout, str) else layout
    return int(compute_features(np.zeros((1, lay.size), np.float32), lay, features).shape[-1])
