"""MediaPipe Holistic (`solutions.holistic` of mediapipe 0.10.18), in the thread that calls it.

Vectors in the tutorial's layout (see `landmarks.py`). MediaPipe is imported lazily: replays
and the demo never load it, and neither does the daemon's own process when extraction runs in
a process of its own (`extractor_process`).
"""

from __future__ import annotations

import importlib.util
import os
import time
from typing import Any

import numpy as np

from .errors import InputError
from .landmarks import landmarks_to_vector
from .layout import Layout

# model_complexity -> the pose model file mediapipe needs beside its package, and where
# mediapipe's own first-use download would fetch it from.
_POSE_MODELS = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}
_MODEL_URL = "https://storage.googleapis.com/mediapipe-assets/"


def pose_model_path(model_complexity: int) -> str:
    """Where mediapipe looks for the pose model of `model_complexity`."""
    # Found without importing mediapipe: the daemon's own process never needs it when
    # extraction runs in a process of its own.
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        raise InputError("mediapipe is not installed: pip install 'mediapipe==0.10.18'")
    root = os.path.dirname(spec.origin)
    return os.path.join(root, "modules", "pose_landmark", _POSE_MODELS[model_complexity])


def check_pose_model(model_complexity: int) -> None:
    """InputError unless MediaPipe's pose model for `model_complexity` is installed."""
    if model_complexity not in _POSE_MODELS:
        raise InputError(f"model_complexity must be 0, 1 or 2, got {model_complexity}")
    path = pose_model_path(model_complexity)
    if not os.path.exists(path):
        # MediaPipe would download it now; signd never downloads at run time.
        name = _POSE_MODELS[model_complexity]
        raise InputError(
            f"model_complexity {model_complexity} needs MediaPipe's {name}, which is not "
            f"installed: put it at {path} (it is {_MODEL_URL}{name}; deploy/install.sh "
            "--pose-models fetches it at install time), or use model_complexity 1"
        )


def new_holistic(model_complexity: int) -> Any:
    """MediaPipe's `solutions.holistic.Holistic` for video, as the tutorial makes it (detection
    and tracking confidence 0.5)."""
    check_pose_model(model_complexity)
    # MediaPipe (and TensorFlow, which it imports when installed) log to stderr from C++;
    # keep their chatter out of the journal unless the user asked for it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GLOG_minloglevel", "2")
    from mediapipe.python.solutions import holistic

    return holistic.Holistic(
        static_image_mode=False,
        model_complexity=model_complexity,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )


class HolisticExtractor:
    """RGB frames in, keypoint vectors out. One thread uses it.

    Up to `depth` frames can be in MediaPipe's graph at once (`submit` ... `collect`, in
    order; see `holistic_graph`); `extract` is both for one frame. `started_at`/`finished_at`
    are when the last collected frame went into the graph and when its vector was ready
    (time.monotonic): with two frames in the graph that span is longer than the frame period.
    """

    def __init__(self, layout: Layout, model_complexity: int) -> None:
        from .holistic_graph import open_graph

        self.layout = layout
        self.model_complexity = model_complexity
        self._holistic = new_holistic(model_complexity)
        self._graph = open_graph(self._holistic)
        self.depth = self._graph.depth
        self.started_at = self.finished_at = 0.0

    def submit(self, rgb: np.ndarray) -> None:
        """Send one RGB uint8 frame into the graph; the caller may reuse its buffer at once."""
        if len(self._graph) >= self.depth:
            raise RuntimeError("collect() a result before submitting more frames")
        self._graph.submit(rgb)

    def collect(self) -> np.ndarray:
        """The keypoint vector (layout.size,) float32 of the oldest submitted frame."""
        results, self.started_at = self._graph.collect()
        values = landmarks_to_vector(results, self.layout)
        self.finished_at = time.monotonic()
        return values

    def extract(self, rgb: np.ndarray) -> np.ndarray:
        """The keypoint vector of one RGB uint8 frame, with nothing else in flight."""
        if len(self._graph):
            raise RuntimeError("extract() with frames in flight: collect() them first")
        self.submit(rgb)
        return self.collect()

    def close(self) -> None:
        self._holistic.close()
