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

import math
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


# signd-v1 is computed on the parts it reads (pose and both hands), never on whole frames, and
# the three hands (left, right, main) go through one stacked pass. The runtime calls it on
# one 30-frame window at a time, where the cost is the number of numpy calls and how far each
# is from a plain run over contiguous memory, not the amount of data. So the work is done
# values-first: a hand is (63, hand, ..., T) and every value (a coordinate, a feature) is one
# contiguous block over the hands and frames; the result is transposed into (..., T, D) at
# the end. Every value comes from the same float32 operations, in the same order, as the
# plain definition, which tests/test_features_fast.py keeps as its reference.

MAIN_HAND = True

# signd-v1 columns per hand: seen, wrist (x, y), palm normal (3), finger direction (3),
# stretch of the five fingers, 20 landmarks x 3 relative to the wrist.
_HAND_BLOCK = 1 + 2 + 3 + 3 + 5 + 20 * 3
_BODY_COLS = 2 * len(BODY_POINTS)
_VIS_COLS = len(VISIBILITY_POINTS)

# Columns of a pose frame (33 x 4): the body points' x, y, then the visibilities.
_POSE_GATHER = np.array(
    [4 * p + c for p in BODY_POINTS for c in (0, 1)] + [4 * p + 3 for p in VISIBILITY_POINTS],
    dtype=np.intp,
)
_POSE_MIRROR_COLS = (4 * POSE_MIRROR[:, None] + np.arange(4)).ravel()
_LS = 2 * BODY_POINTS.index(LEFT_SHOULDER)  # the shoulders' x among the body columns
_RS = 2 * BODY_POINTS.index(RIGHT_SHOULDER)
_XY = np.arange(_BODY_COLS + 2 * 3) % 2  # x, y, x, y, ... under the positions
_CHUNK = 32  # windows per pass over a batch: the temporaries stay in cache


def _rel(points: list[int], coords: tuple[int, ...]) -> list[int]:
    """Rows of (coord, point) among a hand's 60 wrist-relative values (landmark-major)."""
    return [3 * p + c for c in coords for p in points]


# One gather from the wrist-relative landmarks feeds the palm normal (index knuckle x pinky
# knuckle, written out as a.yzx * b.zxy - a.zxy * b.yzx), the finger lengths (tips and
# knuckles; x, then y, then z) and the middle knuckle that gives the hand's size and direction.
_A, _B = [INDEX_KNUCKLE - 1], [PINKY_KNUCKLE - 1]
_FINGERS = FINGER_TIPS + FINGER_KNUCKLES
_NF = len(_FINGERS)
_MID = 12 + 3 * _NF
_HAND_GATHER = np.array(
    _rel(_A, (1, 2, 0)) + _rel(_B, (2, 0, 1)) + _rel(_A, (2, 0, 1)) + _rel(_B, (1, 2, 0))
    + _rel(_FINGERS, (0, 1, 2)) + _rel([MIDDLE_KNUCKLE - 1], (0, 1, 2)),
    dtype=np.intp,
)


def _mirror_pose(pose: np.ndarray) -> np.ndarray:
    """`mirror_frames` on pose frames (..., 132) alone (a new array)."""
    p = pose[..., _POSE_MIRROR_COLS].reshape(*pose.shape[:-1], 33, 4)
    # A point is detected when any of its four values is: four bools read as one uint32.
    seen = np.not_equal(p, 0, order="C").view(np.uint32)[..., 0] != 0
    np.subtract(1.0, p[..., 0], out=p[..., 0], where=seen)
    return p.reshape(pose.shape)


def _mirror_hands(hands: np.ndarray, flip: np.ndarray) -> None:
    """`mirror_frames` on the hands (63, 2, ..., T) of the windows in `flip` (...), in place:
    left and right swapped, x -> 1 - x for every detected point."""
    if flip.ndim == 0:
        hands[...] = hands[:, ::-1].copy()
    else:
        np.copyto(hands, hands[:, ::-1].copy(), where=flip[..., None])
    detected = hands.reshape(21, 3, *hands.shape[1:]).any(axis=1)  # per point
    if flip.ndim:
        detected &= flip[..., None]
    x = hands[0::3]
    np.subtract(1.0, x, out=x, where=detected)


