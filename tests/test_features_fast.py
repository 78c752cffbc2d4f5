"""The fast signd-v1 against the plain one it replaced: same values on every shared signer and on
every edge case the code branches on, and the classifier feeding the model exactly that.

The shipped model was trained on the plain implementation, so the section marked REFERENCE
below is a frozen copy of it (models/features.py before it was rewritten for speed). Do not
"fix" or speed up the reference: it is the definition the fast code must keep matching.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from signd.daemon.layout import POSE_HANDS_258, TUTORIAL_1662, Layout, convert_layout
from signd.models import features as F

from conftest import SHARED_DATA, shared_path

# ---------------------------------------------------------------------------------------------
# REFERENCE: signd-v1 as it was when the shipped model was trained (frozen copy, do not edit).
# `main_hand` stands for the module switch MAIN_HAND.
# ---------------------------------------------------------------------------------------------

_REF_BODY_POINTS = (0, 11, 12, 13, 14, 15, 16)
_REF_LEFT_SHOULDER, _REF_RIGHT_SHOULDER = 11, 12
_REF_VISIBILITY_POINTS = (13, 14, 15, 16)
_REF_MIDDLE_KNUCKLE = 9
_REF_INDEX_KNUCKLE, _REF_PINKY_KNUCKLE = 5, 17
_REF_FINGER_TIPS = [4 - 1, 8 - 1, 12 - 1, 16 - 1, 20 - 1]
_REF_FINGER_KNUCKLES = [2 - 1, 5 - 1, 9 - 1, 13 - 1, 17 - 1]
_REF_DEFAULT_SCALE = 0.25
_REF_EPS = 1e-6
_REF_POSE_PAIRS = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
                   (17, 18), (19, 20), (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32))
_REF_POSE_MIRROR = np.arange(33)
for _a, _b in _REF_POSE_PAIRS:
    _REF_POSE_MIRROR[_a], _REF_POSE_MIRROR[_b] = _b, _a


def _ref_present(points):
    return np.any(points != 0, axis=(-2, -1))


def _ref_origin_and_unit(pose, seen):
    ls = pose[..., _REF_LEFT_SHOULDER, :2]
    rs = pose[..., _REF_RIGHT_SHOULDER, :2]
    w = seen[..., None].astype(np.float32)
    n = w.sum(axis=-2, keepdims=True)
    centre = ((ls + rs) * 0.5 * w).sum(axis=-2, keepdims=True) / np.maximum(n, 1.0)
    width = (np.linalg.norm(ls - rs, axis=-1, keepdims=True) * w).sum(axis=-2, keepdims=True)
    width = width / np.maximum(n, 1.0)
    centre = np.where(n > 0, centre, 0.5)
    width = np.where(width > 1e-3, width, _REF_DEFAULT_SCALE)
    return centre, width


def _ref_velocity(x, ok):
    v = np.zeros_like(x)
    v[..., 1:, :] = x[..., 1:, :] - x[..., :-1, :]
    both = np.zeros(ok.shape, bool)
    both[..., 1:] = ok[..., 1:] & ok[..., :-1]
    return v * both[..., None]


def _ref_hand(points, centre, unit):
    seen = _ref_present(points)
    wrist = points[..., 0, :2]
    rel = points[..., 1:, :] - points[..., :1, :]
    size = np.linalg.norm(rel[..., _REF_MIDDLE_KNUCKLE - 1, :2], axis=-1)[..., None, None]
    shape = rel / np.maximum(size, _REF_EPS)
    shape = np.where(seen[..., None, None] & (size > _REF_EPS), shape, 0.0)
    wrist_n = np.where(seen[..., None], (wrist - centre) / unit, 0.0)
    flat = shape.reshape(*shape.shape[:-2], -1)
    a, b = rel[..., _REF_INDEX_KNUCKLE - 1, :], rel[..., _REF_PINKY_KNUCKLE - 1, :]
    normal = np.cross(a, b)
    normal = normal / np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), _REF_EPS)
    point = rel[..., _REF_MIDDLE_KNUCKLE - 1, :] / np.maximum(size[..., 0], _REF_EPS)
    tips = np.linalg.norm(rel[..., _REF_FINGER_TIPS, :], axis=-1)
    knuckles = np.linalg.norm(rel[..., _REF_FINGER_KNUCKLES, :], axis=-1)
    stretch = tips / np.maximum(knuckles, _REF_EPS)
    orient = np.where(seen[..., None], np.concatenate([normal, point, stretch], -1), 0.0)
    return seen, seen[..., None].astype(np.float32), wrist_n, np.concatenate([orient, flat], -1)


def ref_mirror_frames(frames, layout):
    out = np.array(frames, dtype=np.float32, copy=True)
    lead = out.shape[:-1]
    pose = out[..., layout.pose].reshape(*lead, 33, 4)[..., _REF_POSE_MIRROR, :]
    lh = out[..., layout.left_hand].reshape(*lead, 21, 3).copy()
    rh = out[..., layout.right_hand].reshape(*lead, 21, 3).copy()
    for pts in (pose, lh, rh):
        pts[..., 0] = np.where(np.any(pts != 0, axis=-1), 1.0 - pts[..., 0], 0.0)
    out[..., layout.pose] = pose.reshape(*lead, -1)
    out[..., layout.left_hand], out[..., layout.right_hand] = (
        rh.reshape(*lead, -1), lh.reshape(*lead, -1))
    return out


def ref_dominant_first(frames, layout):
    x = np.asarray(frames, dtype=np.float32)
    left = np.any(x[..., layout.left_hand] != 0, axis=-1).sum(axis=-1)
    right = np.any(x[..., layout.right_hand] != 0, axis=-1).sum(axis=-1)
    flip = left > right
    if not np.any(flip):
        return x
    if x.ndim == 2:
        return ref_mirror_frames(x, layout)
    out = x.copy()
    out[flip] = ref_mirror_frames(x[flip], layout)
    return out


def _ref_main_hand(x, layout, centre):
    lead = x.shape[:-1]
    lh = x[..., layout.left_hand].reshape(*lead, 21, 3)
    rh = x[..., layout.right_hand].reshape(*lead, 21, 3)
    ls, rs = _ref_present(lh), _ref_present(rh)
    pick_left = ls & (~rs | (lh[..., 0, 1] < rh[..., 0, 1]))
    h = np.where(pick_left[..., None, None], lh, rh)
    cx = centre[..., 0][..., None, None]
    flip = (h[..., 0, 0] > centre[..., 0])[..., None]
    hx = np.where(flip, 2 * cx[..., 0] - h[..., 0], h[..., 0])
    out = np.concatenate([hx[..., None], h[..., 1:]], axis=-1)
    return np.where((ls | rs)[..., None, None], out, 0.0)


def ref_signd_v1(frames, layout, main_hand=True):
    x = ref_dominant_first(frames, layout)
    lead = x.shape[:-1]
    pose = x[..., layout.pose].reshape(*lead, 33, 4)
    pose_seen = _ref_present(pose)
    centre, unit = _ref_origin_and_unit(pose, pose_seen)
    body = (pose[..., _REF_BODY_POINTS, :2] - centre[..., None, :]) / unit[..., None, :]
    body = np.where(pose_seen[..., None, None], body, 0.0).reshape(*lead, 2 * len(_REF_BODY_POINTS))
    vis = pose[..., _REF_VISIBILITY_POINTS, 3]
    parts = [body, vis]
    wrists, wrists_ok = [], []
    for side in (layout.left_hand, layout.right_hand):
        seen, flag, wrist, shape = _ref_hand(x[..., side].reshape(*lead, 21, 3), centre, unit)
        parts += [flag, wrist, shape]
        wrists.append(wrist)
        wrists_ok.append(seen)
    if main_hand:
        seen, flag, wrist, shape = _ref_hand(_ref_main_hand(x, layout, centre), centre, unit)
        parts += [flag, wrist, shape]
        wrists.append(wrist)
        wrists_ok.append(seen)
    parts.append(_ref_velocity(body, pose_seen))
    parts += [_ref_velocity(w, ok) for w, ok in zip(wrists, wrists_ok, strict=True)]
    return np.concatenate(parts, axis=-1).astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------------
# End of REFERENCE.
# ---------------------------------------------------------------------------------------------

TOLERANCE = 1e-5
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "default" / "default.tflite"


def assert_same(fast: np.ndarray, ref: np.ndarray, what: str) -> float:
    """Same shape and dtype, values within TOLERANCE; returns the largest difference."""
    assert fast.shape == ref.shape, f"{what}: shape {fast.shape} != {ref.shape}"
    assert fast.dtype == ref.dtype == np.float32, f"{what}: dtype {fast.dtype} / {ref.dtype}"
    assert np.isfinite(fast).all() == np.isfinite(ref).all(), what
    worst = float(np.max(np.abs(fast - ref), initial=0.0))
    assert worst <= TOLERANCE, f"{what}: max |fast - reference| = {worst:.3g}"
    return worst


def _signer_files() -> list:
    files = sorted((SHARED_DATA / "signers").glob("*.npz"))
    return files or ["(no shared data)"]


@pytest.fixture(scope="module")
def default_classifier():
    from signd.daemon.classifier import Classifier

    return Classifier.load(DEFAULT_MODEL)


@pytest.mark.parametrize("path", _signer_files(), ids=lambda p: getattr(p, "stem", str(p)))
def test_every_signer_matches_the_reference(path):
    from signd.daemon.recordings import load_recording

    rec = load_recording(path if isinstance(path, Path) else shared_path("signers", "missing.npz"))
    layouts = [rec.layout] + ([POSE_HANDS_258] if rec.layout == TUTORIAL_1662 else [])
    for lay in layouts:
        X = convert_layout(rec.X, rec.layout, lay)
        assert_same(F.compute_features(X, lay, "signd-v1"), ref_signd_v1(X, lay), f"{path.name} {lay.name}")
        for i, w in enumerate(X):  # one window at a time, as the runtime calls it
            assert_same(F.compute_features(w, lay.name, "signd-v1"), ref_signd_v1(w, lay),
                        f"{path.name} {lay.name} window {i}")


def _window(rng: np.random.Generator, layout: Layout, T: int = 30, pose=True, left=0, right=30,
            left_above: bool = False) -> np.ndarray:
    """A made-up window: pose in most frames, the right hand in the first `right` frames, the
    left hand in the last `left` frames (higher than the right one when `left_above`)."""
    f = np.zeros((T, layout.size), np.float32)
    if pose:
        p = rng.uniform(0.2, 0.8, (T, 33, 4)).astype(np.float32)
        p[:, 11, :2] = rng.normal([0.62, 0.75], 0.01, (T, 2))
        p[:, 12, :2] = rng.normal([0.38, 0.75], 0.01, (T, 2))
        f[:, layout.pose] = p.reshape(T, -1)
    for frames, side, y in ((slice(0, right), layout.right_hand, 0.5),
                            (slice(T - left, T), layout.left_hand, 0.3 if left_above else 0.7)):
        n = frames.stop - frames.start
        if n:
            h = rng.uniform(0.0, 0.1, (n, 21, 3)).astype(np.float32)
            h[:, :, 0] += rng.uniform(0.2, 0.8)
            h[:, :, 1] += y
            h[:, :, 2] -= 0.05
            f[frames, side] = h.reshape(n, -1)
    return f


def _edge_cases(layout: Layout) -> dict[str, np.ndarray]:
    """Windows that take every branch of the feature code, in `layout`."""
    rng = np.random.default_rng(7)
    P, L, R = layout.pose, layout.left_hand, layout.right_hand
    w = {}
    w["right hand"] = _window(rng, layout)
    w["no pose"] = _window(rng, layout, pose=False)
    w["no hands"] = _window(rng, layout, right=0)
    w["nothing"] = np.zeros((30, layout.size), np.float32)
    w["only left hand (mirrored)"] = _window(rng, layout, left=30, right=0)
    w["both hands, left higher"] = _window(rng, layout, left=30, right=30, left_above=True)
    w["both hands, right higher"] = _window(rng, layout, left=30, right=30)
    w["left seen more often (mirrored)"] = _window(rng, layout, left=20, right=12, left_above=True)
    w["tie"] = _window(rng, layout, left=15, right=15)
    x = _window(rng, layout, left=10, right=25)
    x[5:9, P] = 0.0  # pose lost for a while
    x[20, R] = 0.0  # a hand lost in one frame
    w["gaps"] = x
    x = _window(rng, layout, left=24, right=8)
    x[:, P][:, 0::4] = 1.0  # pose x at the image edge: mirrors to 0
    pose = x[:, P].reshape(30, 33, 4)
    pose[3] = 0.0
    pose[3, 7] = [1.0, 0.0, 0.0, 0.0]  # a frame whose only point vanishes in the mirror
    pose[:, :, 0] = np.where(np.arange(33) % 3 == 0, 1.0, pose[:, :, 0])
    x[:, P] = pose.reshape(30, -1)
    hand = x[:, L].reshape(30, 21, 3)
    hand[2] = 0.0
    hand[2, 4] = [1.0, 0.0, 0.0]  # a left hand whose only point vanishes in the mirror
    hand[6, :, 0] = 0.0  # detected points with x = 0
    x[:, L] = hand.reshape(30, -1)
    x[:, P][5, 0::4] = 0.0  # and pose points with x = 0
    w["points at x = 0 and x = 1 (mirrored)"] = x
    x = _window(rng, layout, left=0, right=30)
    hand = x[:, R].reshape(30, 21, 3)
    hand[:10, 9, :2] = hand[:10, 0, :2]  # middle knuckle on the wrist: degenerate size
    hand[10:12, 5] = hand[10:12, 0]  # index knuckle on the wrist: degenerate palm normal
    hand[12:14, [1, 5, 9, 13, 17]] = hand[12:14, :1]  # every knuckle on the wrist
    x[:, R] = hand.reshape(30, -1)
    w["degenerate hands"] = x
    x = _window(rng, layout, left=30, right=30)
    pose = x[:, P].reshape(30, 33, 4)
    pose[:, 11, :2] = pose[:, 12, :2] + 1e-4  # shoulders on top of each other: default scale
    pose[:, :, 0] -= 1.5  # off the image: centre x < 0
    x[:, P] = pose.reshape(30, -1)
    x[10:14, L] = x[12:16, R] = 0.0  # frames without hands (x = 0 is right of the centre line)
    w["narrow shoulders, negative x"] = x
    x = _window(rng, layout, left=0, right=30)
    pose = x[:, P].reshape(30, 33, 4)
    pose[:, 11, :2], pose[:, 12, :2] = (0.75, 0.7), (0.25, 0.7)  # centre line exactly x = 0.5
    x[:, P] = pose.reshape(30, -1)
    x[4, R] = 0.0
    x[4, R.start::3] = 1.0  # mirrored about x = 0.5, this hand is all zeros
    w["main hand vanishes in its mirror"] = x
    x = _window(rng, layout, pose=False, right=20)
    hand = x[:, R].reshape(30, 21, 3)
    hand[::2, :, 0] -= 0.6  # no pose, so the centre line is x = 0.5: the hand crosses it
    x[:, R] = hand.reshape(30, -1)
    w["hand without pose"] = x
    x = _window(rng, layout, left=30, right=30)
    x[:, L.start + 1] = x[:, R.start + 1]  # wrists at the same height: the right one is picked
    w["wrists level"] = x
    if layout.face is not None:
        x = _window(rng, layout, left=20, right=10)
        x[:, layout.face] = rng.random((30, layout.face.stop - layout.face.start))
        w["face present (ignored)"] = x
    return w


@pytest.mark.parametrize("layout", [TUTORIAL_1662, POSE_HANDS_258], ids=lambda lay: lay.name)
@pytest.mark.parametrize("main_hand", [True, False], ids=["main-hand", "no-main-hand"])
def test_edge_cases_match_the_reference(layout, main_hand, monkeypatch):
    monkeypatch.setattr(F, "MAIN_HAND", main_hand)
    cases = _edge_cases(layout)
    for name, x in cases.items():
        assert_same(F.compute_features(x, layout, "signd-v1"), ref_signd_v1(x, layout, main_hand), name)
    batch = np.stack(list(cases.values()))  # flipped and unflipped windows in one batch
    assert_same(F.compute_features(batch, layout, "signd-v1"), ref_signd_v1(batch, layout, main_hand), "batch")
    grid = batch[: 2 * (len(batch) // 2)].reshape(2, -1, 30, layout.size)  # two leading axes
    assert_same(F.compute_features(grid, layout, "signd-v1"), ref_signd_v1(grid, layout, main_hand), "grid")
    assert F.feature_dim(layout, "signd-v1") == ref_signd_v1(batch[0], layout, main_hand).shape[-1]


def test_large_batches_go_in_chunks(monkeypatch):
    monkeypatch.setattr(F, "_CHUNK", 5)  # the edge cases make 4 chunks, the last one short
    batch = np.stack(list(_edge_cases(TUTORIAL_1662).values()))
    grid = batch[::-1][:16].reshape(2, 8, 30, TUTORIAL_1662.size)
    for name, x in (("grid", grid), ("batch", batch), ("float16 batch", batch.astype(np.float16))):
        assert_same(F.compute_features(x, TUTORIAL_1662, "signd-v1"), ref_signd_v1(x, TUTORIAL_1662), name)


@pytest.mark.parametrize("layout", [TUTORIAL_1662, POSE_HANDS_258], ids=lambda lay: lay.name)
def test_input_forms_match_the_reference(layout):
    cases = _edge_cases(layout)
    x = cases["both hands, left higher"]
    batch = np.stack(list(cases.values()))
    forms = {
        "float64": x.astype(np.float64),
        "float16": x.astype(np.float16),
        "non-contiguous": np.asfortranarray(x),
        "slice of a longer buffer": np.concatenate([x, x])[7:37],
        "strided batch": batch[::2],
        "one frame": x[:1],
        "two frames": x[:2],
        "read-only": np.frombuffer(x.tobytes(), np.float32).reshape(x.shape),
    }
    for name, v in forms.items():
        assert_same(F.compute_features(v, layout, "signd-v1"), ref_signd_v1(v, layout), name)
    assert np.array_equal(x, cases["both hands, left higher"])  # the input is never written to
    # a layout whose hands are not side by side, right before left
    swapped = Layout("swapped-hands", layout.size, layout.pose, layout.face,
                     left_hand=layout.right_hand, right_hand=layout.left_hand)
    assert_same(F.compute_features(batch, swapped, "signd-v1"), ref_signd_v1(batch, swapped), "swapped")


def test_mirror_helpers_match_the_reference():
    cases = _edge_cases(POSE_HANDS_258)
    batch = np.stack(list(cases.values()))
    assert_same(F.mirror_frames(batch, POSE_HANDS_258), ref_mirror_frames(batch, POSE_HANDS_258), "mirror")
    assert_same(F.dominant_first(batch, POSE_HANDS_258), ref_dominant_first(batch, POSE_HANDS_258), "dominant")
    col = F.hand_seen_column("signd-v1")
    seen = F.compute_features(batch, POSE_HANDS_258, "signd-v1")[..., col]
    assert np.array_equal(seen, ref_signd_v1(batch, POSE_HANDS_258)[..., col])
    # the main hand's flag: a hand was seen (but for a hand that its mirror turns into zeros)
    hands = POSE_HANDS_258.hands(batch)
    assert seen.sum() == hands.sum() - 1 and not (seen.astype(bool) & ~hands).any()


def test_classifier_feeds_the_model_the_reference_features(default_classifier):
    clf = default_classifier
    assert clf.features == "signd-v1" and clf.layout == POSE_HANDS_258
    assert clf.check_golden() <= 1e-3
    for name, x in _edge_cases(TUTORIAL_1662).items():
        x258 = convert_layout(x, TUTORIAL_1662, POSE_HANDS_258)
        want = ref_signd_v1(x258, POSE_HANDS_258)
        assert_same(clf.inputs(x, TUTORIAL_1662), want, name)
        assert_same(clf.inputs(x258, POSE_HANDS_258), want, name)
        # 1662 frames are read in place, not converted: the model must still get the same input
        np.testing.assert_array_equal(clf.predict(x, TUTORIAL_1662), clf.predict(x258, POSE_HANDS_258))
        np.testing.assert_array_equal(clf.predict(x, TUTORIAL_1662), clf.model.predict(want))


def test_a_model_needing_the_face_still_refuses_frames_without_it(default_classifier):
    from signd.daemon.classifier import Classifier

    clf = Classifier(default_classifier.model, replace(default_classifier.manifest, layout=TUTORIAL_1662.name))
    x = _edge_cases(POSE_HANDS_258)["right hand"]
    assert not clf.accepts(POSE_HANDS_258)
    for _ in range(2):  # and again, once a verdict could have been remembered
        with pytest.raises(ValueError, match="face"):
            clf.inputs(x, POSE_HANDS_258)
