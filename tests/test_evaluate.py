"""signd evaluate: stream scoring through the runtime's window and smoother, LOSO of both
architectures from the command line, and bad arguments."""

from __future__ import annotations

import json

import numpy as np
import pytest

from signd.daemon.layout import POSE_HANDS_258, TUTORIAL_1662
from signd.daemon.recognizer import Recognition
from signd.daemon.smoothing import SmoothingConfig
from signd.models.dataset import Signer
from signd.models.evaluate import Report, score_signer
from signd.models.stream import StreamSettings, build_stream, evaluate_stream

from conftest import run_signd
from modelkit import save_npz, synthetic_recording

LABELS = ["blank", "hello", "thanks"]
MARK = POSE_HANDS_258.right_hand.start  # one hand value carries the class, for the oracle


def _signer(classes: list[str], n: int = 4, with_rest: bool = False) -> Signer:
    X, labels = [], []
    rng = np.random.default_rng(0)
    for c in classes + (["blank"] if with_rest else []):
        for _ in range(n):
            seq = np.zeros((30, POSE_HANDS_258.size), np.float32)
            seq[:, POSE_HANDS_258.pose] = rng.uniform(0.3, 0.7, 132)
            if c != "blank":
                seq[:, POSE_HANDS_258.right_hand] = 0.5
                seq[:, MARK] = 1 + sorted(set(classes) | {"blank"}).index(c)
            X.append(seq)
            labels.append(c)
    return Signer("eve", "eve.npz", np.stack(X), labels, [f"{c}/{i}" for i, c in enumerate(labels)])


def _oracle(windows: np.ndarray) -> np.ndarray:
    """Says the sign that fills at least 20 of a window's 30 frames, else rest."""
    out = np.full((len(windows), 3), 0.025, np.float32)
    for i, w in enumerate(windows):
        marks = np.rint(w[:, MARK]).astype(int)
        counts = np.bincount(marks, minlength=4)
        k = int(np.argmax(counts[1:])) + 1
        out[i, k - 1 if counts[k] >= 20 and k <= 3 else 0] = 0.95
    return out


SMOOTH = Recognition(smoothing=SmoothingConfig(majority=10, threshold=0.7, min_hold=3, cooldown=0.5))


def test_an_oracle_hits_every_sign_and_nothing_else():
    s = _signer(["hello", "thanks"], with_rest=True)
    score = evaluate_stream(s, POSE_HANDS_258, _oracle, LABELS, SMOOTH, StreamSettings(), 30)
    assert (score.signs, score.hits, score.misses, score.false_events) == (8, 8, 0, 0)
    assert score.f1 == 1.0 and score.rest_false_events == 0
    # rest: 2 s before each of the 8 signs and after the last (the 4 recorded blanks, in turn)
    assert score.rest_seconds == pytest.approx(9 * 60 / 30)
    assert [e["label"] for e in score.events] == [e["truth"] for e in score.events]


def test_a_model_that_always_answers_hello_is_punished():
    s = _signer(["hello", "thanks"])

    def hello(windows: np.ndarray) -> np.ndarray:
        return np.tile(np.array([0.0, 1.0, 0.0], np.float32), (len(windows), 1))

    score = evaluate_stream(s, POSE_HANDS_258, hello, LABELS, SMOOTH, StreamSettings(), 30)
    assert score.hits == 4 and score.misses == 4  # every hello, no thanks
    assert score.false_events >= 4 and score.rest_false_events > 0  # thanks taken for hello, rest too
    assert score.f1 < 0.7 and score.rest_false_per_minute > 0


def test_unknown_signs_are_counted_apart():
    s = _signer(["hello", "wave"])  # wave: not one of the labels
    score = evaluate_stream(s, POSE_HANDS_258, _oracle, LABELS, SMOOTH, StreamSettings(), 30)
    assert score.signs == 4 and score.unknown == 4
    # the oracle calls a wave window "thanks" (its mark), so every wave gives an event
    assert score.unknown_with_event == 4 and score.unknown_event_rate == 1.0
    assert score.false_events == 0  # unknown signs' events are reported as the unknown rate


def test_stream_layout_is_rest_then_sign():
    s = _signer(["hello"], n=2)
    frames, segments, rest = build_stream(s, POSE_HANDS_258, {"hello"}, StreamSettings(rest_seconds=1.0))
    assert len(frames) == 2 * (30 + 30) + 30
    assert [(g.start, g.end) for g in segments] == [(30, 60), (90, 120)]
    assert not rest[30:60].any() and rest[:30].all()
    assert not POSE_HANDS_258.hands(frames[rest]).any()


def test_score_signer_counts_rest_apart():
    s = _signer(["hello", "thanks"], n=2, with_rest=True)
    probs = np.eye(3, dtype=np.float32)[[1, 1, 2, 1, 0, 2]]  # one thanks wrong, one blank wrong
    sc = score_signer(s, LABELS, probs)
    assert (sc.n, sc.correct, sc.rest_n, sc.rest_correct) == (4, 3, 2, 1)
    rep = Report(LABELS, [sc])
    assert rep.mean == rep.worst == 0.75 and rep.confusion.sum() == 6


def test_loso_from_the_command_line(tmp_path):
    """The first protocol, kept for its figures (the tutorial network's training is covered by
    the cross-validation's test, tests/test_crossval.py)."""
    paths = [save_npz(synthetic_recording(4, layout=TUTORIAL_1662, seed=k), tmp_path / f"s{k}.npz")
             for k in range(2)]
    r = run_signd("evaluate", "--loso", "default", *map(str, paths), "--epochs", "1",
                  "--json", "--stream", "--plots", str(tmp_path / "plots"), timeout=600)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert set(res["accuracy"]) == {"default"}
    assert [s["signer"] for s in res["accuracy"]["default"]["signers"]] == ["s0", "s1"]
    assert all(s["n"] == 12 for s in res["accuracy"]["default"]["signers"])
    assert res["stream"]["default"]["total"]["signs"] == 24
    assert res["accuracy"]["default"]["labels"] == ["blank", "hello", "iloveyou", "thanks"]
    for png in ("confusion-default.png", "per-signer.png", "training-default.png"):
        assert (tmp_path / "plots" / png).stat().st_size > 1000


def test_bad_arguments(tmp_path):
    p = save_npz(synthetic_recording(2), tmp_path / "a.npz")
    r = run_signd("evaluate", "--loso", "lstm", str(p), str(p))
    assert r.returncode == 78 and "--loso" in r.stderr
    r = run_signd("evaluate", str(tmp_path / "missing.tflite"), str(p))
    assert r.returncode == 66 and "missing.tflite" in r.stderr
    r = run_signd("evaluate", "--loso", "default", str(p))
    assert r.returncode == 66 and "two signers" in r.stderr
