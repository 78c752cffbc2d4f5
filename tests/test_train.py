"""signd train: bad input is refused with one line naming the culprit; a tiny real run writes a
verified model that the runtime loads; the class policy and augmentation behave."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from signd.daemon.errors import InputError
from signd.daemon.layout import POSE_HANDS_258
from signd.daemon.recordings import Recording
from signd.models import augment as aug
from signd.models.dataset import choose_classes, load_signers, stack

from conftest import run_signd
from modelkit import save_mp_data, save_npz, synthetic_recording


def _with_extra_class(rec: Recording, name: str) -> Recording:
    """The recording with its last class renamed: a class no other signer has."""
    labels = list(rec.labels)
    labels[-1] = name
    return Recording(rec.path, rec.X, rec.y, labels, rec.seq_ids, rec.layout)


@pytest.fixture(scope="module")
def two_signers(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("signers")
    a = save_mp_data(synthetic_recording(6, seed=1), root / "anna")
    b = save_npz(_with_extra_class(synthetic_recording(6, seed=2), "wave"), root / "ben.npz")
    return a, b


def test_empty_data_folder(tmp_path):
    (tmp_path / "MP_Data").mkdir()
    r = run_signd("train", str(tmp_path / "MP_Data"), "-o", str(tmp_path / "m"))
    assert r.returncode != 0
    assert "signd train: error:" in r.stderr and "MP_Data" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def test_nan_values_name_the_file(tmp_path):
    rec = synthetic_recording(2)
    rec.X[1, 3, 7] = np.nan
    bad = save_npz(rec, tmp_path / "carol.npz")
    r = run_signd("train", str(bad), "-o", str(tmp_path / "m"))
    assert r.returncode == 65, r.stderr
    assert "carol.npz" in r.stderr and "NaN" in r.stderr
    assert not (tmp_path / "m").exists()


def test_frames_of_mixed_lengths_name_the_file(tmp_path):
    root = save_mp_data(synthetic_recording(2), tmp_path / "dora")
    np.save(root / "hello" / "1" / "4.npy", np.zeros(100, np.float32))
    r = run_signd("train", str(root), "-o", str(tmp_path / "m"))
    assert r.returncode == 65, r.stderr
    assert "4.npy" in r.stderr and "100 values" in r.stderr
    assert not (tmp_path / "m").exists()


def test_missing_input_and_unknown_class(tmp_path, two_signers):
    r = run_signd("train", str(tmp_path / "nowhere"), "-o", str(tmp_path / "m"))
    assert r.returncode == 66 and "nowhere" in r.stderr
    r = run_signd("train", *map(str, two_signers), "-o", str(tmp_path / "m"), "--classes", "hello,goodbye")
    assert r.returncode == 66 and "'goodbye'" in r.stderr


def test_class_only_one_signer_has_is_dropped_with_a_warning(two_signers, caplog):
    signers = load_signers(list(two_signers))
    with caplog.at_level(logging.WARNING):
        labels = choose_classes(signers)
    assert labels == ["blank", "hello", "iloveyou"]
    msg = caplog.text
    assert "ben.npz" in msg and "'wave'" in msg and "no other signer" in msg
    X, y, g = stack(signers, labels)
    assert len(X) == 24 and set(y.tolist()) == {1, 2}  # 2 signers x 2 shared classes x 6
    # asked for explicitly, it is trained
    assert choose_classes(signers, ["hello", "wave"], rest=False) == ["hello", "wave"]
    with pytest.raises(InputError, match="two sign classes"):
        choose_classes(signers, ["hello"])


def test_augmentation_keeps_missing_parts_missing():
    rng = np.random.default_rng(0)
    X = synthetic_recording(2).X
    A = aug.augment(X, POSE_HANDS_258, rng)
    assert A.shape == X.shape and np.isfinite(A).all()
    both = np.any(A[..., POSE_HANDS_258.left_hand] != 0, -1) & np.any(A[..., POSE_HANDS_258.right_hand] != 0, -1)
    assert not both.any()  # one hand in the input (mirroring may move it): never two after
    assert np.allclose(aug.mirror(aug.mirror(X, POSE_HANDS_258), POSE_HANDS_258), X, atol=1e-6)
    shifted = aug.shift_in_time(X, POSE_HANDS_258, np.array([5] * len(X)))
    assert not shifted[:, :5, POSE_HANDS_258.right_hand].any()
    assert np.array_equal(shifted[:, 5:], X[:, :-5])
    rest = aug.hands_down(aug.arms_down(X, POSE_HANDS_258, rng), POSE_HANDS_258, rng)
    assert np.isfinite(rest).all()


def test_held_hand_shape_is_still_and_keeps_what_was_missing():
    rng = np.random.default_rng(0)
    lay = POSE_HANDS_258
    X = synthetic_recording(2).X.copy()
    X[0, :, lay.left_hand] = 0.0
    X[0, :, lay.right_hand] = 0.0  # a sequence with no hand at all has nothing to hold
    held, ok = aug.hold(X, lay, rng)
    assert held.shape == X.shape and np.isfinite(held).all()
    assert not ok[0] and ok[1:].all()
    # Zeros stay zeros: a part the detector missed in the held frame is missing throughout.
    for i in np.nonzero(ok)[0]:
        assert np.array_equal(held[i] != 0, np.repeat(held[i, :1] != 0, len(X[i]), axis=0))
    # Still: a frame-to-frame change far below the recordings' own movement.
    move = lambda A: np.abs(np.diff(A[ok][..., lay.right_hand], axis=1)).mean()  # noqa: E731
    assert move(held) < 0.5 * move(X)


def test_held_shapes_are_learnt_as_other_from_moving_signs_only():
    from signd.models.train import TrainConfig, training_set

    rec = synthetic_recording(4)
    labels = ["blank", *rec.labels, "other"]
    y = rec.y + 1
    n_plain = len(training_set(rec.X, y, labels, TrainConfig(hold_fraction=0.0), np.random.default_rng(0))[0])
    cfg = TrainConfig(hold_fraction=0.5)
    X, Y = training_set(rec.X, y, labels, cfg, np.random.default_rng(0))
    held = X[n_plain:]
    # hello and thanks move (iloveyou is a held shape): 8 sequences x 0.5 x (1 + copies).
    assert len(held) == int(8 * 0.5 * (1 + cfg.copies))
    assert (Y[n_plain:] == labels.index("other")).all()
    right = held[..., POSE_HANDS_258.right_hand]
    assert np.abs(np.diff(right, axis=1)).mean() < 0.01
    # Without an `other` class there is nothing to call them.
    no_other = ["blank", *rec.labels]
    assert len(training_set(rec.X, y, no_other, cfg, np.random.default_rng(0))[0]) == n_plain


def test_tiny_training_run_writes_a_verified_model(tmp_path, two_signers):
    out = tmp_path / "tiny"
    # float32: a 3-epoch model's outputs are near ties, which float16 may flip (convert refuses
    # below 99% agreement); the shipped model is float16 (tests/test_models_default.py).
    r = run_signd("train", *map(str, two_signers), "-o", str(out), "--epochs", "3", "--copies", "1",
                  "--quantize", "float32", timeout=600)
    assert r.returncode == 0, r.stderr
    assert "'wave'" in r.stderr  # the warning reached the user
    manifest = json.loads((out / "tiny.json").read_text())
    assert manifest["features"] == "signd-v1" and manifest["layout"] == "pose-hands-258"
    assert manifest["labels"] == ["blank", "hello", "iloveyou"]
    assert manifest["quantization"] == "float32"
    # what the default arch recommends, with every knob it was measured with written out
    assert manifest["runtime"] == {"window_seconds": 1.0, "smoothing": {
        "majority": 10, "threshold": 0.8, "min_hold": 3, "cooldown": 0.5, "rest_labels": ["blank", "rest", "other"]}}
    assert manifest["extra"]["training"]["seed"] == 0
    assert (out / "training.png").stat().st_size > 1000

    from signd.daemon.classifier import Classifier

    clf = Classifier.load(out / "tiny.tflite")
    clf.check_golden()
    p = clf.predict(synthetic_recording(1).X[0], POSE_HANDS_258)
    assert p.shape == (3,) and abs(float(p.sum()) - 1) < 1e-3

    r = run_signd("evaluate", str(out / "tiny.tflite"), *map(str, two_signers), "--json", "--stream")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    acc = res["accuracy"]["tiny"]
    assert [s["signer"] for s in acc["signers"]] == ["anna", "ben"]
    assert sum(s["n"] for s in acc["signers"]) == 24  # ben's `wave` is not one of the labels
    total = res["stream"]["tiny"]["total"]
    # ben's wave and anna's thanks (dropped: only she has it) are signs the model does not know
    assert total["signs"] == 24 and total["unknown"] == 12


def test_rest_penalty_needs_stronger_evidence_for_rest_only_when_hands_are_seen():
    from signd.models.architectures import build_default, rest_penalty, set_rest_penalty
    from signd.models.features import feature_dim, hand_seen_column

    dim, col = feature_dim("pose-hands-258", "signd-v1"), hand_seen_column("signd-v1")
    model = build_default(30, dim, 3, np.zeros(dim), np.ones(dim), hand_column=col, members=1)
    x = np.random.default_rng(0).normal(size=(2, 30, dim)).astype(np.float32)
    x[0, :, col], x[1, :, col] = 1.0, 0.0  # hands in every frame; no hands at all
    before = model(x, training=False).numpy()
    assert rest_penalty(model, 0) == 0.0  # trained as if there were no rule
    set_rest_penalty(model, 0, 4.0)
    after = model(x, training=False).numpy()
    assert rest_penalty(model, 0) == 4.0
    # hands in every frame: the odds of rest against each sign drop by exactly e^4
    shift = np.log(after[0, 0] / after[0, 1:]) - np.log(before[0, 0] / before[0, 1:])
    assert np.allclose(shift, -4.0, atol=1e-3)
    assert np.allclose(after[1], before[1], atol=1e-6)  # no hands: judged as trained


def test_every_member_learns_every_class_on_its_own():
    """Members are trained with one loss each (through their average they divided the classes
    among themselves): after training, each member alone tells every class apart, and the
    model's output is their average."""
    import tf_keras as keras

    from signd.models.architectures import build_default, member_trainer

    rng = np.random.default_rng(0)
    dim, K = 12, 4
    y = rng.integers(0, K, 400)
    centres = rng.normal(0, 1.0, (K, dim)).astype(np.float32)
    x = (centres[y][:, None, :] + rng.normal(0, 0.3, (400, 30, dim))).astype(np.float32)
    model = build_default(30, dim, K, np.zeros(dim), np.ones(dim), members=3, input_dropout=0.0)
    trainer = member_trainer(model)
    assert len(trainer.outputs) == 3 and trainer is not model
    target = np.eye(K, dtype=np.float32)[y]
    trainer.fit(x, [target] * 3, epochs=15, batch_size=32, verbose=0)
    members = keras.Model(model.inputs, [model.get_layer(f"probs_{m}").output for m in range(3)])
    outs = [o.numpy() for o in members(x, training=False)]
    for o in outs:
        assert (o.argmax(1) == y).mean() > 0.95
    assert np.allclose(np.mean(outs, axis=0), model(x, training=False).numpy(), atol=1e-5)
    one = build_default(30, dim, K, np.zeros(dim), np.ones(dim), members=1)
    assert member_trainer(one) is one


