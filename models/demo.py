"""The embedded demo stream: keypoints that signd makes itself, from per-class statistics of
training recordings (never a copy of them), so `signd run --source demo` shows recognition
on a machine without a camera.

Each class becomes one prototype: every training sequence of the class is put in the same
frame of reference as the features use (busier hand on the right, origin between the
shoulders, shoulder width as the unit), and the prototype is, frame by frame, the mean of
those sequences' landmarks (a hand where most sequences show one). The prototype is drawn on
one made-up body; the demo plays the prototypes in order with small random variation and
rest (a body, no hands) between them.

File format (read by `signd.daemon.sources.replay.DemoSource`): `frames` float16 (N, F) in
`layout`, `fps`, `signs` (labels performed, in order), `onsets` (first frame of each sign).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from signd.daemon.errors import InputError
from signd.daemon.layout import POSE_HANDS_258, Layout

from .dataset import REST_LABEL, Signer
from .features import dominant_first

BODY_CENTRE = np.array([0.5, 0.62], np.float32)
BODY_WIDTH = np.float32(0.30)


def _normalised(X: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sequences (N, T, F) -> pose (N, T, 33, 4), left and right hand (N, T, 21, 3) with x, y
    (and hand z) in shoulder units about the shoulder centre; undetected parts NaN."""
    X = dominant_first(X, layout)
    n, T = X.shape[:2]
    pose = X[..., layout.pose].reshape(n, T, 33, 4).copy()
    hands = [X[..., s].reshape(n, T, 21, 3).copy() for s in (layout.left_hand, layout.right_hand)]
    seen = np.any(pose != 0, axis=(-2, -1))
    ls, rs = pose[..., 11, :2], pose[..., 12, :2]
    w = seen[..., None]
    c = ((ls + rs) * 0.5 * w).sum(1) / np.maximum(w.sum(1), 1)  # (n, 2)
    u = (np.linalg.norm(ls - rs, axis=-1) * seen).sum(1) / np.maximum(seen.sum(1), 1)
    u = np.where(u > 1e-3, u, 0.25)[:, None, None]
    pose[..., :2] = (pose[..., :2] - c[:, None, None]) / u[..., None]
    pose[~seen] = np.nan
    for h in hands:
        hs = np.any(h != 0, axis=(-2, -1))
        h[..., :2] = (h[..., :2] - c[:, None, None]) / u[..., None]
        h[..., 2] = h[..., 2] / u
        h[~hs] = np.nan
    return pose, hands[0], hands[1]


def prototypes(signers: list[Signer], classes: list[str], layout: Layout = POSE_HANDS_258) -> dict[str, np.ndarray]:
    """Per class, one sequence (T, F) in `layout` on the made-up body."""
    out = {}
    for c in classes:
        xs = [s.X[[i for i, lab in enumerate(s.labels) if lab == c]] for s in signers]
        xs = [x for x in xs if len(x)]
        if not xs:
            raise InputError(f"no recording has class {c!r}; cannot make its demo sign")
        pose, lh, rh = _normalised(np.concatenate(xs), layout)
        T = pose.shape[1]
        frame = np.zeros((T, layout.size), np.float32)
        p = np.nanmean(np.where(np.isnan(pose), np.nan, pose), axis=0)
        p = np.nan_to_num(p)
        p[..., :2] = BODY_CENTRE + BODY_WIDTH * p[..., :2]
        frame[:, layout.pose] = p.reshape(T, -1)
        for h, side in ((lh, layout.left_hand), (rh, layout.right_hand)):
            present = (~np.isnan(h[..., 0, 0])).mean(axis=0)  # (T,) share of sequences with the hand
            # A frame where no sequence has the hand has no mean (and is left empty below).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                m = np.nan_to_num(np.nanmean(h, axis=0)) if np.isfinite(h).any() else np.zeros((T, 21, 3))
            m[..., :2] = BODY_CENTRE + BODY_WIDTH * m[..., :2]
            m[..., 2] = BODY_WIDTH * m[..., 2]
            frame[:, side] = np.where((present >= 0.5)[:, None], m.reshape(T, -1), 0.0)
        out[c] = frame
    return out


def rest_frames(proto: np.ndarray, n: int, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """`n` frames of the made-up body with hands out of view, swaying a little."""
    f = np.repeat(proto[:1], n, axis=0).copy()
    f[:, layout.left_hand] = 0.0
    f[:, layout.right_hand] = 0.0
    pose = f[:, layout.pose].reshape(n, 33, 4)
    pose[:, 13:23, 1] = np.maximum(pose[:, 13:23, 1], BODY_CENTRE[1] + BODY_WIDTH * 1.2)  # arms down
    pose[:, 15:23, 3] = 0.1
    pose[..., :2] += rng.normal(0, 0.002, (n, 1, 2)).cumsum(axis=0) * 0.3
    f[:, layout.pose] = pose.reshape(n, -1)
    return f


def make_demo(signers: list[Signer], order: list[str], fps: float = 30.0, rest_seconds: float = 1.5,
              seed: int = 0, layout: Layout = POSE_HANDS_258) -> dict[str, np.ndarray]:
    """The demo's arrays: `order` signed once each, rest before, between and after."""
    rng = np.random.default_rng(seed)
    protos = prototypes(signers, sorted(set(order) - {REST_LABEL}), layout)
    rest_n = int(round(rest_seconds * fps))
    first = next(iter(protos.values()))
    chunks, onsets, pos = [], [], 0
    for sign in order:
        chunks.append(rest_frames(first, rest_n, layout, rng))
        pos += rest_n
        seq = protos[sign].copy()
        seq = np.where(seq != 0, seq + rng.normal(0, 0.002, seq.shape).astype(np.float32), 0.0)
        chunks.append(seq)
        onsets.append(pos)
        pos += len(seq)
    chunks.append(rest_frames(first, rest_n, layout, rng))
    return {
        "frames": np.concatenate(chunks).astype(np.float16),
        "fps": np.float64(fps),
        "signs": np.array(order),
        "onsets": np.array(onsets, np.int64),
        "layout": np.array(layout.name),
    }


def write_demo(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> Path:
    """Write the demo through a temporary file and a rename."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.stem}.", suffix=".npz", dir=p.parent)
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a shipped file is for everyone
        os.replace(tmp, p)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return p


def check_demo(arrays: dict[str, np.ndarray], model: str | os.PathLike[str]) -> list[str]:
    """The labels a converted model's events give for the demo, played through the runtime's
    window and smoother with the model's own smoothing settings."""
    from signd.daemon.classifier import Classifier
    from signd.daemon.layout import layout_named

    from .stream import recognition_for, run_stream

    clf = Classifier.load(model)
    layout = layout_named(str(arrays["layout"]))
    frames = arrays["frames"].astype(np.float32)

    def predict(windows: np.ndarray) -> np.ndarray:
        return np.stack([clf.predict(w, layout) for w in windows])

    rec = recognition_for(clf.manifest.runtime)
    return [d.label for d in run_stream(frames, layout, predict, clf.labels, clf.window, rec, float(arrays["fps"]))]
