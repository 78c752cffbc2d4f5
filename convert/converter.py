"""`convert_model`: a Keras model in, a verified TFLite model and its manifest out.

The steps, each in the module named for it: open the Keras file and make the variants in
converter child processes (`variants`, `worker`); read their op versions (`signd.daemon.tflite_file`) and
check them against the target (`compat`); load each in every installed runtime and run the
verification windows (`runtimes`, `probe`); compare with Keras (`verify`); choose, and write
the model and its manifest whole (`output`). This process never imports TensorFlow unless
the caller hands over a model object.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signd.daemon.classifier import GOLDEN_TOLERANCE
from signd.daemon.errors import ConfigError, DataError
from signd.daemon.layout import layout_for_size, layout_named
from signd.daemon.tflite_file import read_ops
from signd.models.features import FEATURE_SETS, feature_dim
from signd.models.manifest import GoldenPair, Manifest, RuntimeHints, file_sha256

from . import verify
from .compat import TARGETS, unsupported
from .load import sniff
from .output import check_output, write_model
from .report import Report, RuntimeResult, VariantResult
from .runtimes import installed_runtimes, probe_runtime
from .tflite import QUANTIZATIONS
from .variants import Spec, build_variants

log = logging.getLogger(__name__)

AGREEMENT_MIN = 0.99
QUANTIZE_CHOICES = (*QUANTIZATIONS, "auto")
TUTORIAL_LABELS = ["hello", "thanks", "iloveyou"]
INT8_CALIBRATION_WINDOWS = 100
# Golden inputs travel in the manifest: up to 4, fewer for wide windows (a tutorial window is
# 195 KB of float32), so a manifest stays a few hundred KB at most.
GOLDEN_MAX = 4
GOLDEN_BUDGET_BYTES = 400_000


class ConversionRefused(DataError):
    """No variant may be written (agreement too low, or none loads on the target); `.report` says why."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


def _save_model_object(model: Any, workdir: Path) -> tuple[Path, str]:
    """A Keras model object saved where the converter child can open it."""
    module = type(model).__module__.split(".")[0]
    if module == "tf_keras":
        path = workdir / "model.h5"
    elif module == "keras":
        path = workdir / "model.keras"
    else:
        raise ConfigError(f"not a Keras model or a path to one: {type(model).__name__}")
    model.save(path)
    return path, f"<{type(model).__name__} {getattr(model, 'name', '')} from {module}>"


def _plan(quantize: str, target: str, try_int8_loop: bool) -> list[Spec]:
    specs = []
    for q in QUANTIZATIONS if quantize == "auto" else (quantize,):
        spec = Spec(q)
        if q == "int8" and not try_int8_loop:
            # TF 2.17's calibrator segfaults on the WHILE loop of a relu LSTM (a known bug).
            spec = Spec(q, "unrolled", note="the int8 calibrator crashes on loops")
        if q == "dynamic" and TARGETS[target].ops is not None:
            spec.per_channel_dense = False
            spec.note = "dense weights quantized per tensor (FULLY_CONNECTED v9)"
        specs.append(spec)
    return specs


def _check_installed() -> None:
    import importlib.util

    missing = [m for m in ("tensorflow", "tf_keras", "h5py") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"signd convert needs {', '.join(missing)}: install the convert extra on a PC, "
            "pip install 'signd[convert]' (the Pi only needs the .tflite and its .json)"
        )


def _check_args(quantize: str, target: str, labels: Sequence[str] | None, features: str, data: Sequence[Any]) -> None:
    if quantize not in QUANTIZE_CHOICES:
        raise ConfigError(f"unknown --quantize {quantize!r} (known: {', '.join(QUANTIZE_CHOICES)})")
    if target not in TARGETS:
        raise ConfigError(f"unknown --target {target!r} (known: {', '.join(TARGETS)})")
    if features not in FEATURE_SETS:
        raise ConfigError(f"unknown --features {features!r} (known: {', '.join(FEATURE_SETS)})")
    if labels is not None:
        if not labels or any(not str(x).strip() for x in labels):
            raise ConfigError(f"--labels must be non-empty names separated by commas, got {','.join(labels)!r}")
        if len(set(labels)) != len(labels):
            raise ConfigError(f"--labels names a class twice: {','.join(labels)}")
    if quantize in ("int8", "auto") and not data:
        raise ConfigError(
            f"--quantize {quantize} needs --data: int8 calibrates on real windows, and auto can "
            "only judge a quantized variant on them"
        )


