"""What `signd run` needs to know: one dataclass, filled from the command line (and, later,
from a TOML file with the command line on top)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from .smoothing import SmoothingConfig


def default_model_path() -> Path:
    """The model shipped with signd (models/default)."""
    return Path(str(resources.files("signd.models") / "default" / "default.tflite"))


@dataclass
class SmoothingOverrides:
    """Smoothing settings given by the user; None keeps the model's (or the built-in) default."""

    majority: int | None = None
    threshold: float | None = None
    min_hold: int | None = None
    cooldown: float | None = None

    def apply(self, base: SmoothingConfig) -> SmoothingConfig:
        given = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        return replace(base, **given)


@dataclass
class RunConfig:
    source: str = "demo"
    """demo, camera:N, /dev/videoN, picamera2[:N], a video file, a signer .npz or an MP_Data folder."""
    model: str | None = None
    """A .tflite with its manifest beside it; None = the shipped default model."""
    labels: list[str] | None = None
    """Output names of a model without a manifest, in output order."""
    fast: bool = False
    repeat: int = 1
    stride: int = 1
    reset_after: float | None = 1.0
    num_threads: int = 1
    runtime: str | None = None
    model_complexity: int = 1
    max_width: int | None = 640
    camera_width: int = 640
    camera_height: int = 480
    camera_fps: float = 30.0
    smoothing: SmoothingOverrides = field(default_factory=SmoothingOverrides)

    def model_path(self) -> Path:
        return Path(self.model) if self.model else default_model_path()


def smoothing_for(manifest_extra: dict[str, Any], overrides: SmoothingOverrides) -> SmoothingConfig:
    """Built-in defaults, then the model's recommended settings, then the user's."""
    base = SmoothingConfig()
    rec = manifest_extra.get("smoothing") if isinstance(manifest_extra, dict) else None
    if isinstance(rec, dict):
        known = {f.name for f in fields(SmoothingConfig)}
        values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in rec.items() if k in known}
        base = replace(base, **values)
    return overrides.apply(base)
