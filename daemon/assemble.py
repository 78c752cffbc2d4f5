"""Assemble what `signd run` runs from a RunConfig: the checked model, the source, the pipeline."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from .classifier import Classifier
from .config import RunConfig
from .errors import DataError, InputError
from .pipeline import Pipeline
from .publishers.base import Publisher
from .recognizer import Recognition
from .sources import SourceKind, make_source

log = logging.getLogger(__name__)


def load_classifier(cfg: RunConfig) -> Classifier:
    """Load, check against the manifest's golden pairs, and warm up the configured model."""
    path = cfg.model_path()
    if not cfg.model.path and not path.exists():
        raise InputError(f"the shipped default model is missing ({path}); pass --model")
    classifier = Classifier.load(path, cfg.model)
    classifier.check_golden()
    classifier.model.warm_up()
    return classifier


def recognition(cfg: RunConfig, classifier: Classifier) -> Recognition:
    """How the recognizer runs this model: the user's settings, then the model's, then the
    built-in defaults. DataError when they make no valid smoothing together."""
    try:
        return Recognition.resolve(cfg.window, cfg.smoothing, classifier.manifest.runtime)
    except ValueError as exc:
        raise DataError(f"{classifier.model.path}: smoothing: {exc}") from None


def build_pipeline(
    cfg: RunConfig, publishers: Sequence[Publisher], stop: threading.Event | None = None
) -> Pipeline:
    """Open the source, load and warm the model, check they fit; raise SigndError if not."""
    stop = stop or threading.Event()
    classifier = load_classifier(cfg)
    log.info(
        "model %s (%s, %s) on %s %s, labels %s",
        classifier.model.path, classifier.manifest.quantization, classifier.layout.name,
        classifier.model.runtime.name, classifier.model.runtime.version, ",".join(classifier.labels),
    )
    rec = recognition(cfg, classifier)
    source = make_source(cfg.source, stop)
    source.open()
    try:
        if source.kind is SourceKind.KEYPOINTS:
            assert source.layout is not None
            if not classifier.accepts(source.layout):
                raise DataError(
                    f"{cfg.source.uri}: the source gives {source.layout.name} keypoints but the model "
                    f"{classifier.model.path} needs {classifier.layout.name}"
                )
        pipeline = Pipeline(source, classifier, publishers, rec, cfg.keypoints, stop)
    except BaseException:
        source.close()
        raise
    if source.live:
        pace = "live"
    elif cfg.source.fast:
        pace = "as fast as possible"
    else:
        pace = "at its own rate"
    log.info("source %s (%s, %s); window: %s", source.describe(), source.kind.value, pace,
             rec.describe(classifier.window))
    return pipeline
