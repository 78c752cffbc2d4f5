"""signd.convert parts that need neither TensorFlow nor the shared data: fast, exact checks."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from signd.convert import verify
from signd.convert.compat import (
    TFLITE_RUNTIME_2_14,
    _probe_model,
    format_table,
    parse_table,
    unsupported,
)
from signd.convert.jobs import describe_exit, run_items
from signd.convert.load import _translate
from signd.convert.output import OutputError, check_output, write_model
from signd.daemon.errors import ConfigError, DataError
from signd.daemon.tflite_file import OpUse, read_ops
from signd.models.manifest import GoldenPair, Manifest, read_manifest

# ---- flatbuffer op versions and the tflite-runtime 2.14 table -------------------------------


def test_read_ops_reads_code_and_version_from_the_flatbuffer():
    ops = read_ops(_probe_model(9, 12))  # FULLY_CONNECTED v12, as dynamic range writes it
    assert [(o.name, o.version, o.count) for o in ops] == [("FULLY_CONNECTED", 12, 0)]
    ops = read_ops(_probe_model(150, 1))  # a code above 127 lives in the newer field
    assert ops[0].version == 1 and ops[0].name != "BUILTIN_150"


def test_read_ops_refuses_what_is_not_a_whole_flatbuffer():
    with pytest.raises(ValueError, match="TFL3"):
        read_ops(b"\x89HDF\r\n\x1a\n" + bytes(64))
    content = _probe_model(9, 12)
    with pytest.raises(ValueError, match="truncated"):
        read_ops(content[:12])


def test_unsupported_names_the_op_and_the_versions_the_runtime_has():
    ops = [OpUse("FULLY_CONNECTED", 12, 9), OpUse("WHILE", 1, 3), OpUse("SOFTMAX", 1, 1)]
    assert unsupported(ops, TFLITE_RUNTIME_2_14, "tflite-runtime-2.14") == [
        "FULLY_CONNECTED v12 (tflite-runtime-2.14 has v1-v10)"
    ]
    assert unsupported([OpUse("FULLY_CONNECTED", 9, 1)], TFLITE_RUNTIME_2_14, "x") == []
    assert "builtin ops only" in unsupported([OpUse("FlexTensorListReserve", 1, 1, custom=True)], {}, "x")[0]
    assert "does not have this op" in unsupported([OpUse("STABLEHLO_ADD", 1, 1)], TFLITE_RUNTIME_2_14, "x")[0]


def test_table_text_round_trips():
    assert parse_table(format_table(TFLITE_RUNTIME_2_14)) == TFLITE_RUNTIME_2_14


def test_stored_tflite_runtime_table_matches_the_installed_runtime():
    """The table is a measurement; where tflite-runtime 2.14 is installed, measure again."""
    pytest.importorskip("tflite_runtime", reason="tflite-runtime is not installed (dev extra)")
    from importlib.metadata import version

    if not version("tflite-runtime").startswith("2.14."):
        pytest.skip(f"tflite-runtime {version('tflite-runtime')} is not 2.14")
    # Its own process: never two TFLite libraries in one.
    out = subprocess.run([sys.executable, "-m", "signd.convert.compat", "tflite-runtime"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert parse_table(out) == TFLITE_RUNTIME_2_14


# ---- child processes that die ---------------------------------------------------------------

CHILD = """
import json, os, signal, sys
job = json.load(open(sys.argv[1]))
out = os.fdopen(os.dup(1), "w", buffering=1)
for item in job["items"]:
    out.write(json.dumps({"event": "start", "id": item["id"]}) + "\\n"); out.flush()
    if item["id"] == "boom":
        print("LLVM ERROR: Failed to infer result type(s).", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGABRT)
    out.write(json.dumps({"event": "done", "id": item["id"], "pid": os.getpid()}) + "\\n"); out.flush()
"""


def test_a_child_that_dies_costs_one_item_and_a_new_child_takes_the_rest(tmp_path, monkeypatch):
    (tmp_path / "dying_child.py").write_text(textwrap.dedent(CHILD))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    jobs = []

    def make_job(items, first):
        jobs.append(([it["id"] for it in items], first))
        return {"items": items}

    items = [{"id": i} for i in ("a", "boom", "c")]
    results = run_items("dying_child", make_job, items, lambda e, c: None, tmp_path)
    assert jobs == [(["a", "boom", "c"], True), (["c"], False)]
    assert results["boom"]["crashed"] is True
    assert results["boom"]["error"] == "killed by SIGABRT: LLVM ERROR: Failed to infer result type(s)."
    assert results["a"]["pid"] != results["c"]["pid"]


def test_describe_exit_names_the_signal_and_the_python_frame_that_crashed():
    stderr = """W0000 00:00:1.0 1 tf_tfl_flatbuffer_helpers.cc:395] Ignored drop_control_dependency.
