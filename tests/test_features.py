"""The feature function: shapes, batches, invariances, missing parts, and the shared data."""

from __future__ import annotations

import numpy as np
import pytest

from signd.daemon.layout import POSE_HANDS_258, TUTORIAL_1662, convert_layout
from signd.models.features import (
    FEATURE_SETS,
    compute_features,
    dominant_first,
    feature_dim,
    hand_seen_column,
    mirror_frames,
)

from conftest import shared_path


def _person(rng: np.random.Generator, T: int = 30, layout=POSE_HANDS_258) -> np.ndarray:
    """A made-up signer: pose around (0.5, 0.6), a right hand moving, the left hand absent."""
    f = np.zeros((T, layout.size), np.float32)
    pose = rng.uniform(0.3, 0.7, (T, 33, 4)).astype(np.float32)
    pose[:, 11, :2] = [0.65, 0.8]  # left shoulder (image right)
    pose[:, 12, :2] = [0.35, 0.8]
    f[:, layout.pose] = pose.reshape(T, -1)
    hand = rng.uniform(0.2, 0.5, (T, 21, 3)).astype(np.float32)
    hand[:, :, 1] += np.linspace(0, 0.1, T)[:, None]
    f[:, layout.right_hand] = hand.reshape(T, -1)
    return f


def test_raw_is_unchanged_and_registry_lists_both():
    x = np.random.default_rng(0).random((30, 258)).astype(np.float32)
    assert np.array_equal(compute_features(x, POSE_HANDS_258, "raw"), x)
    assert {"raw", "signd-v1"} <= set(FEATURE_SETS)


def test_shapes_and_batches_agree():
    rng = np.random.default_rng(1)
    X = np.stack([_person(rng) for _ in range(4)])
    D = feature_dim(POSE_HANDS_258, "signd-v1")
    batch = compute_features(X, POSE_HANDS_258, "signd-v1")
    assert batch.shape == (4, 30, D) and batch.dtype == np.float32
    one = np.stack([compute_features(x, "pose-hands-258", "signd-v1") for x in X])
    assert np.allclose(batch, one)
    # 1662 frames give the same features as the same frames in 258 (the face is not used)
    big = np.zeros((30, TUTORIAL_1662.size), np.float32)
    big[:, TUTORIAL_1662.pose] = X[0][:, POSE_HANDS_258.pose]
    big[:, TUTORIAL_1662.right_hand] = X[0][:, POSE_HANDS_258.right_hand]
    big[:, TUTORIAL_1662.face] = 0.3
    assert np.allclose(compute_features(big, TUTORIAL_1662, "signd-v1"), batch[0])
    assert feature_dim(TUTORIAL_1662, "signd-v1") == D


def test_independent_of_where_the_signer_sits_and_how_big():
    rng = np.random.default_rng(2)
    x = _person(rng)
    moved = x.copy()
    for part, n, c in ((POSE_HANDS_258.pose, 33, 4), (POSE_HANDS_258.right_hand, 21, 3)):
        pts = moved[:, part].reshape(30, n, c)
        pts[..., :2] = (pts[..., :2] - 0.5) * 0.7 + 0.5 + np.array([0.08, -0.05], np.float32)
        if c == 3:
            pts[..., 2] *= 0.7
        moved[:, part] = pts.reshape(30, -1)
    a = compute_features(x, POSE_HANDS_258, "signd-v1")
    b = compute_features(moved, POSE_HANDS_258, "signd-v1")
    vis = slice(14, 18)  # visibilities do not scale; everything else must match
    keep = np.ones(a.shape[-1], bool)
    keep[vis] = False
    assert np.allclose(a[:, keep], b[:, keep], atol=1e-4)


def test_either_hand_looks_the_same():
    rng = np.random.default_rng(3)
    x = _person(rng)
    m = mirror_frames(x, POSE_HANDS_258)
    assert np.any(m[:, POSE_HANDS_258.left_hand] != 0) and not np.any(m[:, POSE_HANDS_258.right_hand])
    assert np.allclose(mirror_frames(m, POSE_HANDS_258), x, atol=1e-6)
    assert np.allclose(dominant_first(m, POSE_HANDS_258), x, atol=1e-6)
    assert np.allclose(compute_features(m, POSE_HANDS_258, "signd-v1"),
                       compute_features(x, POSE_HANDS_258, "signd-v1"), atol=1e-5)


def test_missing_parts_give_zeros_not_nan():
    rng = np.random.default_rng(4)
    x = _person(rng)
    x[5:10, POSE_HANDS_258.right_hand] = 0.0  # hand lost for a while
    x[12, POSE_HANDS_258.pose] = 0.0  # pose lost in one frame
    f = compute_features(x, POSE_HANDS_258, "signd-v1")
    assert np.isfinite(f).all()
    empty = compute_features(np.zeros((30, 258), np.float32), POSE_HANDS_258, "signd-v1")
    assert np.isfinite(empty).all() and not empty.any()


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="258"):
        compute_features(np.zeros((30, 100), np.float32), POSE_HANDS_258, "signd-v1")
    with pytest.raises(KeyError, match="unknown feature set"):
        compute_features(np.zeros((30, 258), np.float32), POSE_HANDS_258, "nope")


def test_real_recording_is_finite_and_mirror_invariant():
    from signd.daemon.recordings import load_recording

    rec = load_recording(shared_path("signers", "kush.npz"))
    X = convert_layout(rec.X[::10], rec.layout, POSE_HANDS_258)
    a = compute_features(X, POSE_HANDS_258, "signd-v1")
    b = compute_features(mirror_frames(X, POSE_HANDS_258), POSE_HANDS_258, "signd-v1")
    assert np.isfinite(a).all()
    left = np.any(X[..., POSE_HANDS_258.left_hand] != 0, -1).sum(-1)
    right = np.any(X[..., POSE_HANDS_258.right_hand] != 0, -1).sum(-1)
    untied = left != right  # a tie keeps each as it is, so only untied windows must agree
    assert untied.any()
    assert np.allclose(a[untied], b[untied], atol=1e-4)


def test_hand_seen_column_marks_frames_with_a_hand():
    f = _person(np.random.default_rng(3))
    f[10:20, POSE_HANDS_258.right_hand] = 0.0
    f[12:14, POSE_HANDS_258.left_hand] = 0.4  # the other hand alone still counts
    col = hand_seen_column("signd-v1")
    seen = compute_features(f, POSE_HANDS_258, "signd-v1")[:, col]
    want = np.ones(30, np.float32)
    want[10:20] = 0.0
    want[12:14] = 1.0
    assert np.array_equal(seen, want)
    assert hand_seen_column("raw") is None
