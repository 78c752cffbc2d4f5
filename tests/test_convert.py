"""The four shared tutorial models through `signd convert`, verified on real signers.

Each conversion runs once per session (module-scoped fixtures; this module is their only
user) and the tests read its report, files and manifest. About two minutes on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from signd.convert.compat import TFLITE_RUNTIME_2_14, unsupported
from signd.convert.converter import AGREEMENT_MIN, ConversionRefused, convert_model
from signd.convert.report import Report
from signd.daemon.classifier import Classifier
from signd.daemon.errors import EX_DATAERR
from signd.daemon.tflite_file import OpUse, read_ops
from signd.models.manifest import read_manifest

from conftest import ROOT, run_signd, shared_path

TUTORIAL = ["hello", "thanks", "iloveyou"]


def _model(name: str) -> Path:
    return shared_path("models", f"{name}-trained.h5")


def _signer(name: str) -> Path:
    return shared_path("signers", f"{name}.npz")


@pytest.fixture(scope="module")
def mujster(tmp_path_factory) -> tuple[Report, Path]:
    """mujster-trained.h5, every variant, verified on the data it was trained on."""
    out = tmp_path_factory.mktemp("mujster") / "mujster.tflite"
    report = convert_model(_model("mujster"), out, labels=TUTORIAL, quantize="auto",
                           data=[_signer("mujster")], progress=False)
    return report, out


@pytest.fixture(scope="module")
def collapsed_pair(tmp_path_factory) -> dict[str, Report]:
    """The two public models that answer one class for (nearly) everything, float32."""
    data = [_signer("jonathanroddy"), _signer("kush")]
    reports = {}
    for name in ("hanh", "kratichopra"):
        out = tmp_path_factory.mktemp(name) / f"{name}.tflite"
        reports[name] = convert_model(_model(name), out, labels=TUTORIAL, data=data, progress=False)
    return reports


@pytest.fixture(scope="module")
def bradon_214(tmp_path_factory) -> tuple[Report, Path]:
    """The 30 x 258 model, every variant, for tflite-runtime 2.14."""
    out = tmp_path_factory.mktemp("bradon") / "bradon.tflite"
    report = convert_model(_model("matthewbradon"), out, labels=TUTORIAL, quantize="auto",
                           data=[_signer("matthewbradon"), _signer("kush")],
                           target="tflite-runtime-2.14", progress=False)
    return report, out


def _ops(v) -> list[OpUse]:
    return [OpUse(name, int(ver[1:]), 0) for name, ver in (op.rsplit(" ", 1) for op in v.ops)]


# ---- mujster: the Must-show figures -------------------------------------------------------------


def test_mujster_float32_agrees_and_keeps_its_accuracy(mujster):
    report, _ = mujster
    f32 = report.variant("float32")
    assert report.loader == "tf-keras load_model" and report.saved_by == "Keras 2.8.0"
    assert report.windows == 90 and report.labelled_windows == 90
    assert f32.agreement >= 0.999 and f32.max_prob_diff < 1e-3
    assert f32.accuracy == pytest.approx(report.keras_accuracy)
    assert report.collapsed is None  # it works on its author


def test_mujster_quantized_variants_show_their_agreement_and_below_99_are_refused(mujster):
    report, _ = mujster
    quantized = [report.variant(q) for q in ("float16", "dynamic", "int8")]
    assert all(v is not None and v.agreement is not None for v in quantized)
    for v in quantized:
        assert (v.status == "refused") == (v.agreement < AGREEMENT_MIN), v
        if v.status == "refused":
            assert f"agreement {100 * v.agreement:.2f}%" in v.reason
    assert any(v.status == "refused" for v in quantized)  # the relu LSTM does not survive quantization
    assert report.variant("int8").structure == "unrolled"  # the loop crashes the calibrator


def test_auto_chooses_the_smallest_variant_that_keeps_99_percent(mujster):
    report, out = mujster
    keeping = [v for v in report.variants if v.agreement is not None and v.agreement >= AGREEMENT_MIN
               and v.runtimes["ai-edge-litert"].loads]
    best = min(keeping, key=lambda v: v.bytes)
    assert report.chosen == best.name
    assert out.stat().st_size == best.bytes
    assert read_manifest(out).quantization == best.quantize


def test_every_variant_loads_where_its_op_versions_say_it_does(mujster, bradon_214):
    """The op versions read from the flatbuffer predict tflite-runtime 2.14's verdict exactly."""
    pytest.importorskip("tflite_runtime", reason="tflite-runtime is not installed (dev extra)")
    checked = 0
    for report, _ in (mujster, bradon_214):
        for v in report.variants:
            if v.ops and "tflite-runtime" in v.runtimes:
                predicted = not unsupported(_ops(v), TFLITE_RUNTIME_2_14, "tflite-runtime-2.14")
                assert predicted == v.runtimes["tflite-runtime"].loads, (v.name, v.ops, v.runtimes["tflite-runtime"])
                checked += 1
    dynamic = mujster[0].variant("dynamic")
    assert "FULLY_CONNECTED v12" in dynamic.ops and not dynamic.runtimes["tflite-runtime"].loads
    assert "version '12'" in dynamic.runtimes["tflite-runtime"].error
    assert checked >= 8


