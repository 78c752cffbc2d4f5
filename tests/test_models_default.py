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
from signd.models.dataset import VOCABULARY, load_signers

from conftest import ROOT, shared_path

DEFAULT = ROOT / "models" / "default"
MODEL = DEFAULT / "default.tflite"


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.load(MODEL, ModelConfig(runtime="ai-edge-litert"))


def test_files_and_manifest():
    assert MODEL.stat().st_size <= 200_000  # "200 KB" read either way
    m = json.loads((DEFAULT / "default.json").read_text())
    assert m["features"] == "signd-v1" and m["layout"] == "pose-hands-258" and m["window"] == 30
    assert m["labels"] == ["blank", *sorted(VOCABULARY), "other"]
    assert m["quantization"] == "float16"
    assert set(m["runtime"]["smoothing"]["rest_labels"]) == {"blank", "rest", "other"}
    assert m["runtime"]["window_seconds"] == 1.0
    assert m["extra"]["convert"]["agreement"] >= 0.995
    assert {r["name"] for r in m["verified_runtimes"]} >= {"ai-edge-litert"}
    card = (DEFAULT / "README.md").read_text()
    for needle in ("cross-validation by person", "tutorial-258", "Stream", "outside the vocabulary",
                   "Set aside", "Real video", "p50"):
        assert needle in card


@pytest.mark.parametrize("runtime", ["ai-edge-litert", "tflite-runtime"])
def test_loads_and_answers_alike_on_each_runtime(runtime):
    pytest.importorskip({"ai-edge-litert": "ai_edge_litert", "tflite-runtime": "tflite_runtime"}[runtime])
    c = Classifier.load(MODEL, ModelConfig(runtime=runtime))
    assert c.check_golden() <= 1e-3


def test_the_card_measures_the_recipe_that_ships():
    """The cross-validation in evaluation.json trained each fold exactly as the shipped model
    was trained (same configuration; only the people differ), over all the shared signers."""
    m = json.loads((DEFAULT / "default.json").read_text())
    ev = json.loads((DEFAULT / "evaluation.json").read_text())
    shipped = {k: v for k, v in m["extra"]["training"].items() if k not in ("signers", "epochs_run")}
    cv = ev["cv"]["archs"]["default"]
    assert cv["train"] == shipped
    assert ev["cv"]["labels"] == m["labels"]
    assert sorted(ev["cv"]["folds"]) == sorted(m["extra"]["training"]["signers"])
    assert len(cv["people"]) == len(ev["cv"]["folds"])
    for p in cv["people"]:  # every person scored by the fold that did not train on them
        assert p["fold"] == ev["cv"]["folds"][p["signer"]]
    assert {c["file"] for c in ev["videos"]["clips"]} >= {"sharkawy-demo.mp4", "wavely-drink.mp4"}


def test_the_shipped_model_sees_the_signs_in_real_recordings(clf):
    """A sanity check on real keypoints (people it was trained on, so no figure of merit: the
    card's cross-validation is that): most sequences of each of the nine signs come out as
    that sign, and signs outside the vocabulary mostly give no event."""
    paths = [shared_path("signers", f) for f in ("sarmskunatham.npz", "shreebandal.npz", "dylan-ngjj.npz")]
    from signd.models.dataset import open_set

    threshold = clf.manifest.runtime.smoothing.threshold
    hits: dict[str, list[bool]] = {}
    for s in open_set(load_signers(paths)):
        probs = np.stack([clf.predict(x, POSE_HANDS_258) for x in s.X[::3]])
        for lab, p in zip(s.labels[::3], probs, strict=True):
            said = clf.labels[int(p.argmax())]
            if lab == "other":  # right when it would give no event
                hits.setdefault(lab, []).append(said in ("blank", "other") or p.max() < threshold)
            else:
                hits.setdefault(lab, []).append(said == lab)
    for lab, ok in hits.items():
        assert np.mean(ok) >= 0.8, (lab, np.mean(ok))


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
    assert len(signs) == len(onsets) >= 4 and onsets == sorted(onsets)
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
