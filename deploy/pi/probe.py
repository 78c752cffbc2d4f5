"""The steps pi-check runs on each side, the same file on x86_64 and under emulation on aarch64.

    probe.py demo OUT.npz [--model M] [--source S]  the demo replay through the real pipeline
    probe.py holistic VIDEO N OUT.npz [--pixels F]  MediaPipe Holistic on the first N frames
    probe.py model M.tflite OUT.npz [--data F]  a model loaded and run by the interpreter wrapper

Each writes its results to OUT.npz (arrays, plus `info`: a JSON string) for check.py to
compare. Only the runtime is used here (no TensorFlow, nothing from signd.convert).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import threading
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from signd.daemon.classifier import Classifier
from signd.daemon.config import load_config
from signd.daemon.events import Event, GestureEvent
from signd.daemon.publishers.base import Publisher
from signd.daemon.service import Service

DISTS = ("signd", "mediapipe", "numpy", "ai-edge-litert", "opencv-contrib-python", "protobuf")


def environment() -> dict[str, Any]:
    out: dict[str, Any] = {"machine": platform.machine(), "python": platform.python_version()}
    for d in DISTS:
        try:
            out[d] = version(d)
        except PackageNotFoundError:
            out[d] = None
    return out


def save(path: str, info: dict[str, Any], **arrays: np.ndarray) -> None:
    info = {"env": environment(), **info}
    np.savez(path, info=np.array(json.dumps(info)), **arrays)


class Collector(Publisher):
    """Keeps every gesture event, as the stdout publisher would print them."""

    name = "collector"

    def __init__(self) -> None:
        self.events: list[GestureEvent] = []

    def publish(self, event: Event) -> None:
        if isinstance(event, GestureEvent):
            self.events.append(event)


def demo(out: str, model: str | None, source: str = "demo") -> None:
    """The demo (or another replay) through `signd run`'s own service loop, as `signd run
    --source demo --fast` runs it, with the unrounded probabilities of every window recorded on
    their way to the smoother."""
    overrides: dict[str, Any] = {"source": {"uri": source, "fast": True}}
    if model:
        overrides["model"] = {"path": model}
    cfg = load_config(None, overrides)
    collector = Collector()
    t0 = time.perf_counter()
    probs: list[np.ndarray] = []
    lock = threading.Lock()
    predict = Classifier.predict

    def recording_predict(self: Classifier, frames: np.ndarray, layout: Any) -> np.ndarray:
        p = predict(self, frames, layout)
        with lock:
            probs.append(np.array(p, np.float32))
        return p

    # The probe's own process: every classifier it loads records what it answers.
    Classifier.predict = recording_predict  # type: ignore[method-assign]
    service = Service(cfg, sinks=[collector])
    service.run()
    assert service.pipeline is not None
    classifier = service.pipeline.classifier
    seconds = time.perf_counter() - t0
    save(out, {
        "labels": [e.label for e in collector.events],
        "frames": [e.frame for e in collector.events],
        "classes": classifier.labels,
        "model": classifier.name,
        "model_sha256": classifier.sha256,
        "runtime": f"{classifier.model.runtime.name} {classifier.model.runtime.version}",
        "windows": len(probs),
        "seconds": round(seconds, 2),
    }, probs=np.stack(probs) if probs else np.zeros((0, len(classifier.labels)), np.float32))


def holistic(out: str, video: str, n: int, pixels: str | None) -> None:
    """Holistic (model_complexity 1) on the first `n` frames as the pipeline decodes them, or
    on the frames saved in `pixels` (another side's decode: OpenCV's YUV->RGB rounding differs
    by a few levels between x86 and aarch64, which would hide what MediaPipe itself does)."""
    from signd.daemon.config import KeypointsConfig, SourceConfig
    from signd.daemon.holistic import HolisticExtractor
    from signd.daemon.layout import TUTORIAL_1662
    from signd.daemon.sources import make_source

    src = make_source(SourceConfig(uri=video, fast=True), threading.Event())
    src.open()
    frames = []
    try:
        while len(frames) < n and (f := src.read()) is not None:
            frames.append(f.image)
    finally:
        src.close()
    decoded = np.stack(frames)
    if pixels:
        frames = list(np.load(pixels)["pixels"])
    t0 = time.perf_counter()
    extractor = HolisticExtractor(TUTORIAL_1662, KeypointsConfig().model_complexity)
    t_init = time.perf_counter() - t0
    vectors, times = [], []
    for rgb in frames:
        t = time.perf_counter()
        vectors.append(extractor.extract(rgb))
        times.append(time.perf_counter() - t)
    extractor.close()
    save(out, {
        "frames": len(frames), "size": list(frames[0].shape) if frames else [],
        "init_seconds": round(t_init, 2), "seconds_per_frame": [round(t, 3) for t in times],
        "pixels_from": pixels or "own decode",
    }, vectors=np.stack(vectors), pixels=decoded)


def model(out: str, path: str, data: str | None, windows: int) -> None:
    """Load `path` with its manifest; run its golden inputs and the first windows of `data`."""
    t0 = time.perf_counter()
    clf = Classifier.load(path)
    golden_diff = clf.check_golden()
    golden = np.stack([clf.model.predict(g.input) for g in clf.manifest.golden])
    outputs = golden
    if data:
        from signd.daemon.recordings import load_recording

        rec = load_recording(data)
        outputs = np.concatenate([golden, np.stack([clf.predict(x, rec.layout) for x in rec.X[:windows]])])
    save(out, {
        "model": Path(path).name, "quantization": clf.manifest.quantization,
        "runtime": f"{clf.model.runtime.name} {clf.model.runtime.version}",
        "golden": len(clf.manifest.golden), "golden_max_diff": golden_diff,
        "seconds": round(time.perf_counter() - t0, 2),
    }, outputs=outputs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="step", required=True)
    p = sub.add_parser("demo")
    p.add_argument("out")
    p.add_argument("--model")
    p.add_argument("--source", default="demo", help="another keypoint replay instead of the demo")
    p = sub.add_parser("holistic")
    p.add_argument("video")
    p.add_argument("n", type=int)
    p.add_argument("out")
    p.add_argument("--pixels", help="run on the frames saved in this probe output instead")
    p = sub.add_parser("model")
    p.add_argument("path")
    p.add_argument("out")
    p.add_argument("--data")
    p.add_argument("--windows", type=int, default=8)
    args = ap.parse_args(argv)
    if args.step == "demo":
        demo(args.out, args.model, args.source)
    elif args.step == "holistic":
        holistic(args.out, args.video, args.n, args.pixels)
    else:
        model(args.out, args.path, args.data, args.windows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
