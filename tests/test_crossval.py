"""The grouped cross-validation protocol and the open vocabulary: fixed folds by person, signs
outside the vocabulary learnt as `other`, set-aside recordings counted both ways, and the bad
inputs of issue 18 (a file with none of the vocabulary, sequences of another length)."""

from __future__ import annotations

import json
import logging

import numpy as np

from signd.daemon.layout import POSE_HANDS_258
from signd.daemon.recordings import Recording
from signd.models.crossval import RECALL_FLOOR, _person, cv_labels, fold_of, per_person
from signd.models.dataset import OTHER_LABEL, VOCABULARY, Signer, open_set
from signd.models.set_aside import MIN_HAND_FRAMES, SET_ASIDE, aside_mask, hands_unseen, split_aside

from conftest import run_signd
from modelkit import save_npz, synthetic_recording


def _renamed(rec: Recording, names: list[str]) -> Recording:
    return Recording(rec.path, rec.X, rec.y, names, [f"{names[c]}/{i}" for i, c in enumerate(rec.y)], rec.layout)


def test_folds_are_fixed_by_name_and_balanced():
    names = [f"p{i:02d}" for i in range(51)]
    folds = fold_of(list(reversed(names)))
    assert folds == fold_of(names)  # the order given does not matter
    sizes = np.bincount(list(folds.values()))
    assert sizes.tolist() == [11, 10, 10, 10, 10]
    # A signer added at the end of the alphabet moves nobody else.
    assert {k: v for k, v in fold_of([*names, "zz"]).items() if k != "zz"} == folds


def test_labels_are_rest_signs_then_other():
    labels = cv_labels()
    assert labels[0] == "blank" and labels[-1] == OTHER_LABEL
    assert sorted(labels[1:-1]) == sorted(VOCABULARY) and len(labels) == 11


def test_signs_outside_the_vocabulary_become_other_and_a_file_without_any_is_said_once(caplog):
    X = np.zeros((4, 30, POSE_HANDS_258.size), np.float32)
    mixed = Signer("ann", "ann.npz", X, ["hello", "eat", "blank", "a"], ["h/0", "e/0", "b/0", "a/0"])
    none = Signer("bob", "bob.npz", X, ["eat", "drink", "eat", "z"], ["e/0", "d/0", "e/1", "z/0"])
    with caplog.at_level(logging.INFO, logger="signd.models.dataset"):
        out = open_set([mixed, none])
    assert out[0].labels == ["hello", OTHER_LABEL, "blank", OTHER_LABEL]
    assert out[1].labels == [OTHER_LABEL] * 4
    said = [r.getMessage() for r in caplog.records if "none of the vocabulary" in r.getMessage()]
    assert len(said) == 1 and "bob.npz" in said[0]


def _with_right_hand(n: int) -> np.ndarray:
    X = np.zeros((n, 30, POSE_HANDS_258.size), np.float32)
    X[..., POSE_HANDS_258.right_hand] = 0.5
    return X


def test_set_aside_is_counted_both_ways():
    (signer, cls), _ = next(iter(SET_ASIDE.items()))
    X = _with_right_hand(5)
    X[4, :, POSE_HANDS_258.right_hand] = 0.0  # a second `eat` without hands: set aside too
    s = Signer(signer, f"{signer}.npz", X, [cls, cls, "hello", "eat", "eat"], ["a/0", "a/1", "h/0", "e/0", "e/1"])
    kept, aside = split_aside(s)
    assert kept.labels == ["hello", "eat"] and aside.labels == [cls, cls, "eat"]
    labels = cv_labels()
    probs = np.full((5, len(labels)), 0.01, np.float32)
    for i, said in enumerate(["hello", cls, "hello", "hello", "hello"]):  # one of two set-aside right
        probs[i, labels.index(said)] = 0.9
    p = _person(open_set([s])[0], labels, probs, 0.8, VOCABULARY, aside_mask(s))
    assert (p["n"], p["correct"], p["accuracy"]) == (1, 1, 1.0)  # headline: set aside left out
    assert (p["n_as_labelled"], p["correct_as_labelled"]) == (3, 2)  # as labelled: counted
    # `eat` said hello at 0.9: an event; the `eat` without hands is out of the unknown figure
    assert (p["unknown_n"], p["unknown_fired"]) == (1, 1)


