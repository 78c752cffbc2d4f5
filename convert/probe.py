"""Load `.tflite` files in one TFLite runtime, run them on windows, time one window.

Run as a child process (`python -m signd.convert.probe JOB.json`), one per runtime: two TFLite
libraries in one process is asking for trouble, and a runtime that crashes on a model must
not take the conversion with it. Events go to stdout as JSON lines (see `signd.convert.jobs`).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from signd.daemon.errors import SigndError
from signd.daemon.interpreter import TFLiteModel, load_runtime

Emit = Callable[..., None]


def probe_model(
    path: str, runtime: Any, windows: np.ndarray, outputs_path: str, latency_runs: int
) -> dict[str, Any]:
    """Outputs on every window (saved to `outputs_path`) and the median single-window latency."""
    try:
        model = TFLiteModel(path, num_threads=1, runtime=runtime)
    except SigndError as exc:
        return {"loads": False, "error": str(exc).split(": ", 1)[-1]}
    outputs = np.stack([model.predict(w) for w in windows]) if len(windows) else np.zeros((0, model.num_outputs))
    np.save(outputs_path, outputs.astype(np.float32))
    x = windows[0] if len(windows) else np.zeros(model.input_shape[1:], np.float32)
    model.predict(x)
    times = []
    for _ in range(latency_runs):
        t0 = time.perf_counter()
        model.predict(x)
        times.append(time.perf_counter() - t0)
    return {"loads": True, "outputs": outputs_path, "latency_ms": statistics.median(times) * 1e3}


def event_writer() -> Emit:
    """Events on the original stdout; anything else that writes to fd 1 (C++ logs) goes to stderr."""
    import os

    stream = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def emit(**fields: Any) -> None:
        stream.write(json.dumps(fields) + "\n")
        stream.flush()

    return emit


def main(argv: list[str]) -> int:
    emit = event_writer()
    job = json.loads(Path(argv[0]).read_text())
    try:
        runtime = load_runtime(job["runtime"])
    except SigndError as exc:
        emit(event="error", message=str(exc))
        return 1
    emit(event="runtime", name=runtime.name, version=runtime.version)
    windows = np.load(job["windows"])
    for item in job["items"]:
        emit(event="start", id=item["id"])
        result = probe_model(item["path"], runtime, windows, item["outputs"], job["latency_runs"])
        emit(event="done", id=item["id"], **result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
