"""The one TFLite interpreter wrapper: picks a runtime, loads, checks and runs a model.

Runtime order: ai_edge_litert (maintained, wheels for the Pi) -> tflite_runtime (older Pi
installs) -> tensorflow.lite (a development machine). The choice is made once and logged.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError, InputError, require_readable
from .tflite_file import FlatbufferError, check_tflite_bytes

log = logging.getLogger(__name__)

# (name used on the command line, module, attribute path of Interpreter, distributions)
_RUNTIMES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("ai-edge-litert", "ai_edge_litert.interpreter", "Interpreter", ("ai-edge-litert",)),
    ("tflite-runtime", "tflite_runtime.interpreter", "Interpreter", ("tflite-runtime",)),
    ("tensorflow", "tensorflow", "lite.Interpreter", ("tensorflow", "tensorflow-cpu")),
)
RUNTIME_NAMES = tuple(r[0] for r in _RUNTIMES)


@dataclass(frozen=True)
class Runtime:
    """An importable TFLite runtime."""

    name: str
    version: str
    interpreter_cls: Any


def _dist_version(dists: tuple[str, ...]) -> str:
    for d in dists:
        try:
            return version(d)
        except PackageNotFoundError:
            continue
    return "unknown"


def load_runtime(name: str) -> Runtime:
    """Import the named runtime; InputError when it is not installed."""
    for rname, module, attr, dists in _RUNTIMES:
        if rname == name:
            try:
                obj = importlib.import_module(module)
            except ImportError as exc:
                raise InputError(f"TFLite runtime {name} is not installed ({exc})") from None
            for part in attr.split("."):
                obj = getattr(obj, part)
            return Runtime(rname, _dist_version(dists), obj)
    raise InputError(f"unknown TFLite runtime {name!r} (known: {', '.join(RUNTIME_NAMES)})")


def pick_runtime(preferred: str | None = None) -> Runtime:
    """`preferred` if given, else the first runtime of ai-edge-litert, tflite-runtime, tensorflow."""
    if preferred:
        return load_runtime(preferred)
    for name in RUNTIME_NAMES:
        try:
            return load_runtime(name)
        except InputError:
            continue
    raise InputError("no TFLite runtime is installed: pip install ai-edge-litert")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0]


class TFLiteModel:
    """A loaded `.tflite` with one input (1, T, D) and one output (1, K); float or int8."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        num_threads: int,
        runtime: Runtime | str | None = None,
    ) -> None:
        self.path = str(path)
        require_readable(self.path, "model")
        content = Path(self.path).read_bytes()
        try:
            check_tflite_bytes(content)
        except FlatbufferError as exc:
            raise DataError(f"{self.path}: {exc}") from None
        self.runtime = runtime if isinstance(runtime, Runtime) else pick_runtime(runtime)
        self.num_threads = num_threads
        try:
            self._interp = self.runtime.interpreter_cls(
                model_content=content, num_threads=num_threads
            )
            self._interp.allocate_tensors()
        except Exception as exc:  # every runtime raises its own types (ValueError, RuntimeError)
            raise DataError(
                f"{self.path}: {self.runtime.name} {self.runtime.version} cannot load this model: "
                f"{_first_line(exc)}"
            ) from None
        inputs = self._interp.get_input_details()
        outputs = self._interp.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise DataError(
                f"{self.path}: model has {len(inputs)} inputs and {len(outputs)} outputs; expected 1 and 1"
            )
        self._in, self._out = inputs[0], outputs[0]
        self.input_shape: tuple[int, ...] = tuple(int(v) for v in self._in["shape"])
        self.output_shape: tuple[int, ...] = tuple(int(v) for v in self._out["shape"])
        self.input_dtype = np.dtype(self._in["dtype"])
        self.output_dtype = np.dtype(self._out["dtype"])
        self._in_scale, self._in_zero = self._in["quantization"]
        self._out_scale, self._out_zero = self._out["quantization"]
        # Looked up once: predict runs for every window.
        self._in_index, self._out_index = self._in["index"], self._out["index"]
        self._in_quantized = self.input_dtype in (np.int8, np.uint8)
        self._out_quantized = self.output_dtype in (np.int8, np.uint8)
        if len(self.input_shape) != 3 or self.input_shape[0] != 1:
            raise DataError(
                f"{self.path}: model input shape {list(self.input_shape)}; expected [1, frames, values]"
            )
        self.size_bytes = len(content)
        log.debug(
            "loaded %s on %s %s: input %s %s, output %s %s",
            self.path, self.runtime.name, self.runtime.version,
            list(self.input_shape), self.input_dtype, list(self.output_shape), self.output_dtype,
        )

    @property
    def window(self) -> int:
        return self.input_shape[1]

    @property
    def input_dim(self) -> int:
        return self.input_shape[2]

    @property
    def num_outputs(self) -> int:
        return int(np.prod(self.output_shape[1:]))

    @property
    def quantized(self) -> bool:
        return self._in_quantized

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        if not self._in_quantized:
            return x.astype(self.input_dtype, copy=False)
        info = np.iinfo(self.input_dtype)
        q = np.round(x / self._in_scale + self._in_zero)
        return np.clip(q, info.min, info.max).astype(self.input_dtype)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities (K,) float32 for one window x of shape (T, D)."""
        interp = self._interp
        interp.set_tensor(self._in_index, self._quantize(x)[None])
        interp.invoke()
        y = interp.get_tensor(self._out_index).reshape(-1)
        if self._out_quantized:
            return ((y.astype(np.float32) - self._out_zero) * self._out_scale).astype(np.float32)
        return y.astype(np.float32, copy=False)

    def warm_up(self) -> None:
        """One inference on zeros, so the first real window does not pay for lazy setup."""
        self.predict(np.zeros(self.input_shape[1:], np.float32))
