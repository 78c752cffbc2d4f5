"""The shipped model (`models/default/`): size, manifest, runtimes, people it never saw, and the
embedded demo it recognises."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from signd.daemon.classifier import Classifier
from signd.daemon.config import ModelConfig
from signd.daemon.layout import POSE_HANDS_258
from signd.models.dataset import load_signers
from signd.models.stream import StreamSettings, evaluate_stream, recognition_for

from conftest import ROOT, shared_path

DEFAULT = ROOT / "models" / "default"
MODEL = DEFAULT / "default.tflite"


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.load(MODEL, ModelConfig(runtime="ai-edge-litert"))


def test_files_and_manifest():
    assert MODEL.stat().st_size <= 100_000  # "100 KB" read either way
    m = json.loads((DEFAULT / "default.json").read_text())
    assert m["features"] == "signd-v1" and m["layout"] == "pose-hands-258" and m["window"] == 30
    assert m["labels"] == ["blank", "hello", "iloveyou", "thanks"]
    assert m["quantization"] == "float16"
    assert m["runtime"]["smoothing"]["rest_labels"] == ["blank", "rest"]
    assert m["runtime"]["window_seconds"] == 1.0
    assert m["extra"]["convert"]["agreement"] >= 0.995
    assert {r["name"] for r in m["verified_runtimes"]} >= {"ai-edge-litert"}
    card = (DEFAULT / "README.md").read_text()
    for needle in ("Leave-one-signer-out", "tutorial", "Stream", "Unknown signs", "p50"):
        assert needle in card


@pytest.mark.parametrize("runtime", ["ai-edge-litert", "tflite-runtime"])
def test_loads_and_answers_alike_on_each_runtime(runtime):
    pytest.importorskip({"ai-edge-litert": "ai_edge_litert", "tflite-runtime": "tflite_runtime"}[runtime])
    c = Classifier.load(MODEL, ModelConfig(runtime=runtime))
    assert c.check_golden() <= 1e-3


def test_recognises_a_signer_it_never_saw(clf):
    """ilkerdemir is in no training fold of the shipped model: hello and thanks must be
    recognised; seeyoulater (a sign it does not know) should mostly give no event."""
    signer = load_signers([shared_path("signers", "ilkerdemir.npz")])[0]
    known = signer.with_labels({"hello", "thanks"})
    probs = np.stack([clf.predict(x, POSE_HANDS_258) for x in known.X])
    pred = [clf.labels[i] for i in probs.argmax(1)]
    acc = np.mean([p == t for p, t in zip(pred, known.labels, strict=True)])
    assert acc >= 0.9, acc

    def predict(windows: np.ndarray) -> np.ndarray:
        return np.stack([clf.predict(w, POSE_HANDS_258) for w in windows])

    score = evaluate_stream(signer, POSE_HANDS_258, predict, clf.labels,
                            recognition_for(clf.manifest.runtime), StreamSettings(), clf.window)
    assert score.hits >= 0.85 * score.signs
    assert score.unknown == 30 and score.unknown_event_rate <= 0.3


def test_demo_is_small_well_formed_and_recognised():
    from signd.models.demo import check_demo

    path = DEFAULT / "demo.npz"
    assert path.stat().st_size < 1024 * 1024
    d = np.load(path, allow_pickle=False)
    arrays = {k: d[k] for k in d.files}
    frames = arrays["frames"]
    assert frames.dtype == np.float16 and frames.shape[1] == 258 and str(arrays["layout"]) == "pose-hands-258"
    signs = [str(s) for s in arrays["signs"]]
    onsets = arrays["onsets"].tolist()
    assert len(signs) == len(onsets) >= 3 and onsets == sorted(onsets)
    hands = POSE_HANDS_258.hands(frames.astype(np.float32))
    assert not hands[: onsets[0]].any()  # rest before the first sign
    for a, b in zip(onsets, onsets[1:], strict=False):
        assert hands[a : a + 30].any() and not hands[a + 30 : b].any()
    assert check_demo(arrays, MODEL) == signs


def test_demo_is_made_not_copied():
    """No demo sign is a copy of a shared recording: each is far from its nearest sequence."""
    d = np.load(DEFAULT / "demo.npz")
    frames = d["frames"].astype(np.float32)
    paths = sorted(Path(shared_path("signers")).glob("*.npz"))
    signers = load_signers([p for p in paths if "matthewbradon" not in p.name])
    X = np.concatenate([s.X for s in signers])
    for onset in d["onsets"]:
        clip = frames[onset : onset + 30]
        nearest = np.abs(X - clip).max(axis=(1, 2)).min()
        assert nearest > 0.01
