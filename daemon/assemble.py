"""Assemble what `signd run` runs from a RunConfig: the checked model, the source, the pipeline.

`preflight` is every check `signd run` makes before it captures a frame, and all that
`signd check-config` makes: the two cannot disagree about a configuration.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from .classifier import Classifier
from .config import RunConfig
from .custom.background import load_background
from .custom.matcher import CustomMatcher
from .custom.store import CustomSigns, load_signs
from .errors import DataError, InputError
from .extractor import check_extractor
from .mqtt_settings import check_tls_files, password
from .pipeline import Pipeline
from .publishers.base import Publisher
from .publishers.socket import group_id
from .recognizer import Recognition
from .sources import Source, SourceKind, make_source
from .sources.device import DeviceSource
from .sources.replay import KeypointSource

log = logging.getLogger(__name__)


def load_classifier(cfg: RunConfig) -> Classifier:
    """Load, check against the manifest's golden pairs, and warm up the configured model."""
    path = cfg.model_path()
    if not cfg.model.path and not path.exists():
        raise InputError(f"the shipped default model is missing ({path}); pass --model")
    classifier = Classifier.load(path, cfg.model)
    classifier.check_golden()
    classifier.model.warm_up()
    attach_custom(classifier, cfg)
    return classifier


def custom_matcher(classifier: Classifier, signs: CustomSigns, where: str, not_signs: Sequence[str]) -> CustomMatcher:
    """The matcher of `signs` for this model; DataError naming the file and the sign when a
    sign cannot go with it (a new sign named like one of the model's, an adaptation of a sign
    the model does not have, a sign fitted with another background)."""
    own = classifier.model_labels
    background = load_background()
    for s in signs.signs:
        fix = f"signd enroll --remove {s.name}, then enroll it again"
        if s.adapts and s.name not in own:
            raise DataError(f"{where}: {s.name!r} adapts a built-in sign, but the model {classifier.name} "
                            f"has no such sign ({', '.join(own)}): {fix} without --adapt")
        if not s.adapts and s.name in own:
            raise DataError(f"{where}: {s.name!r} is one of the model's own signs: {fix} with --adapt")
        if s.background != background.id:
            raise DataError(f"{where}: {s.name!r} was fitted with another enroll background "
                            f"({s.background or 'none'}, this signd has {background.id}): {fix}")
    return CustomMatcher(signs, own, background.project, not_signs)


def attach_custom(classifier: Classifier, cfg: RunConfig) -> None:
    """Load the configured custom signs onto the classifier (none when the file does not exist)."""
    path = cfg.custom_signs_path()
    signs = load_signs(path)
    if not signs.signs:
        classifier.use_custom(None)
        return
    not_signs = recognition(cfg, classifier).smoothing.rest_labels
    classifier.use_custom(custom_matcher(classifier, signs, str(path), not_signs))
    log.info("custom signs from %s: %s", path, ", ".join(
        f"{s.name} (adapts)" if s.adapts else s.name for s in signs.signs))


def recognition(cfg: RunConfig, classifier: Classifier) -> Recognition:
    """How the recognizer runs this model: the user's settings, then the model's, then the
    built-in defaults. DataError when they make no valid smoothing together."""
    try:
        return Recognition.resolve(cfg.window, cfg.smoothing, classifier.manifest.runtime)
    except ValueError as exc:
        raise DataError(f"{classifier.model.path}: smoothing: {exc}") from None


@dataclass(frozen=True)
class Checked:
    """What `preflight` found good: the loaded model, how it is to be run, and the source,
    opened unless it is a camera (opened when the pipeline is built, to capture at once)."""

    classifier: Classifier
    recognition: Recognition
    source: Source
    stop: threading.Event
    """The stop event the source was made with; the pipeline's."""


def check_source(source: Source, cfg: RunConfig, checked: Checked) -> None:
    """An opened source can feed the model: its keypoints' layout, and segments long enough
    to fill a window (a recording of 5-frame clips would never be classified)."""
    classifier = checked.classifier
    if not isinstance(source, KeypointSource):
        return
    assert source.layout is not None
    if not classifier.accepts(source.layout):
        raise DataError(
            f"{cfg.source.uri}: the source gives {source.layout.name} keypoints but the model "
            f"{classifier.model.path} needs {classifier.layout.name}"
        )
    seconds = checked.recognition.window.seconds
    length = classifier.window
    # A window over `seconds` is ready once its first row's time is reached: (T-1)/T of the span.
    need = math.ceil(seconds * (length - 1) / length * source.fps - 1e-6) + 1 if seconds and source.fps else length
    if source.segment_frames < need:
        raise DataError(
            f"{cfg.source.uri}: its {'sequences have' if source.segment_frames else 'stream has'} "
            f"{source.segment_frames} frames, but a window needs {need}: nothing would ever be classified"
        )


def preflight(cfg: RunConfig, stop: threading.Event | None = None, classifier: Classifier | None = None) -> Checked:
    """Every check before capturing: the model (manifest, golden outputs) and how it runs, the
    source (found; a file is opened and checked, a camera is not touched), MediaPipe's pose
    model, the socket's group, the broker's password and TLS files. The caller closes
    `Checked.source` unless it builds the pipeline with it. `classifier`: the configured model,
    already loaded and checked (`load_classifier`)."""
    classifier = classifier or load_classifier(cfg)
    rec = recognition(cfg, classifier)
    stop = stop or threading.Event()
    source = make_source(cfg.source, stop)
    checked = Checked(classifier, rec, source, stop)
    if source.kind is SourceKind.IMAGE:
        check_extractor(cfg.keypoints)
    if isinstance(source, DeviceSource):
        return _check_sinks(cfg, checked)
    source.open()
    try:
        check_source(source, cfg, checked)
        return _check_sinks(cfg, checked)
    except BaseException:
        source.close()
        raise


def _check_sinks(cfg: RunConfig, checked: Checked) -> Checked:
    if cfg.socket.group:
        group_id(cfg.socket.group)
    if cfg.mqtt.url:
        password(cfg.mqtt)
        check_tls_files(cfg.mqtt)
    return checked


def build_pipeline(cfg: RunConfig, publishers: Sequence[Publisher], checked: Checked | None = None) -> Pipeline:
    """The pipeline around what `preflight` checked (or checks now): its model and its source,
    opened once. SigndError if they do not fit; the source is closed then."""
    checked = checked or preflight(cfg)
    classifier, rec, source = checked.classifier, checked.recognition, checked.source
    log.info(
        "model %s (%s, %s) on %s %s, labels %s",
        classifier.model.path, classifier.manifest.quantization, classifier.layout.name,
        classifier.model.runtime.name, classifier.model.runtime.version, ",".join(classifier.labels),
    )
    try:
        if isinstance(source, DeviceSource):
            source.open()
        pipeline = Pipeline(source, classifier, publishers, rec, cfg.keypoints, checked.stop)
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
