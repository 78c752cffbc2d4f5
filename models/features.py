"""The one feature function: keypoint frames in, model input out.

Training and the runtime's classifier both call `compute_features`, so a model never meets
features computed differently from the ones it learnt on. Every feature set takes frames in
one keypoint layout, shaped (..., T, layout.size), and returns float32 (..., T, D).

Feature sets:

- `raw`: the keypoints as they are (the tutorial's input).
- `signd-v1`: what a sign is made of, independent of where the signer sits, how big they
  are in the picture and which hand they sign with. A window whose left hand was seen more
  often than its right is mirrored first (the busier hand always takes the right hand's
  place). Then, per window, the centre and width of the shoulders give an origin and a
  unit; every frame then has the upper body (nose, shoulders, elbows, wrists) in those units,
  the visibility of elbows and wrists, and per hand: whether it was seen, where its wrist is,
  and its shape (20 landmarks relative to the wrist, in units of the wrist-to-middle-knuckle
  length, so the shape does not depend on the distance to the camera) and orientation (palm
  normal, finger direction, how far each finger is stretched), plus the velocities of
  the body points and wrists. A part that was not detected is zeros, as in the keypoints.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from signd.daemon.layout import Layout, layout_named

FeatureFn = Callable[[np.ndarray, Layout], np.ndarray]

# MediaPipe pose landmarks: nose, left/right shoulder, elbow, wrist.
BODY_POINTS = (0, 11, 12, 13, 14, 15, 16)
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
VISIBILITY_POINTS = (13, 14, 15, 16)
MIDDLE_KNUCKLE = 9
INDEX_KNUCKLE, PINKY_KNUCKLE = 5, 17
# Hand landmarks of the finger tips and of the joints they are compared with (minus 1: the
# wrist is dropped from the relative coordinates).
FINGER_TIPS = [4 - 1, 8 - 1, 12 - 1, 16 - 1, 20 - 1]
FINGER_KNUCKLES = [2 - 1, 5 - 1, 9 - 1, 13 - 1, 17 - 1]
# A shoulder width in normalised image units when the pose was never found in a window.
DEFAULT_SCALE = 0.25
_EPS = 1e-6
# Pose landmarks that swap places in a mirror image (left <-> right).
_POSE_PAIRS = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
               (17, 18), (19, 20), (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32))
POSE_MIRROR = np.arange(33)
for _a, _b in _POSE_PAIRS:
    POSE_MIRROR[_a], POSE_MIRROR[_b] = _b, _a


def _raw(frames: np.ndarray, layout: Layout) -> np.ndarray:
    """The tutorial's input: the keypoints as they are."""
    return np.asarray(frames, dtype=np.float32)


def _present(points: np.ndarray) -> np.ndarray:
    """(..., T, P, C) -> (..., T) True where the part was detected (any non-zero value)."""
    return np.any(points != 0, axis=(-2, -1))


