"""The converter's child process: open the Keras file, answer for it, convert the variants.

`python -m signd.convert.worker JOB.json`. TensorFlow's converter can abort the process
(an LLVM error on a Keras 3 graph, a SIGSEGV in the int8 calibrator on a WHILE loop), so it
never runs in the process that reports. Protocol (JSON lines on stdout, see
`signd.convert.jobs`): `model` once the file is open; then, when the job says
`await_windows`, one line on stdin names the verification windows; `reference` once the
Keras outputs on them are saved; `start` / `done` per variant. A variant that raises is
reported as `done` with an error; one that kills the process is reported by the parent.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from signd.daemon.errors import SigndError

from .load import check_shapes, load_keras, unrolled
from .probe import event_writer, probe_model
from .tflite import keras_to_tflite


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0][:300]


def keras_outputs(model: Any, windows: np.ndarray, batch: int = 64) -> np.ndarray:
    """Keras probabilities for every window; a direct call, as predict() adds nothing here."""
    outs = [np.asarray(model(windows[i : i + batch], training=False)) for i in range(0, len(windows), batch)]
    return np.concatenate(outs).astype(np.float32) if outs else np.zeros((0, model.outputs[0].shape[-1]), np.float32)


def representative(windows: np.ndarray, count: int) -> np.ndarray:
    """`count` windows spread evenly over the set, for int8 calibration."""
    if len(windows) <= count:
        return windows
    return windows[np.linspace(0, len(windows) - 1, count).round().astype(int)]


def convert_item(model: Any, item: dict[str, Any], windows: np.ndarray | None, rep_count: int) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        m = unrolled(model) if item["structure"] == "unrolled" else model
        rep = representative(windows, rep_count) if item["quantize"] == "int8" and windows is not None else None
        content = keras_to_tflite(m, item["quantize"], rep, per_channel_dense=item.get("per_channel_dense", True))
    except Exception as exc:  # the converter raises many types (ConverterError, ValueError, ...)
        return {"error": _first_line(exc)}
    Path(item["path"]).write_bytes(content)
    return {"bytes": len(content), "seconds": time.perf_counter() - started}


def main(argv: list[str]) -> int:
    emit = event_writer()
    job = json.loads(Path(argv[0]).read_text())
    import tensorflow as tf

    try:
        loaded = load_keras(job["source"])
        (frames, values), outputs = check_shapes(loaded.model, job["display"])
    except SigndError as exc:
        emit(event="error", kind=type(exc).__name__, message=str(exc))
        return 1
    emit(
        event="model", loader=loaded.loader, saved_by=loaded.saved_by, failures=loaded.failures,
        frames=frames, values=values, outputs=outputs, tensorflow=tf.__version__,
        tf_keras=version("tf-keras"), params=int(loaded.model.count_params()),
    )
    windows_path, reference_path = job.get("windows"), job.get("reference")
    if job.get("await_windows"):
        reply = json.loads(sys.stdin.readline() or "{}")
        if not reply.get("go"):
            return 0
        windows_path, reference_path = reply.get("windows"), reply.get("reference")
    windows = np.load(windows_path) if windows_path else None
    if reference_path and windows is not None:
        np.save(reference_path, keras_outputs(loaded.model, windows))
        emit(event="reference", path=reference_path)
    tf_runtime = None
    if job.get("check_tensorflow") and windows is not None:
        from signd.daemon.interpreter import load_runtime

        tf_runtime = load_runtime("tensorflow")
    for item in job["items"]:
        emit(event="start", id=item["id"])
        result = convert_item(loaded.model, item, windows, job.get("representative", 100))
        if tf_runtime is not None and "error" not in result:
            result["tensorflow"] = {
                "version": tf_runtime.version,
                **probe_model(item["path"], tf_runtime, windows, item["tf_outputs"], job.get("latency_runs", 30)),
            }
        emit(event="done", id=item["id"], **result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