def test_other_weight_scales_other_in_the_default_network_only():
    from signd.models.train import TrainConfig, class_weights

    labels = ["blank", "hello", "thanks", "other"]
    y = np.array([0] * 10 + [1] * 10 + [2] * 10 + [3] * 40)
    w = class_weights(y, labels, TrainConfig())
    assert w[1] == pytest.approx(w[2])
    assert w[3] * 40 == pytest.approx(w[1] * 10)  # balanced: 40 `other` weigh what 10 of a sign do
    w = class_weights(y, labels, TrainConfig(other_weight=3))
    assert w[3] * 40 == pytest.approx(3 * w[1] * 10)
    assert w[0] * 10 == pytest.approx(w[1] * 10)  # rest untouched
    tutorial = class_weights(y, labels, TrainConfig(arch="tutorial", other_weight=3))
    assert tutorial[3] * 40 == pytest.approx(tutorial[1] * 10)


def test_other_weight_out_of_range_or_for_the_tutorial_is_refused_before_anything_is_written(tmp_path, two_signers):
    r = run_signd("train", *map(str, two_signers), "-o", str(tmp_path / "m"), "--other-weight", "0")
    assert r.returncode != 0
    assert "--other-weight must be within 0.1..20, got 0" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()
    r = run_signd("train", *map(str, two_signers), "-o", str(tmp_path / "m"), "--arch", "tutorial",
                  "--other-weight", "3")
    assert r.returncode != 0 and "--other-weight is the default arch's" in r.stderr
    assert not (tmp_path / "m").exists()
