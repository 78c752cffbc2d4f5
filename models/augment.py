"""Augmentation of keypoint sequences, and the rest (nobody signing) that training needs.

Everything works on raw keypoints (N, T, layout.size) in MediaPipe's normalised image
coordinates, before the feature function, so the features of an augmented sequence are
exactly what the runtime would compute for a person who moved that way. A part that was not
detected stays all zeros.
"""

from __future__ import annotations

import numpy as np

from signd.daemon.layout import Layout

from .features import mirror_frames


def _parts(X: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copies of pose (N, T, 33, 4), left and right hand (N, T, 21, 3)."""
    lead = X.shape[:-1]
    return (
        X[..., layout.pose].reshape(*lead, 33, 4).copy(),
        X[..., layout.left_hand].reshape(*lead, 21, 3).copy(),
        X[..., layout.right_hand].reshape(*lead, 21, 3).copy(),
    )


def _join(X: np.ndarray, layout: Layout, pose: np.ndarray, lh: np.ndarray, rh: np.ndarray) -> np.ndarray:
    out = X.copy()
    lead = X.shape[:-1]
    out[..., layout.pose] = pose.reshape(*lead, -1)
    out[..., layout.left_hand] = lh.reshape(*lead, -1)
    out[..., layout.right_hand] = rh.reshape(*lead, -1)
    if layout.face is not None:
        out[..., layout.face] = 0.0  # the face is not augmented; no feature set uses it
    return out


def mirror(X: np.ndarray, layout: Layout, which: np.ndarray | None = None) -> np.ndarray:
    """The same sequences seen in a mirror: x -> 1 - x, left and right swapped (pose and hands).

    Signers use either hand, so a left-handed hello must look like a right-handed one.
    `which` (N,) bool picks the sequences to mirror (default: all).
    """
    out = mirror_frames(X, layout)
    if which is None:
        return out
    return np.where(which[:, None, None], out, X)


def affine(X: np.ndarray, layout: Layout, rng: np.random.Generator, scale: float = 0.15,
           rotate_deg: float = 12.0, shift: float = 0.08, stretch: float = 0.08) -> np.ndarray:
    """Random scale, rotation, shift and aspect stretch per sequence, about the image centre
    of the shoulders: another camera distance, tilt, framing and aspect ratio."""
    n = X.shape[0]
    pose, lh, rh = _parts(X, layout)
    s = rng.uniform(1 - scale, 1 + scale, n)
    a = np.deg2rad(rng.uniform(-rotate_deg, rotate_deg, n))
    ax = rng.uniform(1 - stretch, 1 + stretch, n)
    t = rng.uniform(-shift, shift, (n, 2))
    c = (pose[:, :, 11, :2] + pose[:, :, 12, :2]) * 0.5
    c = np.where(np.any(c != 0, axis=-1, keepdims=True), c, 0.5).mean(axis=1)  # (n, 2)
    cos, sin = np.cos(a), np.sin(a)
    m = np.stack([np.stack([cos * ax, -sin], -1), np.stack([sin * ax, cos], -1)], -2) * s[:, None, None]
    for pts in (pose, lh, rh):
        seen = np.any(pts != 0, axis=-1, keepdims=True)
        xy = pts[..., :2] - c[:, None, None, :]
        xy = np.einsum("nij,ntpj->ntpi", m, xy) + c[:, None, None, :] + t[:, None, None, :]
        pts[..., :2] = np.where(seen, xy, 0.0)
        if pts.shape[-1] == 3:  # hand depth scales with the hand
            pts[..., 2] = np.where(seen[..., 0], pts[..., 2] * s[:, None, None], 0.0)
    return _join(X, layout, pose, lh, rh)


def move_hands(X: np.ndarray, layout: Layout, rng: np.random.Generator, spread: float = 0.15) -> np.ndarray:
    """Each sequence's hands (and the arm's wrist and elbow points with them) moved by one
    random offset of up to `spread` shoulder widths: people sign a little higher, lower, wider."""
    pose, lh, rh = _parts(X, layout)
    n = X.shape[0]
    ls, rs = pose[:, :, 11, :2], pose[:, :, 12, :2]
    ok = np.any(ls != 0, axis=-1)
    w = np.where(ok, np.linalg.norm(ls - rs, axis=-1), np.nan)
    w = np.nan_to_num(np.nanmean(np.where(ok.any(1, keepdims=True), w, 0.25), axis=1), nan=0.25)
    off = rng.uniform(-spread, spread, (n, 2)) * w[:, None]
    for pts, arm in ((lh, (13, 15, 17, 19, 21)), (rh, (14, 16, 18, 20, 22))):
        seen = np.any(pts != 0, axis=-1, keepdims=True)
        pts[..., :2] = np.where(seen, pts[..., :2] + off[:, None, None, :], 0.0)
        sub = pose[:, :, arm, :2]
        seen_p = np.any(sub != 0, axis=-1, keepdims=True)
        pose[:, :, arm, :2] = np.where(seen_p, sub + off[:, None, None, :], 0.0)
    return _join(X, layout, pose, lh, rh)


def time_warp(X: np.ndarray, rng: np.random.Generator, speed: float = 0.25,
              drop: float = 0.08) -> np.ndarray:
    """Signing a little faster or slower (resampled, ends held), with frames dropped and
    repeated as a busy camera does."""
    n, T = X.shape[:2]
    out = np.empty_like(X)
    base = np.arange(T, dtype=np.float64)
    for i in range(n):
        k = np.exp(rng.uniform(np.log(1 - speed), np.log(1 + speed)))
        centre = rng.uniform(0.3, 0.7) * (T - 1)
        src = np.clip(np.round(centre + (base - centre) * k), 0, T - 1).astype(int)
        dup = rng.random(T) < drop
        dup[0] = False
        for t in np.nonzero(dup)[0]:
            src[t] = src[t - 1]
        out[i] = X[i, src]
    return out


def drop_hands(X: np.ndarray, layout: Layout, rng: np.random.Generator, frame_p: float = 0.08,
               sequence_p: float = 0.05) -> np.ndarray:
    """Hands the detector missed: in single frames, and now and then for a whole sequence."""
    out = X.copy()
    n, T = X.shape[:2]
    for side in (layout.left_hand, layout.right_hand):
        gone = (rng.random((n, T)) < frame_p) | (rng.random((n, 1)) < sequence_p)
        out[..., side] = np.where(gone[..., None], 0.0, out[..., side])
    return out


def jitter(X: np.ndarray, rng: np.random.Generator, sigma: float = 0.003) -> np.ndarray:
    """Landmark noise; undetected parts stay zero."""
    noise = rng.normal(0.0, sigma, X.shape).astype(X.dtype)
    return np.where(X != 0, X + noise, 0.0)


def augment(X: np.ndarray, layout: Layout, rng: np.random.Generator,
            hands_gone: float = 0.05) -> np.ndarray:
    """One random variant of each sequence: mirror (half of them), affine, moved hands, time warp,
    dropped hands (`hands_gone`: per side, the share of sequences where that hand is never
    seen), noise."""
    X = mirror(X, layout, rng.random(X.shape[0]) < 0.5)
    X = affine(X, layout, rng)
    X = move_hands(X, layout, rng)
    X = time_warp(X, rng)
    X = drop_hands(X, layout, rng, sequence_p=hands_gone)
    return jitter(X, rng).astype(np.float32)


def without_hands(X: np.ndarray, layout: Layout) -> np.ndarray:
    """The same sequences with no hand detected: what a camera sees when nobody signs."""
    out = X.copy()
    out[..., layout.left_hand] = 0.0
    out[..., layout.right_hand] = 0.0
    return out


def arms_down(X: np.ndarray, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """The same sequences with both arms hanging: elbows 0.4-1.1 and wrists 1.3-2.1 shoulder
    widths below the shoulders, wrists often out of the picture (low visibility)."""
    pose, lh, rh = _parts(X, layout)
    n = X.shape[0]
    ls, rs = pose[:, :, 11, :2], pose[:, :, 12, :2]
    ok = np.any(ls != 0, axis=-1)
    c = np.where(ok[..., None], (ls + rs) * 0.5, 0.5).mean(axis=1)
    w = np.maximum(np.where(ok, np.linalg.norm(ls - rs, axis=-1), 0.25).mean(axis=1), 0.05)
    # The person's left side is on the image's right (larger x).
    for side, (elbow, wrist, fingers) in ((1.0, (13, 15, (17, 19, 21))), (-1.0, (14, 16, (18, 20, 22)))):
        ex = side * rng.uniform(0.6, 1.0, n)
        ey = rng.uniform(0.4, 1.1, n)
        wx = ex + side * rng.uniform(-0.2, 0.25, n)
        wy = ey + rng.uniform(0.8, 1.1, n)
        sway = rng.normal(0, 0.01, (n, X.shape[1], 2)).cumsum(axis=1) * 0.2
        e = c[:, None, :] + (np.stack([ex, ey], -1) * w[:, None])[:, None, :] + sway
        wr = c[:, None, :] + (np.stack([wx, wy], -1) * w[:, None])[:, None, :] + sway
        vis_e = rng.uniform(0.2, 0.9, (n, 1))
        vis_w = rng.uniform(0.0, 0.5, (n, 1))
        keep = ok[..., None]
        pose[:, :, elbow, :2] = np.where(keep, e, 0.0)
        pose[:, :, elbow, 3] = np.where(ok, vis_e, 0.0)
        for j in (wrist, *fingers):
            pose[:, :, j, :2] = np.where(keep, wr, 0.0)
            pose[:, :, j, 3] = np.where(ok, vis_w, 0.0)
    return _join(X, layout, pose, lh, rh)


def hands_down(X: np.ndarray, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """Rest with hands in view: each sequence's hand shapes held still low in front of the
    body (below the shoulders by 1.3-2.2 shoulder widths), with a little sway."""
    pose, lh, rh = _parts(X, layout)
    n, T = X.shape[:2]
    ls, rs = pose[:, :, 11, :2], pose[:, :, 12, :2]
    seen = np.any(ls != 0, axis=-1)
    c = np.where(seen[..., None], (ls + rs) * 0.5, 0.5).mean(axis=1)
    w = np.where(seen, np.linalg.norm(ls - rs, axis=-1), 0.25).mean(axis=1)
    w = np.maximum(w, 0.05)
    for k, pts in enumerate((lh, rh)):
        seen_h = np.any(pts != 0, axis=(-2, -1))  # (n, T)
        has = seen_h.any(axis=1)
        first = np.argmax(seen_h, axis=1)
        shape = pts[np.arange(n), first] - pts[np.arange(n), first][:, :1]  # (n, 21, 3)
        side = 1.0 if k == 0 else -1.0  # the person's left hand is on the image's right
        wrist = c + np.stack([side * w * rng.uniform(0.2, 0.9, n), w * rng.uniform(1.3, 2.2, n)], -1)
        sway = rng.normal(0, 0.004, (n, T, 1, 2)).cumsum(axis=1) * 0.3
        xy = wrist[:, None, None, :] + shape[:, None, :, :2] * 0.7 + sway
        new = np.concatenate([xy, np.broadcast_to(shape[:, None, :, 2:], (n, T, 21, 1))], -1)
        keep = (has & (rng.random(n) < 0.7))[:, None, None, None]
        pts[...] = np.where(keep, new, 0.0)
    return _join(X, layout, pose, lh, rh)


# Hand landmarks of each finger from its knuckle (MCP) to its tip: index, middle, ring, pinky.
_FINGERS = ((5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
# Which of index, middle, ring, pinky are stretched in hand shapes that none of the trained
# signs use: fist, V, middle and ring. Hello and thanks are flat hands (all four), I-love-you
# is index and pinky; each shape here differs from both in at least two fingers, so a real
# sign whose hand the detector half-missed is not taught as "not a sign".
OTHER_SHAPES = ((0, 0, 0, 0), (1, 1, 0, 0), (0, 1, 1, 0))


def refold(X: np.ndarray, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """The same movements made with another hand shape (fingers folded into the palm by
    pattern from OTHER_SHAPES, one per sequence): a sign the model does not know."""
    out = X.copy()
    n = X.shape[0]
    pattern = np.asarray(OTHER_SHAPES)[rng.integers(0, len(OTHER_SHAPES), n)]  # (n, 4)
    # How far a folded tip ends from the wrist, against its knuckle: real folded fingers
    # measure 0.9-1.1 (shared/data/README.md), a straight one about 1.8-1.9.
    reach = rng.uniform(0.75, 1.05, (n, 1, 1))
    for side in (layout.left_hand, layout.right_hand):
        h = out[..., side].reshape(*X.shape[:2], 21, 3)
        seen = np.any(h != 0, axis=(-2, -1))
        for f, joints in enumerate(_FINGERS):
            fold = (pattern[:, f] == 0)[:, None] & seen  # (n, T)
            knuckle = h[..., joints[0], :]
            towards = (h[..., 0, :] - knuckle) * (1.0 - reach)  # folded over the palm
            for depth, j in enumerate(joints[1:], start=1):
                folded = knuckle + towards * depth / 3
                h[..., j, :] = np.where(fold[..., None], folded, h[..., j, :])
        out[..., side] = h.reshape(*X.shape[:2], -1)
    return out


# Signs that are a hand shape held up (I-love-you): a held frame of theirs is still the sign.
HELD_SIGNS = ("iloveyou",)


def hold(X: np.ndarray, layout: Layout, rng: np.random.Generator, sway: float = 0.003) -> tuple[np.ndarray, np.ndarray]:
    """Each sequence's pose and hands at one moment of its middle half (a frame with a hand),
    held for the whole window with a slow sway: a hand shape shown, not a sign made (a letter,
    MOTHER's thumb on the chin, a hand held up to the camera). Returns the held sequences and
    (N,) which of them had a hand to hold."""
    n, T = X.shape[:2]
    seen = layout.hands(X)
    middle = (np.arange(T) >= T // 4) & (np.arange(T) < 3 * T // 4)
    weight = (seen & middle).astype(np.float64) + 1e-9
    cum = np.cumsum(weight / weight.sum(axis=1, keepdims=True), axis=1)
    t = np.minimum((cum < rng.random((n, 1))).sum(axis=1), T - 1)
    still = np.repeat(X[np.arange(n), t][:, None], T, axis=1)
    # One slow drift per sequence and axis, shared by every point: the whole person sways.
    drift = (rng.normal(0.0, sway, (n, T, 2)).cumsum(axis=1) * 0.3).astype(np.float32)[:, :, None, :]
    pose, lh, rh = _parts(still, layout)
    for pts in (pose, lh, rh):
        xy = pts[..., :2]
        pts[..., :2] = np.where(xy != 0, xy + drift, 0.0)
    return jitter(_join(still, layout, pose, lh, rh), rng, sigma=0.002), (seen & middle).any(axis=1)


def shift_in_time(X: np.ndarray, layout: Layout, shift: np.ndarray,
                  rest: np.ndarray | None = None) -> np.ndarray:
    """Sequences moved by `shift` (N,) frames (positive: later), the frames that come in
    being rest: a window that caught only part of a sign in a stream. The rest frames are
    taken from `rest` (N, T, F) at the same positions (e.g. `arms_down` of the same
    sequences), by default the pose of the nearest frame without hands."""
    n, T = X.shape[:2]
    idx = np.arange(T)[None, :] - shift[:, None]
    inside = (idx >= 0) & (idx < T)
    src = np.clip(idx, 0, T - 1)
    out = X[np.arange(n)[:, None], src]
    filler = without_hands(out if rest is None else rest, layout)
    return np.where(inside[..., None], out, filler).astype(np.float32)
