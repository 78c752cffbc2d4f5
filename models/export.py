"""A trained network becomes a shipped model: `signd convert` (verification, op-version check
for the target runtime, manifest) plus how it is to be run (window span, smoothing).
"""

from __future__ import annotations

import logging
import os
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from signd.daemon.smoothing import SmoothingConfig, SmoothingOverrides

from .manifest import RuntimeHints
from .train import Trained, config_dict

log = logging.getLogger(__name__)

# float16 halves the file and dequantizes to float32 at load, so answers stay the same; the
# dynamic-range variant would use FULLY_CONNECTED v12, which tflite-runtime 2.14 refuses.
DEFAULT_QUANTIZE = {"default": "float16", "tutorial": "float32", "tutorial-258": "float32"}
DEFAULT_TARGET = "tflite-runtime-2.14"

def runtime_hints(arch: str) -> RuntimeHints:
    """How a model of `arch` is to be run. The default network learns 30-frame windows of ~1 s
    (time-warped in training), so on a camera slower than the recordings the window should keep
    that second, not 30 frames; and it needs more certainty than the built-in threshold before
    a window counts (models/default/README.md)."""
    if arch == "default":
        return RuntimeHints(window_seconds=1.0, smoothing=SmoothingOverrides(threshold=0.8))
    return RuntimeHints()


def measured_with(hints: RuntimeHints) -> RuntimeHints:
    """`hints` with every smoothing knob the model's figures depend on written out, as resolved
    today: a later signd whose built-in defaults differ still runs the model as it was measured.
    (The sentence's length is display, not recognition.)"""
    full = hints.smoothing.apply(SmoothingConfig())
    knobs = {f.name: getattr(full, f.name) for f in fields(SmoothingOverrides) if f.name != "sentence_length"}
    return replace(hints, smoothing=SmoothingOverrides(**knobs))


def export(trained: Trained, out_dir: str | os.PathLike[str], data: list[str | os.PathLike[str]],
           name: str | None = None, quantize: str | None = None, target: str = DEFAULT_TARGET,
           hints: RuntimeHints | None = None, extra: dict[str, Any] | None = None,
           progress: bool | None = None) -> Any:
    """Write `out_dir/<name>.tflite` and its manifest through `signd convert`; return the
    convert report. `data` are the recordings the conversion is verified on."""
    from signd.convert.converter import convert_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = name or out.name
    cfg = trained.config
    info = {
        "training": {**config_dict(cfg), "signers": trained.signers,
                     "epochs_run": len(trained.history.get("loss", []))},
        **(extra or {}),
    }
    report = convert_model(
        trained.model, out / f"{name}.tflite", labels=trained.labels,
        quantize=quantize or DEFAULT_QUANTIZE.get(cfg.arch, "float32"), data=[str(d) for d in data],
        target=target, layout=cfg.layout, features=cfg.features, name=name, extra=info,
        hints=measured_with(hints or runtime_hints(cfg.arch)),
        progress=progress,
    )
    log.info("wrote %s (%s)", report.output, report.chosen)
    return report