Fatal Python error: Segmentation fault

Current thread 0x00007f (most recent call first):
  File "/x/tensorflow/lite/python/optimize/calibrator.py", line 152 in _feed_tensors
  File "/x/tensorflow/lite/python/optimize/calibrator.py", line 250 in calibrate
"""
    assert describe_exit(-signal.SIGSEGV, stderr) == (
        "killed by SIGSEGV: Fatal Python error: Segmentation fault in _feed_tensors (optimize/calibrator.py:152)"
    )
    assert describe_exit(1, "I0000 noise\nValueError: bad thing\n") == "exited with status 1: ValueError: bad thing"
    assert describe_exit(-9, "") == "killed by SIGKILL"


# ---- Keras 3 configs for tf-keras -----------------------------------------------------------


def test_keras3_config_is_translated_for_tf_keras():
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
    k3 = {
        "module": "keras", "class_name": "Functional", "registered_name": None,
        "config": {"name": "f", "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": "in",
             "config": {"batch_shape": [None, 30, 258], "dtype": "float32", "name": "in", "optional": False},
             "inbound_nodes": []},
            {"module": "keras.layers", "class_name": "LSTM", "name": "lstm", "build_config": {"input_shape": [None, 30, 258]},
             "config": {"name": "lstm", "dtype": policy, "units": 8, "seed": None,
                        "kernel_initializer": {"class_name": "OrthogonalInitializer", "config": {}}},
             "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                                          "config": {"shape": [None, 30, 258], "keras_history": ["in", 0, 0]}}],
                                "kwargs": {"training": False}}]},
        ]},
    }
    tfk = _translate(k3)
    inp, lstm = tfk["config"]["layers"]
    assert "module" not in tfk and "registered_name" not in inp
    assert inp["config"] == {"batch_input_shape": [None, 30, 258], "dtype": "float32", "name": "in"}
    assert lstm["config"] == {"name": "lstm", "dtype": "float32", "units": 8}
    assert lstm["inbound_nodes"] == [[["in", 0, 0, {}]]]
    assert "build_config" not in lstm


# ---- verification numbers ---------------------------------------------------------------------


def test_agreement_accuracy_spread_and_collapse():
    ref = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.4, 0.5, 0.1]], np.float32)
    out = np.array([[0.8, 0.2, 0.0], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]], np.float32)
    agree, diff = verify.agreement(ref, out)
    assert agree == 0.75 and diff == pytest.approx(0.2)
    y = np.array([0, 1, 2, -1])
    assert verify.accuracy(out, y, ["a", "b", "c"]) == {"a": 1.0, "b": 1.0, "c": 1.0, "all": 1.0}
    assert verify.accuracy(ref, np.array([1, 1, -1, -1]), ["a", "b", "c"]) == {"a": None, "b": 0.5, "c": None, "all": 0.5}
    assert verify.spread(out, ["a", "b", "c"]) == {"a": 2, "b": 1, "c": 1}
    assert verify.collapsed({"a": 95, "b": 5, "c": 0}) == "a"
    assert verify.collapsed({"a": 94, "b": 6, "c": 0}) is None
    assert verify.collapsed({"a": 0, "b": 0}) is None


def test_golden_windows_cover_each_class_first():
    vset = verify.VerificationSet(np.zeros((10, 2, 3), np.float32), np.array([2, 2, 0, 0, 1, 1, -1, -1, -1, -1]))
    picks = verify.golden_indexes(vset, 3, count=4)
    assert picks[:3] == [2, 4, 0] and len(picks) == 4 and len(set(picks)) == 4


def _npz(path: Path, values: int, labels: list[str], per_class: int = 2, frames: int = 30) -> Path:
    n = per_class * len(labels)
    rng = np.random.default_rng(1)
    np.savez(path, X=rng.random((n, frames, values)).astype(np.float16), y=np.repeat(np.arange(len(labels)), per_class).astype(np.int16),
             labels=np.array(labels))
    return path


def test_verification_windows_map_labels_by_name_and_drop_the_face(tmp_path):
    rec = _npz(tmp_path / "s.npz", 1662, ["hello", "i love you", "seeyoulater"])
    vset = verify.from_recordings([rec], ["hello", "thanks", "iloveyou"], "pose-hands-258", "raw", 30)
    assert vset.X.shape == (6, 30, 258) and vset.X.dtype == np.float32
    assert vset.y.tolist() == [0, 0, 2, 2, -1, -1] and vset.labelled == 4
    raw = np.load(rec)["X"].astype(np.float32)
    np.testing.assert_array_equal(vset.X[0], raw[0][:, np.r_[0:132, 1536:1662]])


def test_verification_windows_that_do_not_fit_name_the_file(tmp_path):
    rec258 = _npz(tmp_path / "pose.npz", 258, ["hello"])
    with pytest.raises(DataError, match="pose.npz: pose-hands-258 frames cannot feed a tutorial-1662 model"):
        verify.from_recordings([rec258], ["hello"], "tutorial-1662", "raw", 30)
    rec20 = _npz(tmp_path / "short.npz", 258, ["hello"], frames=20)
    with pytest.raises(DataError, match="short.npz: sequences have 20 frames; the model takes 30"):
        verify.from_recordings([rec20], ["hello"], "pose-hands-258", "raw", 30)


def test_verification_windows_from_an_mp_data_folder(tmp_path):
    root = tmp_path / "MP_Data"
    rng = np.random.default_rng(2)
    for action in ("hello", "thanks"):
        for seq in range(2):
            d = root / action / str(seq)
            d.mkdir(parents=True)
            for f in range(30):
                np.save(d / f"{f}.npy", rng.random(258).astype(np.float32))
    vset = verify.from_recordings([root], ["hello", "thanks", "iloveyou"], "pose-hands-258", "raw", 30)
    assert vset.X.shape == (4, 30, 258) and vset.y.tolist() == [0, 0, 1, 1]


def test_synthetic_windows_are_seeded_and_unlabelled():
    a, b = verify.synthetic(30, 258), verify.synthetic(30, 258)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.synthetic and a.labelled == 0 and not a.X[0].any()


# ---- manifest and output ------------------------------------------------------------------------


def test_manifest_round_trip_with_compressed_golden_inputs(tmp_path):
    x = np.random.default_rng(0).random((30, 1662)).astype(np.float32)
    m = Manifest(labels=["a", "b"], golden=[GoldenPair(x, np.array([0.25, 0.75], np.float32))],
                 verified_runtimes=[{"name": "ai-edge-litert", "version": "2.3.0", "agreement": 1.0}])
    model = tmp_path / "m.tflite"
    write_model(model, b"\x1c\x00\x00\x00TFL3", m)
    d = json.loads((tmp_path / "m.json").read_text())
    assert "input_f32_zlib_b64" in d["golden"][0]
    back = read_manifest(model)
    np.testing.assert_array_equal(back.golden[0].input, x)
    assert back.verified_runtimes == m.verified_runtimes


def test_manifest_reads_uncompressed_golden_inputs_of_older_files(tmp_path):
    import base64

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    d = Manifest(labels=["a"]).to_dict()
    d["golden"] = [{"shape": [2, 3], "input_f32_b64": base64.b64encode(x.tobytes()).decode(), "output": [1.0]}]
    (tmp_path / "m.json").write_text(json.dumps(d))
    np.testing.assert_array_equal(read_manifest(tmp_path / "m.tflite").golden[0].input, x)
    d["golden"][0] = {"shape": [2, 3], "input_f32_zlib_b64": base64.b64encode(b"not zlib").decode(), "output": [1.0]}
    (tmp_path / "m.json").write_text(json.dumps(d))
    with pytest.raises(DataError, match="golden"):
        read_manifest(tmp_path / "m.tflite")


def test_write_model_leaves_no_temporary_files_and_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_model(tmp_path / "m.tflite", b"x" * 16, Manifest(labels=["a"]))
    finally:
        os.umask(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.tflite"]
    assert stat.S_IMODE((tmp_path / "m.tflite").stat().st_mode) == 0o644


def test_check_output_refuses_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match=r"must end in \.tflite"):
        check_output(tmp_path / "m.json")
    with pytest.raises(OutputError, match="output folder does not exist"):
        check_output(tmp_path / "missing" / "m.tflite")
    (tmp_path / "taken.tflite").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        check_output(tmp_path / "taken.tflite")
    with pytest.raises(OutputError, match="not writable"):
        check_output("/proc/m.tflite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.tflite"]


def test_cli_choices_match_the_library():
    """The command module keeps its own copies so that `signd --help` never imports signd.convert."""
    from signd.convert.compat import TARGETS
    from signd.convert.converter import QUANTIZE_CHOICES
    from signd.daemon.commands import convert as cli

    assert cli.QUANTIZE == QUANTIZE_CHOICES
    assert tuple(TARGETS) == cli.TARGETS
