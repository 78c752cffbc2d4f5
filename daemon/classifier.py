"""A model ready for windows of keypoints: manifest + interpreter + the shared feature function.

`Classifier.predict(frames)` is pure apart from the interpreter call: keypoint frames in the
source's layout go in, probabilities in the manifest's label order come out.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from signd.models.features import compute_features, feature_dim, reads_parts
from signd.models.manifest import Manifest, file_sha256, manifest_path, read_manifest

from .config import ModelConfig
from .custom import descriptor
from .custom.matcher import CustomMatcher
from .errors import DataError, InputError
from .interpreter import TFLiteModel
from .layout import Layout, convert_layout, layout_for_size, layout_named

log = logging.getLogger(__name__)

# Golden outputs are compared with this tolerance: runtimes and kernels (XNNPACK or not)
# differ in the last bits, while a wrong or corrupted model is off by far more.
GOLDEN_TOLERANCE = 1e-3


class Classifier:
    """Windows of keypoints -> probabilities over the model's labels."""

    def __init__(self, model: TFLiteModel, manifest: Manifest) -> None:
        self.model = model
        self.manifest = manifest
        self.labels = list(manifest.labels)
        self.layout: Layout = layout_named(manifest.layout)
        self.features = manifest.features
        self.window = manifest.window
        self.custom: CustomMatcher | None = None
        # Per source layout name: the layout the features are computed in. A feature set that
        # reads the parts by name gets them straight from the source's frames, saving a copy
        # of every window into the model's layout.
        self._feature_layout: dict[str, Layout] = {self.layout.name: self.layout}
        self.sha256 = file_sha256(model.path)
        self.name = manifest.name or Path(model.path).stem
        where = model.path
        if len(self.labels) != model.num_outputs:
            raise DataError(
                f"{where}: {len(self.labels)} labels ({','.join(self.labels)}) but the model has "
                f"{model.num_outputs} outputs"
            )
        want = (1, self.window, feature_dim(self.layout, self.features))
        if model.input_shape != want:
            raise DataError(
                f"{where}: model input shape {list(model.input_shape)} does not match the features "
                f"{list(want)} ({self.window} frames of {self.layout.name} keypoints, feature set "
                f"{self.features!r})"
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str], config: ModelConfig | None = None) -> Classifier:
        """Load a model and its manifest as `[model]` says (its path aside); a bare `.tflite`
        needs `labels`."""
        cfg = config or ModelConfig()
        labels = list(cfg.labels)
        model = TFLiteModel(path, cfg.num_threads, runtime=cfg.runtime or None)
        manifest = read_manifest(path)
        if manifest is None:
            if not labels:
                raise InputError(
                    f"{path}: no manifest ({manifest_path(path).name}) beside the model; "
                    "pass --labels in the order of the model's outputs, e.g. --labels hello,thanks,iloveyou"
                )
            layout = layout_for_size(model.input_dim)
            if layout is None:
                raise DataError(
                    f"{path}: model input has {model.input_dim} values per frame; a model without a "
                    "manifest must take 1662 (tutorial) or 258 (pose + hands) keypoints"
                )
            manifest = Manifest(
                labels=list(labels), window=model.window, layout=layout.name, features="raw",
                name=Path(path).stem, quantization=str(model.input_dtype),
            )
        elif labels and list(labels) != manifest.labels:
            log.warning("--labels %s replaces the manifest's labels %s", labels, manifest.labels)
            manifest.labels = list(labels)
        return cls(model, manifest)

    @property
    def model_labels(self) -> list[str]:
        """The model's own outputs, without custom signs."""
        return list(self.manifest.labels)

    def use_custom(self, matcher: CustomMatcher | None) -> None:
        """Match these custom signs too: `labels` and `predict` gain their columns."""
        self.custom = matcher
        self.labels = matcher.labels if matcher is not None else self.model_labels

    def accepts(self, source_layout: Layout) -> bool:
        """Whether frames in `source_layout` can feed this model."""
        try:
            convert_layout(np.zeros((1, source_layout.size), np.float32), source_layout, self.layout)
        except ValueError:
            return False
        return True

    def inputs(self, frames: np.ndarray, source_layout: Layout) -> np.ndarray:
        """The model input (T, D) for keypoint frames (T, F) in `source_layout`."""
        lay = self._feature_layout.get(source_layout.name)
        if lay is None:
            if not reads_parts(self.features) or not self.accepts(source_layout):
                frames = convert_layout(frames, source_layout, self.layout)
                return compute_features(frames, self.layout, self.features)
            lay = self._feature_layout[source_layout.name] = source_layout
        return compute_features(frames, lay, self.features)

    def predict(self, frames: np.ndarray, source_layout: Layout) -> np.ndarray:
        """Probabilities (K,) for one window of keypoint frames (K + C with custom signs)."""
        x = self.inputs(frames, source_layout)
        probs = self.model.predict(x)
        if self.custom is None:
            return probs
        if self.features != descriptor.FEATURES:
            x = compute_features(frames, source_layout, descriptor.FEATURES)
        return self.custom.apply(probs, descriptor.describe_features(x))

    def check_golden(self, tolerance: float = GOLDEN_TOLERANCE) -> float:
        """Largest |difference| from the manifest's golden outputs; DataError above tolerance."""
        worst = 0.0
        for i, pair in enumerate(self.manifest.golden):
            got = self.model.predict(pair.input)
            diff = float(np.max(np.abs(got - pair.output)))
            worst = max(worst, diff)
            if diff > tolerance:
                raise DataError(
                    f"{self.model.path}: golden input {i} gives outputs {diff:.4g} away from the "
                    f"manifest's (tolerance {tolerance})"
                )
        return worst
