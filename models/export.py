"""A trained network becomes a shipped model: `signd convert` (verification, op-version check
for the target runtime, manifest) plus the smoothing the model was measured with.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from signd.daemon.smoothing import SmoothingConfig

from .train import Trained, config_dict

log = logging.getLogger(__name__)

# float16 halves the file and dequantizes to float32 at load, so answers stay the same; the
# dynamic-range variant would use FULLY_CONNECTED v12, which tflite-runtime 2.14 refuses.
DEFAULT_QUANTIZE = {"default": "float16", "tutorial": "float32"}
DEFAULT_TARGET = "tflite-runtime-2.14"

# What the default model's stream figures were measured with (see models/default/README.md).
DEFAULT_SMOOTHING = SmoothingConfig(majority=10, threshold=0.8, min_hold=3, cooldown=0.5,
                                    rest_labels=("blank", "rest"))


def smoothing_dict(cfg: SmoothingConfig) -> dict[str, Any]:
    """The manifest form of a smoothing config (the fields the runtime takes as defaults)."""
    d = asdict(cfg)
    d.pop("sentence_length", None)
    d["rest_labels"] = list(cfg.rest_labels)
    return d


def smoothing_from_manifest(manifest: Any) -> SmoothingConfig:
    """The smoothing a model recommends (`extra.smoothing`), or the runtime's defaults: the
    same resolution `signd run` makes, without user overrides."""
    from signd.daemon.config import SmoothingOverrides, smoothing_for

    return smoothing_for(manifest.extra or {}, SmoothingOverrides())


def export(trained: Trained, out_dir: str | os.PathLike[str], data: list[str | os.PathLike[str]],
           name: str | None = None, quantize: str | None = None, target: str = DEFAULT_TARGET,
           smoothing: SmoothingConfig | None = None, extra: dict[str, Any] | None = None,
           progress: bool | None = None) -> Any:
    """Write `out_dir/<name>.tflite` and its manifest through `signd convert`; return the
    convert report. `data` are the recordings the conversion is verified on."""
    from signd.convert.converter import convert_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = name or out.name
    cfg = trained.config
    smoothing = smoothing or (DEFAULT_SMOOTHING if cfg.arch == "default" else SmoothingConfig())
    info = {
        "smoothing": smoothing_dict(smoothing),
        # The default network learns 30-frame windows of ~1 s (time-warped in training): on a
        # camera slower than the recordings the runtime should keep that second, not 30 frames.
        **({"window_seconds": 1.0} if cfg.arch == "default" else {}),
        "training": {**config_dict(cfg), "signers": trained.signers,
                     "epochs_run": len(trained.history.get("loss", []))},
        **(extra or {}),
    }
    report = convert_model(
        trained.model, out / f"{name}.tflite", labels=trained.labels,
        quantize=quantize or DEFAULT_QUANTIZE.get(cfg.arch, "float32"), data=[str(d) for d in data],
        target=target, layout=cfg.layout, features=cfg.features, name=name, extra=info,
        progress=progress,
    )
    log.info("wrote %s (%s)", report.output, report.chosen)
    return report