class _Progress:
    def __init__(self, enabled: bool, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="convert", unit="step", disable=not enabled, file=sys.stderr)

    def __call__(self, text: str, advance: bool) -> None:
        if text:
            self.bar.set_description(text)
        if advance:
            self.bar.update(1)

    def close(self) -> None:
        self.bar.set_description("convert")
        self.bar.n = self.bar.total  # retries of unrolled variants add steps beyond the plan
        self.bar.close()


def convert_model(
    model: str | os.PathLike[str] | Any,
    out: str | os.PathLike[str],
    labels: Sequence[str] | None = None,
    quantize: str = "float32",
    data: Sequence[str | os.PathLike[str]] = (),
    target: str = "ai-edge-litert",
    force: bool = False,
    layout: str | None = None,
    features: str = "raw",
    name: str = "",
    extra: dict[str, Any] | None = None,
    hints: RuntimeHints | None = None,
    progress: bool | None = None,
    try_int8_loop: bool = False,
    latency_runs: int = 50,
) -> Report:
    """Convert a Keras model (a `.h5`/`.keras` path, or a tf-keras / Keras 3 model object).

    Writes `out` (.tflite) and `out` with .json (the manifest) only when the chosen variant
    agrees with Keras on >= 99% of the verification windows (or `force`) and loads on
    `target`; raises ConversionRefused (with `.report`) otherwise. See docs/convert.md.
    """
    _check_installed()
    _check_args(quantize, target, labels, features, data)
    labels = [str(x).strip() for x in labels] if labels is not None else None
    with tempfile.TemporaryDirectory(prefix="signd-convert-") as tmp:
        workdir = Path(tmp)
        if isinstance(model, (str, os.PathLike)):
            source, display = Path(model), str(model)
            out_path = check_output(out, source)
            sniff(source)
            name = name or source.stem
        else:
            out_path = check_output(out)
            source, display = _save_model_object(model, workdir)
            name = name or getattr(model, "name", "") or out_path.stem
        report = Report(source=display, source_sha256=file_sha256(source), target=target, forced=force,
                        features=features, data=[str(d) for d in data])
        specs = _plan(quantize, target, try_int8_loop)
        runtimes = installed_runtimes()
        bar = _Progress(sys.stderr.isatty() if progress is None else progress, 1 + len(specs) + len(runtimes))
        try:
            checked = _make_variants_and_check(report, source, display, specs, labels, layout, data,
                                               runtimes, workdir, bar, latency_runs)
        finally:
            bar.close()
        chosen = _choose(report, quantize, force)
        _write(report, chosen, checked, out_path, name, extra, hints)
    return report


@dataclass
class _Checked:
    """What the checks leave for writing: the windows, the files, and their outputs per runtime."""

    vset: verify.VerificationSet
    paths: dict[str, Path]  # variant id -> .tflite
    outputs: dict[str, dict[str, Path]]  # variant id -> runtime -> outputs on the windows (.npy)
    verifier: str = ""  # the runtime whose outputs decide


