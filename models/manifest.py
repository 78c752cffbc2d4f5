"""The manifest that travels beside a `.tflite` model as `<model>.json`.

It tells the runtime what the model's outputs mean (labels), what it eats (window length,
keypoint layout, feature set), how it is best run (`runtime`: the window in seconds and the
smoothing it was measured with, typed and checked on load) and how it was made and checked
(quantization, source hash, golden input -> output pairs, the runtimes it was verified on). A bare `.tflite` still runs
when the user passes `--labels`; the layout is then inferred from the input shape.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import typing
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from signd.daemon.errors import DataError
from signd.daemon.layout import LAYOUTS
from signd.daemon.smoothing import SmoothingConfig, SmoothingOverrides
from signd.daemon.textfile import read_text
from signd.daemon.typed_fields import FieldError, coerce, update_dataclass
from signd.daemon.window import MAX_WINDOW_SECONDS

from .features import FEATURE_SETS

FORMAT = "signd-model/1"
MANIFEST_MAX_BYTES = 16 << 20  # golden inputs of a tutorial model are a few hundred KB


@dataclass
class GoldenPair:
    """One input the model was checked on, and what it answered then."""

    input: np.ndarray  # (T, D) float32, the model input after the feature function
    output: np.ndarray  # (K,) float32 probabilities

    def to_dict(self) -> dict[str, Any]:
        # zlib halves a keypoint window; a tutorial window is 30 x 1662 floats (195 KB raw).
        raw = np.ascontiguousarray(self.input, dtype="<f4").tobytes()
        return {
            "shape": list(self.input.shape),
            "input_f32_zlib_b64": base64.b64encode(zlib.compress(raw, 9)).decode("ascii"),
            "output": [float(v) for v in self.output],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GoldenPair:
        if "input_f32_zlib_b64" in d:
            raw = zlib.decompress(base64.b64decode(d["input_f32_zlib_b64"]))
        else:
            raw = base64.b64decode(d["input_f32_b64"])
        arr = np.frombuffer(raw, dtype="<f4")
        return cls(arr.reshape(d["shape"]).astype(np.float32), np.asarray(d["output"], np.float32))


@dataclass(frozen=True)
class RuntimeHints:
    """How the model's producer recommends running it; the user's settings win over these, and
    these over the runtime's built-in defaults (`signd.daemon.recognizer.Recognition.resolve`)."""

    window_seconds: float | None = None
    """The span a window should cover whatever the camera's rate; None = the last `window`
    frames."""
    smoothing: SmoothingOverrides = field(default_factory=SmoothingOverrides)
    """The smoothing the model's figures were measured with."""

    def to_dict(self) -> dict[str, Any]:
        """What was recommended, leaving out what was not."""
        smoothing = {k: v for k, v in asdict(self.smoothing).items() if v is not None}
        out: dict[str, Any] = {"smoothing": smoothing} if smoothing else {}
        return {"window_seconds": self.window_seconds, **out} if self.window_seconds is not None else out

    @classmethod
    def from_dict(cls, d: Any, where: str) -> RuntimeHints:
        """Checked: unknown keys, wrong types and values out of range are DataErrors naming
        the key."""
        if not isinstance(d, dict):
            raise DataError(f"{where}: key 'runtime' must be an object, got {d!r}")
        try:
            hints = update_dataclass(cls(), d, "runtime.")
            hints.smoothing.apply(SmoothingConfig())
        except (FieldError, ValueError) as exc:
            raise DataError(f"{where}: {exc}") from None
        if hints.window_seconds is not None and not 0 <= hints.window_seconds <= MAX_WINDOW_SECONDS:
            raise DataError(f"{where}: runtime.window_seconds must be within 0..{MAX_WINDOW_SECONDS:g}, "
                            f"got {hints.window_seconds}")
        return hints


# Manifests written before `runtime` existed kept these two among `extra`.
_LEGACY_HINTS = ("window_seconds", "smoothing")


