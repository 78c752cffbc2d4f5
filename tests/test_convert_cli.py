"""`signd convert` as a user meets it, on small Keras files made here (no shared data needed).

Bad input must give one line naming the culprit, a non-zero exit, and nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from convert_files import rank2_model, tiny_sequence_model

from signd.daemon.errors import EX_CONFIG, EX_DATAERR, EX_NOINPUT
from signd.models.manifest import read_manifest

from conftest import run_signd

EX_CANTCREAT = 73


def _one_error_line(proc, *needles: str) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("signd convert: error: ")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def out_dir(tmp_path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_sequence_model(tmp_path_factory.mktemp("keras") / "tiny.h5")


def test_not_a_keras_file(tmp_path, out_dir):
    bogus = tmp_path / "action.h5"
    bogus.write_text("this is not a model\n")
    proc = run_signd("convert", str(bogus), "-o", str(out_dir / "m.tflite"))
    assert proc.returncode == EX_DATAERR
    _one_error_line(proc, str(bogus), "not a Keras file")
    assert list(out_dir.iterdir()) == []


def test_missing_model_file(tmp_path, out_dir):
    proc = run_signd("convert", str(tmp_path / "nope.h5"), "-o", str(out_dir / "m.tflite"))
    assert proc.returncode == EX_NOINPUT
    _one_error_line(proc, "model not found", "nope.h5")
    assert list(out_dir.iterdir()) == []


def test_wrong_input_rank(tmp_path, out_dir):
    model = rank2_model(tmp_path / "dense.h5")
    proc = run_signd("convert", str(model), "-o", str(out_dir / "m.tflite"))
    assert proc.returncode == EX_DATAERR
    _one_error_line(proc, "dense.h5", "wrong input rank", "[None, 1662]")
    assert list(out_dir.iterdir()) == []


def test_label_count_differs_from_outputs(tiny, out_dir):
    proc = run_signd("convert", str(tiny), "--labels", "hello,thanks", "-o", str(out_dir / "m.tflite"))
    assert proc.returncode == EX_CONFIG
    _one_error_line(proc, "tiny.h5", "2 labels (hello,thanks) but the model has 3 outputs")
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize(
    "output, needle",
    [("missing/m.tflite", "output folder does not exist"), ("/proc/m.tflite", "output folder is not writable")],
)
def test_output_path_not_writable(tiny, out_dir, output, needle):
    target = output if output.startswith("/") else str(out_dir / output)
    proc = run_signd("convert", str(tiny), "-o", target)
    assert proc.returncode == EX_CANTCREAT
    _one_error_line(proc, needle)
    assert list(out_dir.iterdir()) == []


def test_int8_without_data_is_refused_before_any_work(tiny, out_dir):
    proc = run_signd("convert", str(tiny), "--quantize", "int8", "-o", str(out_dir / "m.tflite"))
    assert proc.returncode == EX_CONFIG
    _one_error_line(proc, "--quantize int8 needs --data")
    assert list(out_dir.iterdir()) == []


def test_bare_model_converts_on_synthetic_windows_and_the_manifest_travels(tiny, out_dir):
    """Without ../shared: float32 is checked on synthetic windows; a quantized variant is refused there."""
    out = out_dir / "tiny.tflite"
    proc = run_signd("convert", str(tiny), "--labels", "a,b,c", "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["synthetic"] and report["chosen"] == "float32"
    [v] = report["variants"]
    assert v["agreement"] == 1.0 and v["status"] == "chosen"
    assert v["runtimes"]["ai-edge-litert"]["loads"]
    m = read_manifest(out)
    assert m.labels == ["a", "b", "c"] and m.layout == "pose-hands-258" and m.window == 30
    assert m.quantization == "float32" and m.golden and m.tensorflow_version.startswith("2.")
    assert {r["name"] for r in m.verified_runtimes} >= {"ai-edge-litert"}
    assert sorted(p.name for p in out_dir.iterdir()) == ["tiny.json", "tiny.tflite"]

    proc = run_signd("convert", str(tiny), "--labels", "a,b,c", "--quantize", "float16", "-o", str(out_dir / "f16.tflite"))
    assert proc.returncode == EX_DATAERR
    _one_error_line(proc, "float16 refused", "synthetic windows only")
    assert "float16" in proc.stdout  # the table is still shown
    assert sorted(p.name for p in out_dir.iterdir()) == ["tiny.json", "tiny.tflite"]


def test_converted_tiny_model_runs_in_the_classifier(tiny, out_dir):
    from signd.daemon.classifier import Classifier
    from signd.daemon.layout import POSE_HANDS_258

    out = out_dir / "tiny.tflite"
    assert run_signd("convert", str(tiny), "--labels", "a,b,c", "-o", str(out)).returncode == 0
    clf = Classifier.load(out)
    assert clf.check_golden() <= 1e-5
    p = clf.predict(np.zeros((30, 258), np.float32), POSE_HANDS_258)
    assert p.shape == (3,) and abs(float(p.sum()) - 1) < 1e-5


def test_target_that_cannot_load_any_variant_fails_saying_why(tmp_path, monkeypatch):
    """A dynamic-range file with per-channel dense weights (FULLY_CONNECTED v12) for tflite-runtime 2.14.

    signd makes that variant per tensor for this target; keeping the per-channel plan shows what
    happens when no variant fits: nothing written, and the op and versions named.
    """
    from signd.convert import converter

    model = tiny_sequence_model(tmp_path / "wide.h5", hidden=16)
    real_plan = converter._plan

    def per_channel_plan(quantize, target, try_int8_loop):
        specs = real_plan(quantize, target, try_int8_loop)
        for s in specs:
            s.per_channel_dense, s.note = True, ""
        return specs

    monkeypatch.setattr(converter, "_plan", per_channel_plan)
    out = tmp_path / "out" / "wide.tflite"
    out.parent.mkdir()
    with pytest.raises(converter.ConversionRefused, match=r"lacks FULLY_CONNECTED v12 \(tflite-runtime-2.14 has v1-v10\)") as info:
        converter.convert_model(model, out, labels=["a", "b", "c"], quantize="dynamic",
                                target="tflite-runtime-2.14", force=True, progress=False)
    [v] = info.value.report.variants
    assert v.status == "incompatible"
    if "tflite-runtime" in v.runtimes:  # and the runtime itself agrees
        assert not v.runtimes["tflite-runtime"].loads
    assert list(out.parent.iterdir()) == []
