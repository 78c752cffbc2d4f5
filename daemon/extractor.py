"""The keypoint extractor the pipeline runs, chosen from `[keypoints]`: MediaPipe Holistic in a
process of its own (`extractor_process`, the default on Linux) or in the calling thread
(`holistic`). Both behave alike behind `Extractor`.
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np

from .config import KeypointsConfig
from .holistic import check_pose_model
from .layout import TUTORIAL_1662, Layout


class Extractor(Protocol):
    """RGB frames in, keypoint vectors out, in order; up to `depth` frames in flight. One thread
    uses it. `started_at`/`finished_at` (time.monotonic) are when the last collected frame went
    into MediaPipe and when its vector was ready."""

    depth: int
    started_at: float
    finished_at: float

    def submit(self, rgb: np.ndarray) -> None: ...

    def collect(self) -> np.ndarray: ...

    def close(self) -> None: ...


def extraction_layout(model_layout: Layout) -> Layout:
    """What to extract for a model: the face (MediaPipe's most costly part) only when it reads it."""
    return model_layout if model_layout.face is None else TUTORIAL_1662


def check_extractor(cfg: KeypointsConfig) -> None:
    """Fail now, where the daemon is starting, for what would fail in `build_extractor`."""
    check_pose_model(cfg.model_complexity)


def build_extractor(cfg: KeypointsConfig, layout: Layout, stop: threading.Event | None = None) -> Extractor:
    """The extractor `cfg` asks for. Built in the thread that will use it, so MediaPipe's graph
    and its worker threads belong to that thread (or to the child process, whose start `stop`
    cuts short)."""
    from .extractor_process import ExtractorProcess, supported

    if cfg.isolate and supported():
        return ExtractorProcess(layout, cfg, stop)
    from .holistic import HolisticExtractor

    return HolisticExtractor(layout, cfg.model_complexity)