@dataclass
class Manifest:
    """What the runtime needs to know about a model, plus its provenance."""

    labels: list[str]
    window: int = 30
    layout: str = "tutorial-1662"  # keypoint layout the features are computed from
    features: str = "raw"  # feature set name in signd.models.features
    name: str = ""
    quantization: str = "float32"
    source_sha256: str = ""
    tensorflow_version: str = ""
    # {name, version, ...}: each runtime the model loaded in and matched its golden outputs on
    verified_runtimes: list[dict[str, Any]] = field(default_factory=list)
    golden: list[GoldenPair] = field(default_factory=list)
    runtime: RuntimeHints = field(default_factory=RuntimeHints)
    extra: dict[str, Any] = field(default_factory=dict)  # producer-specific facts (reports, seeds)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["golden"] = [g.to_dict() for g in self.golden]
        d["runtime"] = self.runtime.to_dict()
        return {"format": FORMAT, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "manifest") -> Manifest:
        if d.get("format") != FORMAT:
            raise DataError(f"{where}: key 'format' is {d.get('format')!r}; expected {FORMAT!r}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known - {"format"})
        if unknown:
            raise DataError(f"{where}: unknown key {unknown[0]!r}")
        labels = d.get("labels")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x.strip() for x in labels):
            raise DataError(f"{where}: key 'labels' must be a non-empty list of names, got {labels!r:.80}")
        kwargs = {k: v for k, v in d.items() if k in known}
        hints = typing.get_type_hints(cls)
        for key in known - {"labels", "golden", "runtime"}:
            if key in kwargs:
                try:
                    kwargs[key] = coerce(kwargs[key], hints[key], key)
                except FieldError as exc:
                    raise DataError(f"{where}: key {exc}") from None
        if kwargs.get("layout", cls.layout) not in LAYOUTS:
            raise DataError(f"{where}: key 'layout' is {kwargs['layout']!r}; known: {', '.join(LAYOUTS)}")
        if kwargs.get("features", cls.features) not in FEATURE_SETS:
            raise DataError(f"{where}: key 'features' is {kwargs['features']!r}; known: {', '.join(FEATURE_SETS)}")
        if kwargs.get("window", cls.window) < 1:
            raise DataError(f"{where}: key 'window' must be >= 1, got {kwargs['window']}")
        extra = kwargs.get("extra")
        if "runtime" not in d and isinstance(extra, dict) and any(k in extra for k in _LEGACY_HINTS):
            kwargs["extra"] = {k: v for k, v in extra.items() if k not in _LEGACY_HINTS}
            kwargs["runtime"] = {k: extra[k] for k in _LEGACY_HINTS if k in extra}
        kwargs["runtime"] = RuntimeHints.from_dict(kwargs.get("runtime", {}), where)
        try:
            kwargs["golden"] = [GoldenPair.from_dict(g) for g in d.get("golden", [])]
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"{where}: key 'golden' is malformed ({exc})") from None
        except zlib.error as exc:
            raise DataError(f"{where}: key 'golden' holds a corrupt input ({exc})") from None
        return cls(**kwargs)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file (a model, the Keras file it came from), read in 1 MB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_file_mode() -> int:
    """0o666 less the umask: what open() would have given (mkstemp gives 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def manifest_path(model_path: str | os.PathLike[str]) -> Path:
    """`model.tflite` -> `model.json`."""
    return Path(model_path).with_suffix(".json")


def read_manifest(model_path: str | os.PathLike[str]) -> Manifest | None:
    """The manifest beside `model_path`, or None when there is none."""
    p = manifest_path(model_path)
    if not p.exists():
        return None
    text = read_text(p, "manifest", DataError, MANIFEST_MAX_BYTES)
    try:
        d = json.loads(text)
    except ValueError as exc:
        raise DataError(f"{p}: not a readable JSON manifest ({exc})") from None
    except RecursionError:
        raise DataError(f"{p}: not a readable JSON manifest (values nested too deeply)") from None
    if not isinstance(d, dict):
        raise DataError(f"{p}: manifest must be a JSON object")
    return Manifest.from_dict(d, str(p))


def manifest_text(manifest: Manifest) -> str:
    """The manifest as the JSON text written beside the model."""
    return json.dumps(manifest.to_dict(), indent=1) + "\n"


def write_manifest(model_path: str | os.PathLike[str], manifest: Manifest) -> Path:
    """Write the manifest beside the model through a temporary file and a rename."""
    p = manifest_path(model_path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(manifest_text(manifest))
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
