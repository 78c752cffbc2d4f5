"""Everything else, as the matcher meets it: descriptors of many people's signs and rest.

A custom sign's threshold is set so that only a small share of this background falls within
it (see `fit`): ten examples of one person say how close their sign comes back, but not how
close other signs come. It is built once from the shared recordings and ships beside the
default model (`models/default/enroll-background.npz`, a few hundred KB):

    python -m signd.daemon.custom.background ../shared/data/signers/*.npz \
        -o models/default/enroll-background.npz

Nothing in it can be turned back into a picture: it holds 84 averages per sequence.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from signd.daemon.errors import DataError, SigndError, require_readable
from signd.daemon.layout import POSE_HANDS_258

from . import descriptor

FORMAT = "signd-enroll-background/1"
SIZE = 1500
"""Sequences in the shipped background: 0.5% of it is 7 sequences, enough to place a threshold."""
MIN_HAND_FRAMES = 3
_SCALE_FLOOR = 1e-3  # a column that never varies must not divide by zero


@dataclass(frozen=True)
class Background:
    scale: np.ndarray
    """(SIZE,) the spread of every descriptor value over all the sequences: distances are
    taken in these units, so no column outweighs the others by its range."""
    bank: np.ndarray
    """(N, SIZE) descriptors of sequences of many people, float32."""
    labels: np.ndarray
    """(N,) what each of them is (a sign's name, or blank)."""


def default_background_path() -> Path:
    return Path(str(resources.files("signd.models") / "default" / "enroll-background.npz"))


def load_background(path: str | os.PathLike[str] | None = None) -> Background:
    p = Path(path) if path is not None else default_background_path()
    require_readable(p, "enroll background")
    try:
        with np.load(p, allow_pickle=False) as z:
            fmt = str(z["format"])
            bg = Background(z["scale"].astype(np.float32), z["bank"].astype(np.float32), z["labels"].astype(str))
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{p}: not an enroll background ({exc})") from None
    if fmt != FORMAT or bg.scale.shape != (descriptor.SIZE,) or bg.bank.ndim != 2 \
            or bg.bank.shape[1] != descriptor.SIZE or len(bg.labels) != len(bg.bank):
        raise DataError(f"{p}: not a {FORMAT} file for descriptor {descriptor.NAME}")
    return bg


def build_background(paths: list[str], size: int = SIZE, seed: int = 0) -> Background:
    """The background of the signer files `paths`: the scale over all their sequences with a
    hand, and `size` of those sequences drawn at random."""
    from signd.models.dataset import load_signers  # the runtime never builds one

    descs, labels = [], []
    for s in load_signers(list(paths), POSE_HANDS_258):
        keep = descriptor.hand_frames(s.X, POSE_HANDS_258) >= MIN_HAND_FRAMES
        descs.append(descriptor.describe(s.X[keep], POSE_HANDS_258))
        labels += [lab for lab, k in zip(s.labels, keep, strict=True) if k]
    D = np.concatenate(descs)
    scale = D.std(axis=0) + _SCALE_FLOOR
    pick = np.sort(np.random.default_rng(seed).choice(len(D), min(size, len(D)), replace=False))
    return Background(scale.astype(np.float32), D[pick], np.array(labels)[pick])


def write_background(path: str | os.PathLike[str], bg: Background) -> Path:
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp.npz")
    try:
        np.savez_compressed(tmp, format=np.array(FORMAT), descriptor=np.array(descriptor.NAME),
                            scale=bg.scale, bank=bg.bank.astype(np.float16), labels=bg.labels)
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