def test_a_sign_without_hands_is_set_aside_and_rest_is_not():
    """A sign's sequence with a hand in fewer than MIN_HAND_FRAMES frames does not show the
    sign: set aside (out of training, counted both ways); rest without hands is just rest."""
    X = _with_right_hand(4)
    X[1, :, POSE_HANDS_258.right_hand] = 0.0  # no hand at all
    X[2, MIN_HAND_FRAMES - 1:, POSE_HANDS_258.right_hand] = 0.0  # a hand in 2 frames
    X[3, :, POSE_HANDS_258.right_hand] = 0.0  # rest: nobody signing
    s = Signer("ann", "ann.npz", X, ["hello", "hello", "thanks", "blank"], ["h/0", "h/1", "t/0", "b/0"])
    assert hands_unseen(s).tolist() == [False, True, True, False]
    kept, aside = split_aside(s)
    assert kept.seq_ids == ["h/0", "b/0"] and aside.seq_ids == ["h/1", "t/0"]
    X[2, :MIN_HAND_FRAMES, POSE_HANDS_258.right_hand] = 0.5  # now in enough frames
    assert not hands_unseen(s)[2]


def test_per_person_figures_weigh_every_person_the_same():
    """Two people: one with many unknown sequences that rarely fire, one with few that often
    do. Pooled, the first dominates; per person, both count once. A person without events has
    no precision (not 1, not 0) but their recall of 0 counts."""
    people = [{"signer": "a", "unknown_n": 90, "unknown_fired": 9},
              {"signer": "b", "unknown_n": 10, "unknown_fired": 5},
              {"signer": "c", "unknown_n": 0, "unknown_fired": 0}]
    stream = {"signers": [
        {"signer": "a", "signs": 20, "hits": 19, "false_events": 1},
        {"signer": "b", "signs": 10, "hits": 8, "false_events": 0},
        {"signer": "c", "signs": 5, "hits": 0, "false_events": 0},
        {"signer": "d", "signs": 0, "hits": 0, "false_events": 2}]}  # only unknown signs: no recall
    pp = per_person({"people": people, "stream": stream})
    assert pp["unknown_mean"] == (0.1 + 0.5) / 2 and pp["unknown_people"] == 2
    assert pp["precision_mean"] == (0.95 + 1.0) / 2
    assert abs(pp["recall_mean"] - (0.95 + 0.8 + 0.0) / 3) < 1e-12 and pp["people"] == 3
    assert (pp["recall_worst"], pp["recall_worst_signer"]) == (0.0, "c")
    assert pp["under_floor"] == ["b", "c"] and RECALL_FLOOR == 0.85
    assert "people" not in per_person({"people": people, "stream": {}})


def test_cv_from_the_command_line(tmp_path):
    """Four tiny signers, two folds, one epoch: every person scored once by a model that never
    saw them, the same people for both architectures, and the text form."""
    names = ["hello", "thanks", "eat"]
    paths = [save_npz(_renamed(synthetic_recording(3, seed=k), names), tmp_path / f"p{k}.npz") for k in range(4)]
    r = run_signd("evaluate", "--cv", "default,tutorial-258", "--k", "2", *map(str, paths), "--epochs", "1",
                  "--json", "--stream", timeout=900)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["folds"] == {"p0": 0, "p1": 1, "p2": 0, "p3": 1}
    for arch in ("default", "tutorial-258"):
        b = res["archs"][arch]
        assert [p["signer"] for p in b["people"]] == ["p0", "p2", "p1", "p3"]
        assert all(p["n"] == 6 and p["unknown_n"] == 3 for p in b["people"])
        assert b["recall"]["hello"]["n"] == 12 and b["recall"]["please"]["n"] == 0
        assert b["stream"]["total"]["signs"] == 24 and b["stream"]["total"]["unknown"] == 12
        assert np.asarray(b["confusion"]).sum() == 36
    r = run_signd("evaluate", "--cv", "default", "--k", "2", "--only-folds", "3", *map(str, paths))
    assert r.returncode == 78 and "--only-folds" in r.stderr


def test_training_the_vocabulary_refuses_sequences_of_another_length(tmp_path):
    ok = save_npz(synthetic_recording(2, seed=1), tmp_path / "ok.npz")
    short = save_npz(synthetic_recording(2, seed=2, frames=20), tmp_path / "short.npz")
    r = run_signd("train", "--vocabulary", "--classes", "hello,thanks", str(ok), str(short),
                  "-o", str(tmp_path / "m"))
    assert r.returncode == 65, r.stderr
    lines = [x for x in r.stderr.splitlines() if "error" in x]
    assert len(lines) == 1 and "short.npz" in lines[0] and "20 frames" in lines[0]
    assert not (tmp_path / "m").exists()