def _make_variants_and_check(
    report: Report, source: Path, display: str, specs: list[Spec], labels: list[str] | None,
    layout: str | None, data: Sequence[Any], runtimes: list[str], workdir: Path, bar: _Progress,
    latency_runs: int,
) -> _Checked:
    holder: dict[str, verify.VerificationSet] = {}

    def make_windows(model: dict[str, Any]) -> Path:
        _describe_model(report, model, labels, layout, display)
        if data:
            vset = verify.from_recordings(list(data), report.labels, report.layout, report.features, report.frames)
        else:
            vset = verify.synthetic(report.frames, report.values)
        holder["vset"] = vset
        path = workdir / "windows.npy"
        np.save(path, vset.X)
        return path

    bar("opening the model", False)
    built = build_variants(str(source), display, specs, make_windows, workdir,
                           INT8_CALIBRATION_WINDOWS, bar, latency_runs)
    vset = holder["vset"]
    report.windows, report.labelled_windows, report.synthetic = len(vset.X), vset.labelled, vset.synthetic
    reference = np.load(built.reference)
    report.keras_accuracy = verify.accuracy(reference, vset.y, report.labels)
    report.keras_spread = verify.spread(reference, report.labels)
    if not vset.synthetic:
        report.collapsed = verify.collapsed(report.keras_spread)
    if report.collapsed:
        share = report.keras_spread[report.collapsed] / max(1, report.windows)
        report.warnings.append(
            f"collapsed model: Keras itself answers {report.collapsed!r} for {100 * share:.1f}% of "
            f"{report.windows} windows; the conversion can be perfect and the model still useless"
        )
    checked = _Checked(vset, {}, {})
    variants: dict[str, VariantResult] = {}
    for b in built.built:
        v = VariantResult(b.spec.quantize, b.spec.structure, b.spec.note, b.bytes, round(b.seconds, 2))
        report.variants.append(v)
        if b.error:
            v.status = "failed"
            v.reason = f"converter {'crashed' if b.crashed else 'failed'}: {b.error}"
            continue
        v.ops = [str(op) for op in read_ops(b.path.read_bytes())]
        variants[v.id] = v
        checked.paths[v.id] = b.path
        checked.outputs[v.id] = {}
        if b.tensorflow:
            t = b.tensorflow
            v.runtimes["tensorflow"] = RuntimeResult(
                "tensorflow", t.get("version", ""), bool(t.get("loads")), t.get("error", ""), t.get("latency_ms"))
            if t.get("loads"):
                checked.outputs[v.id]["tensorflow"] = Path(t["outputs"])
    for runtime in runtimes:
        bar(f"loading in {runtime}", False)
        results, outs = probe_runtime(runtime, checked.paths, built.windows, workdir, latency_runs)
        for vid, rr in results.items():
            variants[vid].runtimes[runtime] = rr
            if vid in outs:
                checked.outputs[vid][runtime] = outs[vid]
        bar("", True)
    for vid, per_runtime in checked.outputs.items():
        for runtime, path in per_runtime.items():
            rr = variants[vid].runtimes[runtime]
            rr.agreement, rr.max_prob_diff = verify.agreement(reference, np.load(path))
    _judge(report, checked, variants)
    return checked


def _describe_model(report: Report, model: dict[str, Any], labels: list[str] | None,
                    layout: str | None, display: str) -> None:
    report.loader, report.saved_by = model["loader"], model["saved_by"]
    report.loader_failures = model["failures"]
    report.tensorflow_version = model["tensorflow"]
    report.frames, report.values, report.params = model["frames"], model["values"], model["params"]
    outputs = model["outputs"]
    if labels is None:
        if outputs != len(TUTORIAL_LABELS):
            raise ConfigError(f"{display}: the model has {outputs} outputs; pass --labels with {outputs} names in output order")
        labels, report.labels_assumed = list(TUTORIAL_LABELS), True
        report.warnings.append("no --labels: assumed the tutorial's output order hello,thanks,iloveyou")
    if len(labels) != outputs:
        raise ConfigError(f"{display}: {len(labels)} labels ({','.join(labels)}) but the model has {outputs} outputs")
    report.labels = list(labels)
    if layout is None:
        guessed = layout_for_size(report.values) if report.features == "raw" else None
        if guessed is None:
            raise ConfigError(
                f"{display}: input has {report.values} values per frame; pass --layout and --features "
                "(raw input must be 1662 tutorial or 258 pose + hands keypoints)"
            )
        layout = guessed.name
    try:
        layout_named(layout)
    except KeyError as exc:
        raise ConfigError(str(exc).strip("'\"")) from None
    want = feature_dim(layout, report.features)
    if want != report.values:
        raise DataError(
            f"{display}: input has {report.values} values per frame, but {layout} keypoints with "
            f"features {report.features!r} make {want}"
        )
    report.layout = layout