def _origin_and_unit(pose: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Window mean of the shoulder centre (..., 1, 2) and shoulder width (..., 1, 1)."""
    ls = pose[..., LEFT_SHOULDER, :2]
    rs = pose[..., RIGHT_SHOULDER, :2]
    w = seen[..., None].astype(np.float32)
    n = w.sum(axis=-2, keepdims=True)  # (..., 1, 1)
    centre = ((ls + rs) * 0.5 * w).sum(axis=-2, keepdims=True) / np.maximum(n, 1.0)
    width = (np.linalg.norm(ls - rs, axis=-1, keepdims=True) * w).sum(axis=-2, keepdims=True)
    width = width / np.maximum(n, 1.0)
    centre = np.where(n > 0, centre, 0.5)
    width = np.where(width > 1e-3, width, DEFAULT_SCALE)
    return centre, width


def _velocity(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Frame-to-frame difference of x (..., T, C); zero where either frame lacks the part."""
    v = np.zeros_like(x)
    v[..., 1:, :] = x[..., 1:, :] - x[..., :-1, :]
    both = np.zeros(ok.shape, bool)
    both[..., 1:] = ok[..., 1:] & ok[..., :-1]
    return v * both[..., None]


def _hand(points: np.ndarray, centre: np.ndarray, unit: np.ndarray) -> tuple[np.ndarray, ...]:
    """One hand (..., T, 21, 3) -> presence (..., T, 1), wrist (..., T, 2), shape (..., T, 60)."""
    seen = _present(points)
    wrist = points[..., 0, :2]
    rel = points[..., 1:, :] - points[..., :1, :]
    size = np.linalg.norm(rel[..., MIDDLE_KNUCKLE - 1, :2], axis=-1)[..., None, None]
    shape = rel / np.maximum(size, _EPS)
    shape = np.where(seen[..., None, None] & (size > _EPS), shape, 0.0)
    wrist_n = np.where(seen[..., None], (wrist - centre) / unit, 0.0)
    flat = shape.reshape(*shape.shape[:-2], -1)
    # Which way the palm faces (towards the camera or the signer: hello against thanks) and
    # where the fingers point, as unit vectors.
    a, b = rel[..., INDEX_KNUCKLE - 1, :], rel[..., PINKY_KNUCKLE - 1, :]
    normal = np.cross(a, b)
    normal = normal / np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), _EPS)
    point = rel[..., MIDDLE_KNUCKLE - 1, :] / np.maximum(size[..., 0], _EPS)
    # How far each finger is stretched out: tip-to-wrist over knuckle-to-wrist (about 2 for a
    # straight finger, 1 or less for a folded one), whatever the hand's size and turn.
    tips = np.linalg.norm(rel[..., FINGER_TIPS, :], axis=-1)
    knuckles = np.linalg.norm(rel[..., FINGER_KNUCKLES, :], axis=-1)
    stretch = tips / np.maximum(knuckles, _EPS)
    orient = np.where(seen[..., None], np.concatenate([normal, point, stretch], -1), 0.0)
    return seen, seen[..., None].astype(np.float32), wrist_n, np.concatenate([orient, flat], -1)


def mirror_frames(frames: np.ndarray, layout: Layout) -> np.ndarray:
    """Frames (..., layout.size) as a mirror would show them: x -> 1 - x for every detected
    point, left and right swapped (pose landmarks and hands). The face is left as it is."""
    out = np.array(frames, dtype=np.float32, copy=True)
    lead = out.shape[:-1]
    pose = out[..., layout.pose].reshape(*lead, 33, 4)[..., POSE_MIRROR, :]
    lh = out[..., layout.left_hand].reshape(*lead, 21, 3).copy()
    rh = out[..., layout.right_hand].reshape(*lead, 21, 3).copy()
    for pts in (pose, lh, rh):
        pts[..., 0] = np.where(np.any(pts != 0, axis=-1), 1.0 - pts[..., 0], 0.0)
    out[..., layout.pose] = pose.reshape(*lead, -1)
    out[..., layout.left_hand], out[..., layout.right_hand] = (
        rh.reshape(*lead, -1), lh.reshape(*lead, -1))
    return out


def dominant_first(frames: np.ndarray, layout: Layout) -> np.ndarray:
    """Windows (..., T, F) in which the left hand was seen in more frames than the right are
    mirrored, so that the busier hand is always in the right hand's place: a sign made with
    either hand looks the same to the model."""
    x = np.asarray(frames, dtype=np.float32)
    left = np.any(x[..., layout.left_hand] != 0, axis=-1).sum(axis=-1)
    right = np.any(x[..., layout.right_hand] != 0, axis=-1).sum(axis=-1)
    flip = left > right
    if not np.any(flip):
        return x
    if x.ndim == 2:
        return mirror_frames(x, layout)
    out = x.copy()
    out[flip] = mirror_frames(x[flip], layout)
    return out


