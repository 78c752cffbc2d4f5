"""Assemble a pipeline from a RunConfig and run it until the source ends or a signal arrives."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from .classifier import Classifier
from .config import RunConfig, smoothing_for
from .errors import DataError, InputError, SigndError
from .keypoints import ExtractorSpec
from .layout import TUTORIAL_1662
from .pipeline import Pipeline, PipelineConfig
from .publishers.base import Publisher
from .sources import SourceOptions, make_source

log = logging.getLogger(__name__)


def load_classifier(cfg: RunConfig) -> Classifier:
    """Load, check against the manifest's golden pairs, and warm up the configured model."""
    path = cfg.model_path()
    if not cfg.model.path and not path.exists():
        raise InputError(f"the shipped default model is missing ({path}); pass --model")
    classifier = Classifier.load(
        path, labels=cfg.model.labels or None, num_threads=cfg.model.num_threads,
        runtime=cfg.model.runtime or None,
    )
    classifier.check_golden()
    classifier.model.warm_up()
    return classifier


def window_seconds(cfg: RunConfig, classifier: Classifier) -> float | None:
    """The window's span: the user's, else the model's recommendation, else frames (None)."""
    seconds = cfg.window.seconds
    if seconds is None:
        rec = classifier.manifest.extra.get("window_seconds") if isinstance(classifier.manifest.extra, dict) else None
        seconds = float(rec) if isinstance(rec, (int, float)) and not isinstance(rec, bool) else 0.0
    return seconds or None


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
    sc = cfg.source
    options = SourceOptions(
        fast=sc.fast, repeat=sc.repeat, max_width=sc.max_width or None, camera_width=sc.camera_width,
        camera_height=sc.camera_height, camera_fps=sc.camera_fps,
    )
    source = make_source(sc.uri, stop, options)
    extractor = None
    if source.kind == "image":
        # The model's layout decides what to extract; the face is only computed when needed.
        layout = classifier.layout if classifier.layout.face is None else TUTORIAL_1662
        extractor = ExtractorSpec(layout, cfg.keypoints.model_complexity, cfg.keypoints.isolate, cfg.keypoints.niceness)

    source.open()
    try:
        src_layout = source.layout if source.kind == "keypoints" else classifier.layout
        if src_layout is not None and not classifier.accepts(src_layout):
            raise DataError(
                f"{sc.uri}: the source gives {src_layout.name} keypoints but the model "
                f"{classifier.model.path} needs {classifier.layout.name}"
            )
        config = PipelineConfig(
            stride=cfg.window.stride, reset_after=cfg.window.reset_after or None,
            window_seconds=window_seconds(cfg, classifier),
            smoothing=smoothing_for(classifier.manifest.extra, cfg.smoothing),
        )
        pipeline = Pipeline(source, classifier, publishers, config, extractor, stop)
    except BaseException:
        source.close()
        raise
    span = pipeline.config.window_seconds
    log.info(
        "source %s (%s, %s); window: %s", source.describe(), source.kind,
        "live" if source.live else "as fast as possible",
        f"{classifier.window} rows over {span:g} s" if span else f"the last {classifier.window} frames",
    )
    return pipeline


def run_until_done(pipeline: Pipeline) -> None:
    """Run in the foreground; SIGINT/SIGTERM stop it cleanly. Raises the error of a failed stage."""
    stopped_by: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopped_by.append(signum)
        pipeline.request_stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for p in pipeline.publishers:
            p.start()
        pipeline.start()
        while not pipeline.wait(0.2):
            if pipeline.stop_event.is_set():
                pipeline.join()
                break
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if stopped_by:
        log.info("stopped by %s", signal.Signals(stopped_by[0]).name)
    snap = pipeline.stats.snapshot()
    log.info(
        "frames %d (dropped %d), windows %d, events %d (dropped %d), %.1f fps",
        snap["frames_processed"], snap["frames_dropped"], snap["windows"], snap["events"],
        snap["events_dropped"], snap["fps"],
    )
    if pipeline.error is not None:
        if isinstance(pipeline.error, SigndError):
            raise pipeline.error
        raise RuntimeError(f"pipeline stage failed: {pipeline.error!r}") from pipeline.error
