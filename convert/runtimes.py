"""Load every variant in every installed Pi runtime, each runtime in its own child process."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from .jobs import Child, ChildFailed, run_items
from .report import RuntimeResult

# The runtimes a Pi runs signd with; TensorFlow's own interpreter is checked in the converter.
PI_RUNTIMES = {"ai-edge-litert": "ai_edge_litert", "tflite-runtime": "tflite_runtime"}


def installed_runtimes() -> list[str]:
    """The Pi runtimes importable here (found without loading their libraries)."""
    return [name for name, module in PI_RUNTIMES.items() if importlib.util.find_spec(module) is not None]


def probe_runtime(
    runtime: str, models: dict[str, Path], windows: Path, workdir: Path, latency_runs: int = 50
) -> tuple[dict[str, RuntimeResult], dict[str, Path]]:
    """Per model id: how it did in `runtime`, and where its outputs on the windows are."""
    info: dict[str, Any] = {"version": ""}
    items = [
        {"id": mid, "path": str(path), "outputs": str(workdir / f"{mid}.{runtime}.npy")}
        for mid, path in models.items()
    ]

    def make_job(remaining: list[dict[str, Any]], first: bool) -> dict[str, Any]:
        return {"runtime": runtime, "windows": str(windows), "items": remaining, "latency_runs": latency_runs}

    def on_event(event: dict[str, Any], child: Child) -> None:
        if event["event"] == "runtime":
            info["version"] = event["version"]
        elif event["event"] == "error":
            raise ChildFailed(event["message"])

    results: dict[str, RuntimeResult] = {}
    outputs: dict[str, Path] = {}
    try:
        done = run_items("signd.convert.probe", make_job, items, on_event, workdir)
    except ChildFailed as exc:
        done = {it["id"]: {"loads": False, "error": f"{runtime} failed: {exc}"} for it in items}
    for it in items:
        r = done.get(it["id"], {"loads": False, "error": "not probed"})
        if r.get("crashed"):
            r = {"loads": False, "error": f"{runtime} crashed on it ({r['error']})"}
        results[it["id"]] = RuntimeResult(
            runtime, info["version"], bool(r.get("loads")), r.get("error", ""), r.get("latency_ms")
        )
        if r.get("loads"):
            outputs[it["id"]] = Path(r["outputs"])
    return results, outputs
