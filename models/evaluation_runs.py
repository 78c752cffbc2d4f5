"""What `signd evaluate` runs: a shipped model on recordings, or LOSO of architectures with
stream and unknown-sign figures; results as one JSON-able dict, and its text form."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any

import numpy as np

from signd.daemon.config import WindowConfig
from signd.daemon.layout import layout_named

from .architectures import spec
from .dataset import Signer, load_signers
from .evaluate import LOSO_CLASSES, Report, evaluate, loso, loso_labels
from .export import runtime_hints
from .stream import StreamScore, StreamSettings, evaluate_stream, recognition_for, stream_summary
from .train import TrainConfig, fit

log = logging.getLogger(__name__)

Paths = list[str | os.PathLike[str]]





def loso_run(paths: Paths, archs: list[str], held_out: Paths = (), classes: tuple[str, ...] = LOSO_CLASSES,
             seed: int = 0, epochs: int | None = None, folds: list[str] | None = None,
             stream: StreamSettings | None = None, window: WindowConfig | None = None) -> dict[str, Any]:
    """LOSO of every architecture over `paths` (same folds, same seed, one run); with
    `held_out`, a model per architecture trained on all of `paths` tested on those signers;
    with `stream`, every held-out signer's stream through its own fold's model."""
    base = TrainConfig(seed=seed)
    if epochs is not None:
        base.epochs = epochs
    result: dict[str, Any] = {"mode": "loso", "seed": seed, "classes": list(classes), "accuracy": {},
                              "histories": {}, "stream": {}, "held_out": {}, "unknown": {}}
    by_layout: dict[str, tuple[list[Signer], list[Signer]]] = {}
    for arch in archs:
        lay = spec(arch).layout
        if lay not in by_layout:
            by_layout[lay] = (load_signers(paths, layout_named(lay)),
                              load_signers(held_out, layout_named(lay)) if held_out else [])
    result["signers"] = [s.name for s in next(iter(by_layout.values()))[0]]
    for arch in archs:
        signers, extra = by_layout[spec(arch).layout]
        layout = layout_named(spec(arch).layout)
        run = loso(signers, [arch], base, classes, keep_models=stream is not None, folds=folds)
        rep = run.reports[arch]
        result["accuracy"][arch] = rep.to_dict()
        result["histories"][arch] = run.histories[arch]
        scores: list[StreamScore] = []
        if stream is not None:
            for s in signers:
                trained = run.models[arch].get(s.name)
                if trained is not None:
                    scores.append(evaluate_stream(s, layout, trained.predict_frames, rep.labels,
                                                  recognition_for(runtime_hints(arch), window), stream,
                                                  base.window))
            result["stream"][arch] = stream_summary(scores)
        unknown = [sc for sc in scores if sc.unknown]
        if extra:
            cfg = replace(base, arch=arch)
            trained = fit(signers, loso_labels(arch, cfg, classes), cfg, desc=f"{arch} on all")
            held = evaluate(trained.predict_frames, trained.labels, extra)
            block: dict[str, Any] = {"accuracy": held.to_dict()}
            if stream is not None:
                hs = [evaluate_stream(s, layout, trained.predict_frames, trained.labels,
                                      recognition_for(runtime_hints(arch), window), stream, base.window)
                      for s in extra]
                block["stream"] = stream_summary(hs)
                unknown += [sc for sc in hs if sc.unknown]
            result["held_out"][arch] = block
        if unknown:
            n = sum(sc.unknown for sc in unknown)
            k = sum(sc.unknown_with_event for sc in unknown)
            result["unknown"][arch] = {
                "sequences": n, "with_event": k, "rate": k / n,
                "signers": {sc.signer: {"sequences": sc.unknown, "with_event": sc.unknown_with_event}
                            for sc in unknown},
            }
    return result


def model_run(model: str | os.PathLike[str], data: Paths, stream: StreamSettings | None = None,
              window: WindowConfig | None = None) -> dict[str, Any]:
    """A converted model (with its manifest) on recordings, through the runtime's classifier."""
    from signd.daemon.classifier import Classifier

    clf = Classifier.load(model)
    layout = clf.layout
    signers = load_signers(data, layout)

    def predict(X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros((0, len(clf.labels)), np.float32)
        return np.stack([clf.predict(x, layout) for x in X])

    name = clf.name
    rep: Report = evaluate(predict, clf.labels, signers)
    result: dict[str, Any] = {"mode": "model", "model": str(model), "accuracy": {name: rep.to_dict()},
                              "stream": {}, "unknown": {}}
    if stream is not None:
        rec = recognition_for(clf.manifest.runtime, window)
        scores = [evaluate_stream(s, layout, predict, clf.labels, rec, stream, clf.window) for s in signers]
        result["stream"][name] = stream_summary(scores)
        unknown = [sc for sc in scores if sc.unknown]
        if unknown:
            n = sum(sc.unknown for sc in unknown)
            k = sum(sc.unknown_with_event for sc in unknown)
            result["unknown"][name] = {"sequences": n, "with_event": k, "rate": k / n}
    return result


def _pct(v: float) -> str:
    return "-" if v != v else f"{v:.3f}"


def format_result(result: dict[str, Any]) -> str:
    """The text form: accuracy per signer side by side, then stream and unknown figures."""
    lines = []
    acc = result["accuracy"]
    names = list(acc)
    signers = [s["signer"] for s in next(iter(acc.values()))["signers"]]
    head = "LOSO sequence accuracy (held-out signer)" if result["mode"] == "loso" else "sequence accuracy"
    lines.append(head)
    lines.append(f"  {'signer':24s}" + "".join(f"{n:>12s}" for n in names))
    for i, s in enumerate(signers):
        lines.append(f"  {s:24s}" + "".join(f"{_pct(acc[n]['signers'][i]['accuracy']):>12s}" for n in names))
    for key in ("mean", "worst", "overall"):
        lines.append(f"  {key:24s}" + "".join(f"{_pct(acc[n][key]):>12s}" for n in names))
    for n in names:
        lines.append(f"  confusion {n} (rows true, columns predicted: {', '.join(acc[n]['labels'])}): "
                     f"{acc[n]['confusion']}")
    for arch, block in result.get("held_out", {}).items():
        a = block["accuracy"]
        per = ", ".join(f"{s['signer']} {_pct(s['accuracy'])}" for s in a["signers"])
        lines.append(f"held out of every fold, {arch} trained on all: {per}")
    for n, block in result.get("stream", {}).items():
        t = block["total"]
        lines.append(f"stream {n}: F1 {_pct(t['f1'])} ({t['hits']}/{t['signs']} signs, {t['misses']} missed, "
                     f"{t['false_events']} false events); rest: {t['rest_false_events']} false events in "
                     f"{t['rest_seconds'] / 60:.1f} min = {t['rest_false_per_minute']:.2f}/min")
    for n, u in result.get("unknown", {}).items():
        lines.append(f"unknown signs {n}: an event for {u['with_event']} of {u['sequences']} sequences "
                     f"({u['rate']:.0%})")
    return "\n".join(lines)