def _origin_and_unit(body: np.ndarray, pose_seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Window mean of the shoulder centre (..., 1, 2) and shoulder width (..., 1, 1), from
    the body columns (..., T, 18)."""
    ls = body[..., _LS:_LS + 2]
    rs = body[..., _RS:_RS + 2]
    # A frame without pose has zero shoulders, so the sums need no weights.
    n = pose_seen.sum(axis=-1, dtype=np.float32)[..., None, None]
    denom = np.maximum(n, 1.0)
    centre = ((ls + rs) * 0.5).sum(axis=-2, keepdims=True) / denom
    d = ls - rs
    dx, dy = d[..., 0], d[..., 1]
    width = np.sqrt(dx * dx + dy * dy)[..., None].sum(axis=-2, keepdims=True) / denom
    np.copyto(centre, np.float32(0.5), where=n == 0)
    width = np.where(width > 1e-3, width, np.float32(DEFAULT_SCALE))
    return centre, width


def _main_hand(hands: np.ndarray, seen: np.ndarray, cx: np.ndarray) -> None:
    """Fill hands[:, 2] and seen[2] with, per frame, the hand doing the sign, whichever it
    is: the one seen (the higher one when both are), mirrored about the body's centre line
    (x = cx, shaped (..., 1)) when it is on the image's right. The detector's left/right
    labels flip now and then, and signers switch hands between signs; this hand's trajectory
    survives both."""
    left, right = hands[:, 0], hands[:, 1]
    ls, rs = seen[0], seen[1]
    pick_left = ls & (~rs | (left[1] < right[1]))
    main = hands[:, 2]
    np.copyto(main, np.where(pick_left, left, right))
    # Without a hand the main hand is the absent right hand's zeros, which must stay zeros.
    flip = (main[0] > cx) & (ls | rs)
    x = main[0::3]
    np.subtract(2 * cx, x, out=x, where=flip)
    main.any(axis=0, out=seen[2])


def _signd_v1(frames: np.ndarray, layout: Layout) -> np.ndarray:
    x = np.asarray(frames)
    n = math.prod(x.shape[:-2])
    if n <= _CHUNK:
        return _signd_v1_pass(x, layout)
    # A training set at once would hold several times its features in temporaries.
    flat = x.reshape(n, *x.shape[-2:])
    first = _signd_v1_pass(flat[:_CHUNK], layout)
    out = np.empty((n, *first.shape[1:]), np.float32)
    out[:_CHUNK] = first
    for i in range(_CHUNK, n, _CHUNK):
        out[i:i + _CHUNK] = _signd_v1_pass(flat[i:i + _CHUNK], layout)
    return out.reshape(*x.shape[:-1], out.shape[-1])


def _signd_v1_pass(x: np.ndarray, layout: Layout) -> np.ndarray:
    lead, T = x.shape[:-2], x.shape[-2]
    nl = len(lead)
    # Axis orders: (..., T, k) -> (k, ..., T) and back; (k, hand, ..., T) -> (..., T, hand, k).
    to_values = (nl + 1, *range(nl + 1))
    to_frames = (*range(1, nl + 2), 0)
    to_frames_hands = (*range(2, nl + 3), 1, 0)
    pose = x[..., layout.pose].astype(np.float32, copy=False)  # (..., T, 132)
    nh = 3 if MAIN_HAND else 2
    hands = np.empty((63, nh, *lead, T), np.float32)  # left, right, main
    lh, rh = layout.left_hand, layout.right_hand
    if lh.stop == rh.start:
        both = x[..., lh.start:rh.stop].reshape(*lead, T, 2, 63)
    else:
        both = np.stack([x[..., lh], x[..., rh]], axis=-2)
    hands[:, :2] = both.transpose(nl + 2, nl + 1, *range(nl), nl)
    seen = np.empty((nh, *lead, T), bool)
    hands[:, :2].any(axis=0, out=seen[:2])

    # dominant_first: windows whose left hand was seen in more frames are mirrored.
    counts = seen[:2].sum(axis=-1)
    flip = counts[0] > counts[1]
    if flip if flip.ndim == 0 else flip.any():  # a numpy scalar's .any() is as slow as an array's
        if flip.ndim == 0:
            pose = _mirror_pose(pose)
        else:
            pose = pose.copy()
            pose[flip] = _mirror_pose(pose[flip])
        _mirror_hands(hands[:, :2], flip)
        # Seen again rather than swapped: a point at x = 1 exactly mirrors to zeros.
        hands[:, :2].any(axis=0, out=seen[:2])
    pose_seen = pose.any(axis=-1)  # (..., T)
    body = pose[..., _POSE_GATHER]  # (..., T, 18)

    centre, unit = _origin_and_unit(body, pose_seen)
    unit = unit[..., 0]  # (..., 1) against (..., T)
    if MAIN_HAND:
        _main_hand(hands, seen, centre[..., 0])

    # Positions: the body points (nose, shoulders, elbows, wrists) and the hands' wrists, in
    # shoulder units about the shoulder centre, zero where the part is missing.
    n_pos = _BODY_COLS + 2 * nh
    pos = np.empty((n_pos, *lead, T), np.float32)
    pos[:_BODY_COLS] = body[..., :_BODY_COLS].transpose(to_values)
    pos[_BODY_COLS:].reshape(nh, 2, *lead, T)[...] = hands[0:2].swapaxes(0, 1)
    np.subtract(pos, centre[..., _XY[:n_pos]].transpose(to_values), out=pos)
    np.divide(pos, unit, out=pos)
    ok = np.empty((n_pos, *lead, T), bool)
    ok[:_BODY_COLS] = pose_seen
    ok[_BODY_COLS:].reshape(nh, 2, *lead, T)[...] = seen[:, None]
    np.multiply(pos, ok, out=pos)
    # Their velocities: zero where either frame lacks the part, and in the first frame.
    vel = np.empty_like(pos)
    vel[..., :1] = 0.0
    np.subtract(pos[..., 1:], pos[..., :-1], out=vel[..., 1:])
    np.multiply(vel[..., 1:], ok[..., 1:] & ok[..., :-1], out=vel[..., 1:])

    # Hand shape: the 20 landmarks relative to the wrist in units of the wrist-to-middle-
    # knuckle length, zeros when that length is degenerate (x / inf = 0). A hand not seen has
    # rel = 0, so it needs no mask here or below.
    h4 = hands.reshape(21, 3, nh, *lead, T)
    rel = (h4[1:] - h4[:1]).reshape(60, nh, *lead, T)
    r = rel[_HAND_GATHER]
    mx, my = r[_MID], r[_MID + 1]
    size = np.sqrt(mx * mx + my * my)  # (hand, ..., T)
    shape = rel / np.where(size > _EPS, size, np.float32(np.inf))

    # Orientation, as one division of [palm normal, finger direction, finger tip lengths] by
    # [|normal| x 3, size x 3, finger knuckle lengths], each at least _EPS. The palm normal says
    # which way the palm faces (towards the camera or the signer: hello against thanks); the
    # stretch is tip-to-wrist over knuckle-to-wrist (about 2 for a straight finger, 1 or less
    # for a folded one), whatever the hand's size and turn.
    frac = np.empty((2, 11, nh, *lead, T), np.float32)
    num, den = frac[0], frac[1]
    normal = num[0:3]
    np.multiply(r[0:3], r[3:6], out=normal)
    normal -= r[6:9] * r[9:12]
    sq = normal * normal
    den[0:3] = np.sqrt(sq[0] + sq[1] + sq[2])
    num[3:6] = r[_MID:_MID + 3]
    den[3:6] = size
    sq = r[12:_MID] * r[12:_MID]
    lengths = sq[:_NF] + sq[_NF:2 * _NF]
    lengths += sq[2 * _NF:]
    np.sqrt(lengths.reshape(2, 5, nh, *lead, T), out=frac[:, 6:])  # tips on top, knuckles below
    np.maximum(den, _EPS, out=den)
    np.divide(num, den, out=num)

    out = np.empty((*lead, T, 2 * _BODY_COLS + _VIS_COLS + nh * (_HAND_BLOCK + 2)), np.float32)
    vis_end = _BODY_COLS + _VIS_COLS
    out[..., :_BODY_COLS] = pos[:_BODY_COLS].transpose(to_frames)
    out[..., _BODY_COLS:vis_end] = body[..., _BODY_COLS:]
    blk = out[..., vis_end:-n_pos].reshape(*lead, T, nh, _HAND_BLOCK)
    blk[..., 0] = seen.transpose(to_frames)
    blk[..., 1:3] = pos[_BODY_COLS:].reshape(nh, 2, *lead, T).transpose(*to_frames_hands[:-2], 0, 1)
    blk[..., 3:14] = num.transpose(to_frames_hands)
    blk[..., 14:] = shape.transpose(to_frames_hands)
    out[..., -n_pos:] = vel.transpose(to_frames)
    return out


FEATURE_SETS: dict[str, FeatureFn] = {"raw": _raw, "signd-v1": _signd_v1}
# Feature sets that read only pose and hands, by the layout's part ranges.
_READS_PARTS = frozenset({"signd-v1"})


def hand_seen_column(features: str) -> int | None:
    """The column of `features` that is 1 in frames where any hand was seen (signd-v1: the
    main hand's flag), or None when the feature set has none."""
    if features != "signd-v1" or not MAIN_HAND:
        return None
    return 2 * len(BODY_POINTS) + len(VISIBILITY_POINTS) + 2 * _HAND_BLOCK


def reads_parts(features: str) -> bool:
    """Whether `features` reads the keypoints part by part (pose, hands) through the layout,
    so that frames in any layout holding those parts give the same features as the same
    frames converted to another such layout."""
    return features in _READS_PARTS


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