def _judge(report: Report, checked: _Checked, variants: dict[str, VariantResult]) -> None:
    target = TARGETS[report.target]
    verifier = "ai-edge-litert"
    if any(
        target.runtime in v.runtimes and v.runtimes[target.runtime].version.startswith(target.version_prefix)
        for v in variants.values()
    ):
        verifier = target.runtime
    elif target.runtime != verifier:
        report.warnings.append(
            f"{report.target} is not installed here: its op versions were checked from the file, "
            "and agreement was measured on ai-edge-litert"
        )
    checked.verifier = verifier
    versions = {v.runtimes[verifier].version for v in variants.values() if verifier in v.runtimes}
    report.verified_on = f"{verifier} {' '.join(sorted(versions))}".strip()
    for vid, v in variants.items():
        rr = v.runtimes.get(verifier)
        ops = read_ops(checked.paths[vid].read_bytes())
        missing = unsupported(ops, target.ops, report.target) if target.ops is not None else []
        if missing:
            v.status, v.reason = "incompatible", f"{report.target} lacks {'; '.join(missing)}"
            continue
        if rr is None or not rr.loads:
            v.status, v.reason = "incompatible", (rr.error if rr else f"{verifier} is not installed")
            continue
        v.agreement, v.max_prob_diff, v.latency_ms = rr.agreement, rr.max_prob_diff, rr.latency_ms
        out = np.load(checked.outputs[vid][verifier])
        v.accuracy = verify.accuracy(out, checked.vset.y, report.labels)
        v.spread = verify.spread(out, report.labels)
        if v.agreement is not None and v.agreement < AGREEMENT_MIN:
            v.status = "refused"
            v.reason = f"agreement {100 * v.agreement:.2f}% < {100 * AGREEMENT_MIN:.0f}% on {report.windows} windows"
        elif checked.vset.synthetic and v.quantize != "float32":
            v.status = "refused"
            v.reason = "quantized, and checked on synthetic windows only: pass --data"
        else:
            v.status = "accepted"


def _choose(report: Report, quantize: str, force: bool) -> VariantResult:
    if quantize == "auto":
        accepted = [v for v in report.variants if v.status == "accepted"]
        if not accepted:
            raise ConversionRefused(
                f"{report.source}: no variant agrees with Keras on >= {100 * AGREEMENT_MIN:.0f}% of "
                f"the windows and loads on {report.target}", report)
        chosen = min(accepted, key=lambda v: v.bytes)
    else:
        chosen = report.variant(quantize)
        if chosen is None or chosen.status in ("failed", "incompatible"):
            why = chosen.reason if chosen else "not made"
            raise ConversionRefused(f"{report.source}: {quantize} variant: {why}", report)
        if chosen.status == "refused":
            if not force:
                raise ConversionRefused(
                    f"{report.source}: {quantize} refused: {chosen.reason} (see the table; --force writes it anyway)",
                    report)
            report.warnings.append(f"--force: writing {chosen.name} despite {chosen.reason}")
    chosen.status = "chosen"
    report.chosen = chosen.name
    return chosen


def _write(report: Report, chosen: VariantResult, checked: _Checked, out_path: Path, name: str,
           extra: dict[str, Any] | None, hints: RuntimeHints | None) -> None:
    vset, outputs = checked.vset, checked.outputs[chosen.id]
    count = max(1, min(GOLDEN_MAX, GOLDEN_BUDGET_BYTES // max(1, vset.X[0].nbytes)))
    golden_idx = verify.golden_indexes(vset, len(report.labels), count)
    golden_out = np.load(outputs[checked.verifier])[golden_idx]
    golden = [GoldenPair(vset.X[i].copy(), golden_out[k].copy()) for k, i in enumerate(golden_idx)]
    verified = []
    for runtime, path in outputs.items():
        diff = float(np.max(np.abs(np.load(path)[golden_idx] - golden_out)))
        rr = chosen.runtimes[runtime]
        if diff <= GOLDEN_TOLERANCE:
            verified.append({"name": runtime, "version": rr.version, "golden_max_diff": diff,
                             "agreement": rr.agreement, "latency_ms": rr.latency_ms})
        else:
            report.warnings.append(
                f"{runtime} {rr.version} loads {chosen.name} but its golden outputs differ by {diff:.3g} "
                f"(> {GOLDEN_TOLERANCE}): not listed as verified"
            )
    manifest = Manifest(
        labels=report.labels, window=report.frames, layout=report.layout, features=report.features,
        name=name, quantization=chosen.quantize, source_sha256=report.source_sha256,
        tensorflow_version=report.tensorflow_version, verified_runtimes=verified, golden=golden,
        runtime=hints or RuntimeHints(),
        extra={
            "convert": {
                "source": report.source, "saved_by": report.saved_by, "loader": report.loader,
                "structure": chosen.structure, "target": report.target, "verified_on": report.verified_on,
                "agreement": chosen.agreement, "max_prob_diff": chosen.max_prob_diff,
                "accuracy": chosen.accuracy, "windows": report.windows,
                "data": [Path(d).name for d in report.data], "synthetic": report.synthetic,
                "forced": bool(chosen.reason), "collapsed": report.collapsed,
            },
            **(extra or {}),
        },
    )
    report.manifest = str(write_model(out_path, checked.paths[chosen.id].read_bytes(), manifest))
    report.output = str(out_path)
