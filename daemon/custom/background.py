"""Everything else, as the matcher meets it: descriptors of many people's signs and rest.

A custom sign's threshold is set so that only a small share of this background falls within
it (see `fit`): ten examples of one person say how close their sign comes back, but not how
close other signs come. It is built once from the shared recordings and ships beside the
default model (`models/default/enroll-background.npz`, 79 KB):

    python -m signd.daemon.custom.background ../shared/data/signers/*.npz \
        -o models/default/enroll-background.npz

Nothing in it can be turned back into a picture: it holds 28 averages per sequence.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from signd.daemon.errors import DataError, SigndError, require_readable
from signd.daemon.layout import MIN_HAND_FRAMES, POSE_HANDS_258

from . import descriptor

FORMAT = "signd-enroll-background/2"
SIZE = 1500
"""Sequences in the shipped background: 0.5% of it is 7 sequences, enough to place a threshold."""
_SCALE_FLOOR = 1e-3  # a column that never varies must not divide by zero
SHRINK = 0.1
"""How far the within-sign covariance is pulled towards a sphere before it is inverted: a few
sequences per sign do not pin every direction down (0.03-0.3 measured alike)."""


@dataclass(frozen=True)
class Background:
    project: np.ndarray
    """(SIZE, SIZE): descriptors are compared after `descriptor @ project`, which divides every
    value by its spread and whitens what varies *within* a sign (between people and between
    repetitions), so that the distance counts what tells signs apart."""
    bank: np.ndarray
    """(N, SIZE) descriptors of sequences of many people, float32."""
    labels: np.ndarray
    """(N,) what each of them is (a sign's name, or blank)."""

    @property
    def id(self) -> str:
        """Names the projection: a sign's threshold is a distance in its units, so a sign
        fitted with another background must be enrolled again."""
        return hashlib.sha256(np.ascontiguousarray(self.project, np.float32).tobytes()).hexdigest()[:16]


def learn_projection(D: np.ndarray, labels: np.ndarray, shrink: float = SHRINK) -> np.ndarray:
    """The projection of descriptors `D` (N, SIZE) of signs `labels`: scale by each column's
    spread, then whiten by the shrunk within-sign covariance."""
    scale = D.std(axis=0) + _SCALE_FLOOR
    x = D / scale
    means = {lab: x[labels == lab].mean(axis=0) for lab in np.unique(labels)}
    r = x - np.stack([means[lab] for lab in labels])
    within = r.T @ r / len(r)
    within += shrink * np.trace(within) / len(within) * np.eye(len(within))
    w, v = np.linalg.eigh(within)
    return ((v / np.sqrt(w)) @ v.T / scale[:, None]).astype(np.float32)


def background_of(D: np.ndarray, labels: np.ndarray, size: int = SIZE, seed: int = 0) -> Background:
    """The background of descriptors `D` of sequences `labels`: the projection learnt from all
    of them, and `size` of them drawn at random."""
    pick = np.sort(np.random.default_rng(seed).choice(len(D), min(size, len(D)), replace=False))
    return Background(learn_projection(D, labels), D[pick].astype(np.float32), np.asarray(labels)[pick])


def default_background_path() -> Path:
    return Path(str(resources.files("signd.models") / "default" / "enroll-background.npz"))


def load_background(path: str | os.PathLike[str] | None = None) -> Background:
    p = Path(path) if path is not None else default_background_path()
    require_readable(p, "enroll background")
    try:
        with np.load(p, allow_pickle=False) as z:
            fmt = str(z["format"])
            bg = Background(z["project"].astype(np.float32), z["bank"].astype(np.float32), z["labels"].astype(str))
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{p}: not an enroll background ({exc})") from None
    if fmt != FORMAT or bg.project.shape != (descriptor.SIZE, descriptor.SIZE) or bg.bank.ndim != 2 \
            or bg.bank.shape[1] != descriptor.SIZE or len(bg.labels) != len(bg.bank):
        raise DataError(f"{p}: not a {FORMAT} file for descriptor {descriptor.NAME}")
    return bg


def build_background(paths: list[str], size: int = SIZE, seed: int = 0) -> Background:
    """The background of the signer files `paths` (`background_of` their sequences with a hand)."""
    from signd.models.dataset import load_signers  # the runtime never builds one

    descs, labels = [], []
    for s in load_signers(list(paths), POSE_HANDS_258):
        keep = POSE_HANDS_258.hand_frames(s.X) >= MIN_HAND_FRAMES
        descs.append(descriptor.describe(s.X[keep], POSE_HANDS_258))
        labels += [lab for lab, k in zip(s.labels, keep, strict=True) if k]
    return background_of(np.concatenate(descs), np.array(labels), size, seed)


def write_background(path: str | os.PathLike[str], bg: Background) -> Path:
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp.npz")
    try:
        np.savez_compressed(tmp, format=np.array(FORMAT), descriptor=np.array(descriptor.NAME),
                            project=bg.project, bank=bg.bank.astype(np.float16), labels=bg.labels)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m signd.daemon.custom.background",
                                 description="Build the enroll background from signer files.")
    ap.add_argument("data", nargs="+", help="signer .npz files")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--size", type=int, default=SIZE)
    args = ap.parse_args(argv)
    try:
        bg = build_background(args.data, args.size)
        out = write_background(args.output, bg)
    except SigndError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 73
    print(f"{out}: {len(bg.bank)} sequences, {out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