def test_manifest_travels_with_the_model(mujster):
    report, out = mujster
    m = read_manifest(out)
    assert m.labels == TUTORIAL and m.window == 30 and m.layout == "tutorial-1662" and m.features == "raw"
    assert m.source_sha256 == hashlib.sha256(_model("mujster").read_bytes()).hexdigest()
    assert m.tensorflow_version == report.tensorflow_version != ""
    assert 1 <= len(m.golden) <= 4 and m.golden[0].input.shape == (30, 1662)
    assert {r["name"] for r in m.verified_runtimes} >= {"ai-edge-litert"}
    assert m.extra["convert"]["agreement"] == report.variant(m.quantization).agreement
    assert out.with_suffix(".json").stat().st_size < 1_000_000
    clf = Classifier.load(out)
    assert clf.check_golden() <= 1e-3


def test_converted_model_runs_in_signd_run(mujster, tmp_path):
    """`signd run --model` with the manifest, and a bare .tflite with --labels."""
    _, out = mujster
    replay = str(_signer("mujster"))
    proc = run_signd("run", "--model", str(out), "--source", replay, "--fast", timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    events = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]
    assert events and {e["label"] for e in events} <= set(TUTORIAL)

    bare = tmp_path / "bare.tflite"
    shutil.copy(out, bare)
    proc = run_signd("run", "--model", str(bare), "--labels", ",".join(TUTORIAL), "--source", replay, "--fast", timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [json.loads(ln)["label"] for ln in proc.stdout.splitlines() if ln.strip()]


def test_cli_refuses_a_quantized_model_below_99_percent_and_force_writes_it(tmp_path):
    out = tmp_path / "dyn.tflite"
    args = ["convert", str(_model("mujster")), "--labels", ",".join(TUTORIAL), "--quantize", "dynamic",
            "--data", str(_signer("mujster")), "-o", str(out)]
    proc = run_signd(*args, "--json", timeout=300)
    assert proc.returncode == EX_DATAERR, proc.stderr
    report = json.loads(proc.stdout)  # the numbers are shown even when refused
    [dyn] = report["variants"]
    assert dyn["status"] == "refused" and dyn["agreement"] < AGREEMENT_MIN
    assert f"{100 * dyn['agreement']:.2f}%" in proc.stderr and "--force" in proc.stderr
    assert list(tmp_path.iterdir()) == []

    proc = run_signd(*args, "--force", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "dynamic" in proc.stdout and "--force" in proc.stderr
    m = read_manifest(out)
    assert m.quantization == "dynamic" and m.extra["convert"]["forced"] is True


# ---- the other three public models ----------------------------------------------------------------


def test_collapsed_models_are_flagged_but_convert(collapsed_pair):
    for name, report in collapsed_pair.items():
        assert report.variant("float32").agreement == 1.0, name
        assert report.collapsed is not None, (name, report.keras_spread)
        top = report.keras_spread[report.collapsed]
        assert top / report.windows >= 0.95
        assert any(w.startswith("collapsed model") for w in report.warnings)


def test_keras3_file_is_rebuilt_in_tf_keras(collapsed_pair):
    report = collapsed_pair["kratichopra"]
    assert report.saved_by == "Keras 3.4.1"
    assert report.loader == "rebuilt in tf-keras from model_config + h5py weights"
    assert "batch_shape" in report.loader_failures[0]  # why tf-keras could not open it itself
    assert collapsed_pair["hanh"].saved_by == "Keras 2.4.0"


def test_pose_hands_model_for_tflite_runtime_2_14_loads_and_runs_there(bradon_214):
    report, out = bradon_214
    assert report.layout == "pose-hands-258" and report.verified_on.startswith("tflite-runtime 2.14")
    chosen = next(v for v in report.variants if v.status == "chosen")
    assert chosen.agreement >= AGREEMENT_MIN
    assert not unsupported(read_ops(out.read_bytes()), TFLITE_RUNTIME_2_14, "tflite-runtime-2.14")
    dynamic = report.variant("dynamic")  # made loadable: dense weights per tensor
    assert "FULLY_CONNECTED v9" in dynamic.ops
    pytest.importorskip("tflite_runtime", reason="tflite-runtime is not installed (dev extra)")
    # On tflite-runtime itself, in its own process: the manifest's golden pairs and a real window.
    code = (
        "import sys, numpy as np\n"
        "from signd.daemon.classifier import Classifier\n"
        "from signd.daemon.config import ModelConfig\n"
        "from signd.daemon.layout import TUTORIAL_1662\n"
        "c = Classifier.load(sys.argv[1], ModelConfig(runtime='tflite-runtime'))\n"
        "print(c.model.runtime.name, c.model.runtime.version, c.check_golden())\n"
        "x = np.load(sys.argv[2])['X'][0].astype(np.float32)\n"
        "print(c.labels[int(np.argmax(c.predict(x, TUTORIAL_1662)))])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(out), str(_signer("kush"))],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    runtime_line, label = proc.stdout.split("\n")[:2]
    name, version, diff = runtime_line.split()
    assert name == "tflite-runtime" and version.startswith("2.14") and float(diff) <= 1e-3
    assert label in TUTORIAL


def test_a_converter_crash_becomes_an_error_message_and_the_unrolled_variant_follows(tmp_path):
    """int8 on the LSTM loop kills TF 2.17's calibrator (SIGSEGV); the run survives it."""
    out = tmp_path / "int8.tflite"
    with pytest.raises(ConversionRefused) as info:
        convert_model(_model("matthewbradon"), out, labels=TUTORIAL, quantize="int8",
                      data=[_signer("matthewbradon")], try_int8_loop=True, progress=False)
    loop, unrolled = info.value.report.variants
    assert (loop.structure, loop.status) == ("loop", "failed")
    assert "converter crashed: killed by SIG" in loop.reason
    assert unrolled.structure == "unrolled" and unrolled.agreement is not None
    assert "refused" in str(info.value) or unrolled.status != "refused"
    assert list(tmp_path.iterdir()) == []


# ---- the Python API, as training code calls it ----------------------------------------------------


def test_a_keras3_model_object_converts_through_the_python_api(tmp_path):
    out = tmp_path / "gru.tflite"
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "convert_keras3_helper.py"), str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    report = result["report"]
    assert report["loader"] == "Keras 3 load_model, rebuilt in tf-keras"
    assert report["variants"][0]["agreement"] == 1.0
    m = read_manifest(out)
    assert m.labels == ["a", "b", "c"] and m.extra["trained_by"] == "helper" and m.name == "tiny_gru"
    from signd.daemon.interpreter import TFLiteModel

    model = TFLiteModel(out, 1)
    got = np.stack([model.predict(np.asarray(x, np.float32)) for x in result["probe"]])
    np.testing.assert_allclose(got, np.asarray(result["keras_outputs"]), atol=1e-5)
