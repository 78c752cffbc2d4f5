"""Make the TFLite variants in converter child processes, retrying unrolled where the loop fails.

The first child opens the Keras file and reports its shapes; the caller answers with the
verification windows (it needs the shapes to build them), and the child saves the Keras
outputs on them before converting. A variant whose loop form fails (an exception or a dead
process) is made again with the recurrent layers unrolled, in a fresh child.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from signd.daemon.errors import DataError

from .jobs import Child, ChildFailed, run_items


@dataclass
class Spec:
    """One variant to make."""

    quantize: str
    structure: str = "loop"
    per_channel_dense: bool = True
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.quantize}-{self.structure}"


@dataclass
class Built:
    """What the converter child said about one variant."""

    spec: Spec
    path: Path
    error: str = ""
    crashed: bool = False
    bytes: int = 0
    seconds: float = 0.0
    tensorflow: dict[str, Any] = field(default_factory=dict)  # its probe in TF's own interpreter


@dataclass
class BuildResult:
    model: dict[str, Any]  # the child's `model` event: loader, shapes, versions
    reference: Path  # Keras outputs on the windows (.npy)
    windows: Path
    built: list[Built]


Windows = Callable[[dict[str, Any]], Path]


def build_variants(
    source: str,
    display: str,
    specs: list[Spec],
    make_windows: Windows,
    workdir: Path,
    representative: int = 100,
    progress: Callable[[str, bool], None] = lambda text, advance: None,
    latency_runs: int = 30,
) -> BuildResult:
    """Convert every spec; `make_windows(model_event)` saves the verification windows and returns their path.

    `progress(text, advance)` hears each step: the Keras reference, then one per variant.
    """
    state: dict[str, Any] = {"model": None, "windows": None}
    reference = workdir / "keras.npy"
    built: list[Built] = []

    def item(spec: Spec) -> dict[str, Any]:
        return {
            "id": spec.id, "quantize": spec.quantize, "structure": spec.structure,
            "per_channel_dense": spec.per_channel_dense, "path": str(workdir / f"{spec.id}.tflite"),
            "tf_outputs": str(workdir / f"{spec.id}.tensorflow.npy"),
        }

    def make_job(items: list[dict[str, Any]], first: bool) -> dict[str, Any]:
        fresh = state["windows"] is None
        return {
            "source": source, "display": display, "items": items, "await_windows": fresh,
            "windows": None if fresh else str(state["windows"]), "reference": None,
            "representative": representative, "check_tensorflow": True, "latency_runs": latency_runs,
        }

    def on_event(event: dict[str, Any], child: Child) -> None:
        kind = event["event"]
        if kind == "error":
            raise DataError(event["message"])
        if kind == "model" and state["windows"] is None:
            state["model"] = event
            state["windows"] = make_windows(event)
            child.send({"go": True, "windows": str(state["windows"]), "reference": str(reference)})
        elif kind == "reference":
            progress("converting", True)
        elif kind == "start":
            progress(f"converting {event['id']}", False)
        elif kind == "done":
            progress("", True)

    pending = list(specs)
    while pending:
        by_id = {s.id: s for s in pending}
        try:
            results = run_items("signd.convert.worker", make_job, [item(s) for s in pending], on_event, workdir)
        except ChildFailed as exc:
            raise DataError(f"{display}: the converter process failed: {exc}") from None
        retry = []
        for sid, spec in by_id.items():
            r = results.get(sid, {"error": "not converted"})
            b = Built(spec, workdir / f"{sid}.tflite", r.get("error", ""), bool(r.get("crashed")),
                      int(r.get("bytes", 0)), float(r.get("seconds", 0.0)), r.get("tensorflow") or {})
            built.append(b)
            if b.error and spec.structure == "loop":
                retry.append(Spec(spec.quantize, "unrolled", spec.per_channel_dense,
                                  f"{spec.note + '; ' if spec.note else ''}the loop failed to convert"))
        pending = retry
    if state["model"] is None:
        raise DataError(f"{display}: the converter process stopped before opening the model")
    return BuildResult(state["model"], reference, state["windows"], built)
