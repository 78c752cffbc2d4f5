"""The conversion report: per variant its size, latency, agreement and accuracy; as a table or JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Short names for the runtimes column of the table.
_SHORT = {"ai-edge-litert": "litert", "tflite-runtime": "tflite-rt", "tensorflow": "tf"}


@dataclass
class RuntimeResult:
    """One variant in one runtime."""

    runtime: str
    version: str = ""
    loads: bool = False
    error: str = ""
    latency_ms: float | None = None  # median of single-window runs, 1 thread
    agreement: float | None = None  # argmax agreement with Keras on this runtime
    max_prob_diff: float | None = None


@dataclass
class VariantResult:
    """One converted variant and what verification found."""

    quantize: str
    structure: str  # "loop" (WHILE op) or "unrolled"
    note: str = ""
    bytes: int = 0
    convert_seconds: float = 0.0
    ops: list[str] = field(default_factory=list)
    runtimes: dict[str, RuntimeResult] = field(default_factory=dict)
    agreement: float | None = None  # on the verification runtime
    max_prob_diff: float | None = None
    accuracy: dict[str, float | None] = field(default_factory=dict)
    spread: dict[str, int] = field(default_factory=dict)
    latency_ms: float | None = None  # on the verification runtime
    status: str = "pending"  # accepted | chosen | refused | incompatible | failed
    reason: str = ""

    @property
    def name(self) -> str:
        """'float32 (loop)' for a WHILE loop, 'int8 (unrolled)', plain 'float32' for a model without recurrence."""
        if self.structure == "unrolled":
            return f"{self.quantize} (unrolled)"
        if any(op.startswith("WHILE ") for op in self.ops) or not self.ops:
            return f"{self.quantize} ({self.structure})"
        return self.quantize

    @property
    def id(self) -> str:
        return f"{self.quantize}-{self.structure}"


@dataclass
class Report:
    """Everything `signd convert` found, for the table, `--json`, and the manifest's `extra`."""

    source: str
    source_sha256: str = ""
    saved_by: str = ""
    loader: str = ""
    loader_failures: list[str] = field(default_factory=list)
    tensorflow_version: str = ""
    frames: int = 0
    values: int = 0
    params: int = 0
    layout: str = ""
    features: str = ""
    labels: list[str] = field(default_factory=list)
    labels_assumed: bool = False
    data: list[str] = field(default_factory=list)
    windows: int = 0
    labelled_windows: int = 0
    synthetic: bool = False
    keras_accuracy: dict[str, float | None] = field(default_factory=dict)
    keras_spread: dict[str, int] = field(default_factory=dict)
    collapsed: str | None = None  # the class a collapsed model answers for (nearly) everything
    target: str = ""
    verified_on: str = ""  # runtime and version that the agreement figures come from
    variants: list[VariantResult] = field(default_factory=list)
    chosen: str | None = None
    output: str | None = None
    manifest: str | None = None
    forced: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for v, vd in zip(self.variants, d["variants"], strict=True):
            vd["name"] = v.name
        return d

    def variant(self, quantize: str) -> VariantResult | None:
        """The last variant made for `quantize` (the unrolled retry when the loop failed)."""
        found = [v for v in self.variants if v.quantize == quantize]
        return found[-1] if found else None


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def format_report(r: Report) -> str:
    """A plain-text report for a terminal."""
    lines = [
        f"model    {r.source} (saved by {r.saved_by}; opened with {r.loader})",
        f"input    {r.frames} frames x {r.values} values ({r.layout}, features {r.features}); "
        f"outputs {', '.join(r.labels)}{' (assumed: the tutorial order)' if r.labels_assumed else ''}",
    ]
    if r.synthetic:
        lines.append(f"checked  on {r.windows} synthetic windows (no --data), {r.verified_on}")
    else:
        lines.append(
            f"checked  on {r.windows} windows ({r.labelled_windows} labelled) of "
            f"{', '.join(s.rsplit('/', 1)[-1] for s in r.data)}, {r.verified_on}"
        )
        acc = " ".join(f"{k} {_num(v, '.3f')}" for k, v in r.keras_accuracy.items())
        spread = ", ".join(f"{k} {v}" for k, v in r.keras_spread.items())
        lines.append(f"keras    accuracy {acc}; predicted {spread}")
    header = f"{'variant':<20} {'size MB':>8} {'ms/window':>9} {'agreement':>9} {'max|dp|':>8} {'accuracy':>8}  {'loads in':<20} status"
    lines += ["", header, "-" * len(header)]
    for v in r.variants:
        loads = ",".join(_SHORT[k] for k in _SHORT if k in v.runtimes and v.runtimes[k].loads) or "-"
        status = v.status + (f": {v.reason}" if v.reason else "")
        lines.append(
            f"{v.name:<20} {_num(v.bytes / 1e6 if v.bytes else None, '.3f'):>8} "
            f"{_num(v.latency_ms, '.3f'):>9} {_pct(v.agreement):>9} {_num(v.max_prob_diff, '.4f'):>8} "
            f"{_num(v.accuracy.get('all'), '.3f'):>8}  {loads:<20} {status}"
        )
    lines.append("")
    for w in r.warnings:
        lines.append(f"warning: {w}")
    if r.output:
        lines.append(f"wrote    {r.output} ({r.chosen}) and {r.manifest}")
    return "\n".join(lines)
