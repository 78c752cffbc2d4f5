"""The interpreter wrapper and the classifier: runtime choice, int8 scaling, shape checks and
every way a model file can be wrong."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from signd.daemon.classifier import Classifier
from signd.daemon.config import ModelConfig
from signd.daemon.errors import DataError, InputError
from signd.daemon.interpreter import TFLiteModel, pick_runtime
from signd.daemon.layout import POSE_HANDS_258, TUTORIAL_1662
from signd.models.manifest import manifest_path, read_manifest, write_manifest

from modelkit import train_tflite


def test_runtime_order_prefers_ai_edge_litert():
    assert pick_runtime().name == "ai-edge-litert"


def test_classifier_recognises_its_training_data(synthetic_model, synthetic_rec):
    c = Classifier.load(synthetic_model)
    assert c.labels == synthetic_rec.labels and c.layout == POSE_HANDS_258
    pred = [int(np.argmax(c.predict(x, POSE_HANDS_258))) for x in synthetic_rec.X]
    assert np.mean(np.array(pred) == synthetic_rec.y) == 1.0


def test_1662_frames_feed_a_258_model(synthetic_model, synthetic_rec):
    c = Classifier.load(synthetic_model)
    x258 = synthetic_rec.X[0]
    x1662 = np.zeros((30, 1662), np.float32)
    x1662[:, 0:132] = x258[:, 0:132]
    x1662[:, 1536:1662] = x258[:, 132:258]
    np.testing.assert_array_equal(c.predict(x1662, TUTORIAL_1662), c.predict(x258, POSE_HANDS_258))
    assert Classifier.load(synthetic_model).accepts(POSE_HANDS_258) is not False


def test_int8_scales_are_applied(tmp_path, synthetic_rec, synthetic_model):
    q = train_tflite(synthetic_rec, tmp_path / "q.tflite", epochs=60, quantize="int8")
    qm, fm = TFLiteModel(q, 1), TFLiteModel(synthetic_model, 1)
    assert qm.quantized and qm.input_dtype == np.int8
    for x in synthetic_rec.X[::5]:
        p, f = qm.predict(x), fm.predict(x)
        assert p.dtype == np.float32 and abs(p.sum() - 1) < 0.05
        assert np.argmax(p) == np.argmax(f)
        assert np.max(np.abs(p - f)) < 0.1


@pytest.mark.parametrize("threads", [1, 2])
def test_num_threads(synthetic_model, threads):
    m = TFLiteModel(synthetic_model, num_threads=threads)
    assert m.num_threads == threads and m.predict(np.zeros((30, 258), np.float32)).shape == (3,)


def test_tensorflow_runtime_gives_the_same_answers(synthetic_model, synthetic_rec):
    a = TFLiteModel(synthetic_model, 1, runtime="ai-edge-litert")
    b = TFLiteModel(synthetic_model, 1, runtime="tensorflow")
    assert b.runtime.name == "tensorflow"
    np.testing.assert_allclose(a.predict(synthetic_rec.X[0]), b.predict(synthetic_rec.X[0]), atol=1e-5)


def test_tflite_runtime_fallback_in_its_own_process(synthetic_model):
    pytest.importorskip("tflite_runtime")
    code = (
        "import json, numpy as np\n"
        "from signd.daemon.interpreter import TFLiteModel\n"
        f"m = TFLiteModel({str(synthetic_model)!r}, 1, runtime='tflite-runtime')\n"
        "print(json.dumps([m.runtime.name, m.predict(np.zeros((30, 258), np.float32)).tolist()]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    name, probs = json.loads(out.stdout.strip().splitlines()[-1])
    assert name == "tflite-runtime" and len(probs) == 3


def test_missing_model(tmp_path):
    with pytest.raises(InputError, match="model not found"):
        TFLiteModel(tmp_path / "none.tflite", 1)


def test_not_a_tflite_model(tmp_path):
    p = tmp_path / "action.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(DataError, match=r"action\.h5: not a TFLite model"):
        TFLiteModel(p, 1)


@pytest.mark.parametrize("runtime", ["ai-edge-litert", "tensorflow"])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.99])
def test_truncated_model_is_an_error_not_a_crash(tmp_path, synthetic_model, runtime, keep):
    data = synthetic_model.read_bytes()
    p = tmp_path / "cut.tflite"
    p.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataError, match=r"cut\.tflite: .*truncated"):
        TFLiteModel(p, 1, runtime=runtime)


def test_label_count_must_match_outputs(tmp_path, synthetic_model):
    p = tmp_path / "m.tflite"
    shutil.copy(synthetic_model, p)
    with pytest.raises(DataError, match="2 labels .* 3 outputs"):
        Classifier.load(p, ModelConfig(labels=("a", "b")))


def test_bare_model_needs_labels(tmp_path, synthetic_model):
    p = tmp_path / "bare.tflite"
    shutil.copy(synthetic_model, p)
    with pytest.raises(InputError, match="--labels"):
        Classifier.load(p)
    c = Classifier.load(p, ModelConfig(labels=("hello", "iloveyou", "thanks")))
    assert c.layout == POSE_HANDS_258  # inferred from the input shape


def test_input_shape_must_match_the_features(tmp_path, synthetic_model):
    p = tmp_path / "m.tflite"
    shutil.copy(synthetic_model, p)
    m = read_manifest(synthetic_model)
    m.layout = "tutorial-1662"
    write_manifest(p, m)
    with pytest.raises(DataError, match=r"input shape \[1, 30, 258\] does not match the features \[1, 30, 1662\]"):
        Classifier.load(p)


def test_malformed_manifest(tmp_path, synthetic_model):
    p = tmp_path / "m.tflite"
    shutil.copy(synthetic_model, p)
    manifest_path(p).write_text("{not json")
    with pytest.raises(DataError, match=r"m\.json: not a readable JSON manifest"):
        Classifier.load(p)


def test_golden_check(tmp_path, synthetic_model, synthetic_rec):
    from signd.models.manifest import GoldenPair

    p = tmp_path / "g.tflite"
    shutil.copy(synthetic_model, p)
    m = read_manifest(synthetic_model)
    x = synthetic_rec.X[3]
    good = TFLiteModel(synthetic_model, 1).predict(x)
    m.golden = [GoldenPair(x, good)]
    write_manifest(p, m)
    assert Classifier.load(p).check_golden() < 1e-5
    m.golden = [GoldenPair(x, good[::-1].copy())]
    write_manifest(p, m)
    with pytest.raises(DataError, match="golden input 0"):
        Classifier.load(p).check_golden()