def _signd_v1(frames: np.ndarray, layout: Layout) -> np.ndarray:
    x = dominant_first(frames, layout)
    lead = x.shape[:-1]
    pose = x[..., layout.pose].reshape(*lead, 33, 4)
    pose_seen = _present(pose)
    centre, unit = _origin_and_unit(pose, pose_seen)
    body = (pose[..., BODY_POINTS, :2] - centre[..., None, :]) / unit[..., None, :]
    body = np.where(pose_seen[..., None, None], body, 0.0).reshape(*lead, 2 * len(BODY_POINTS))
    vis = pose[..., VISIBILITY_POINTS, 3]
    parts = [body, vis]
    wrists, wrists_ok = [], []
    for side in (layout.left_hand, layout.right_hand):
        seen, flag, wrist, shape = _hand(x[..., side].reshape(*lead, 21, 3), centre, unit)
        parts += [flag, wrist, shape]
        wrists.append(wrist)
        wrists_ok.append(seen)
    if MAIN_HAND:
        seen, flag, wrist, shape = _hand(_main_hand(x, layout, centre), centre, unit)
        parts += [flag, wrist, shape]
        wrists.append(wrist)
        wrists_ok.append(seen)
    parts.append(_velocity(body, pose_seen))
    parts += [_velocity(w, ok) for w, ok in zip(wrists, wrists_ok, strict=True)]
    return np.concatenate(parts, axis=-1).astype(np.float32, copy=False)


MAIN_HAND = True


def _main_hand(x: np.ndarray, layout: Layout, centre: np.ndarray) -> np.ndarray:
    """Per frame, the hand doing the sign, whichever it is: the one seen (the higher one when
    both are), mirrored about the body's centre line when it is on the image's right. The
    detector's left/right labels flip now and then, and signers switch hands between signs;
    this hand's trajectory survives both."""
    lead = x.shape[:-1]
    lh = x[..., layout.left_hand].reshape(*lead, 21, 3)
    rh = x[..., layout.right_hand].reshape(*lead, 21, 3)
    ls, rs = _present(lh), _present(rh)
    pick_left = ls & (~rs | (lh[..., 0, 1] < rh[..., 0, 1]))
    h = np.where(pick_left[..., None, None], lh, rh)
    cx = centre[..., 0][..., None, None]  # (..., 1, 1, 1) against (..., T, 21)
    flip = (h[..., 0, 0] > centre[..., 0])[..., None]  # (..., T, 1)
    hx = np.where(flip, 2 * cx[..., 0] - h[..., 0], h[..., 0])
    out = np.concatenate([hx[..., None], h[..., 1:]], axis=-1)
    return np.where((ls | rs)[..., None, None], out, 0.0)


FEATURE_SETS: dict[str, FeatureFn] = {"raw": _raw, "signd-v1": _signd_v1}

# signd-v1 columns per hand: seen, wrist (x, y), palm normal (3), finger direction (3),
# stretch of the five fingers, 20 landmarks x 3 relative to the wrist.
_HAND_BLOCK = 1 + 2 + 3 + 3 + 5 + 20 * 3


def hand_seen_column(features: str) -> int | None:
    """The column of `features` that is 1 in frames where any hand was seen (signd-v1: the
    main hand's flag), or None when the feature set has none."""
    if features != "signd-v1" or not MAIN_HAND:
        return None
    return 2 * len(BODY_POINTS) + len(VISIBILITY_POINTS) + 2 * _HAND_BLOCK


def compute_features(frames: np.ndarray, layout: str | Layout, features: str) -> np.ndarray:
    """Model input for `frames` (..., T, layout.size) under the named feature set."""
    lay = layout_named(layout) if isinstance(layout, str) else layout
    if frames.shape[-1] != lay.size:
        raise ValueError(f"frames have {frames.shape[-1]} values; layout {lay.name} has {lay.size}")
    try:
        fn = FEATURE_SETS[features]
    except KeyError:
        raise KeyError(f"unknown feature set {features!r} (known: {', '.join(FEATURE_SETS)})") from None
    return fn(frames, lay)


def feature_dim(layout: str | Layout, features: str) -> int:
    """D, the number of values per frame that `features` makes from `layout` frames."""
    lay = layout_named(layout) if isinstance(layout, str) else layout
    return int(compute_features(np.zeros((1, lay.size), np.float32), lay, features).shape[-1])
