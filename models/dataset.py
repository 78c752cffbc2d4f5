"""Training data: recordings (one signer each) read through `signd.daemon.recordings`, put in
one keypoint layout and one label space, with a clear policy for classes that not every
signer has.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from signd.daemon.errors import DataError, InputError
from signd.daemon.layout import POSE_HANDS_258, Layout, convert_layout
from signd.daemon.recordings import Recording, load_recording, normalize_label

log = logging.getLogger(__name__)

REST_LABEL = "blank"
REST_ALIASES = ("blank", "rest", "nothing", "none", "idle")
# The shipped model's signs: the nine that people in the data share most.
VOCABULARY = ("hello", "thanks", "iloveyou", "please", "yes", "no", "help", "sorry", "goodbye")
# Every real sign outside the vocabulary: "not one of mine", learnt as a class of its own so
# that a sign the model does not know is told apart instead of taken for the nearest one.
OTHER_LABEL = "other"


@dataclass
class Signer:
    """One signer's sequences in the common layout and label space."""

    name: str
    path: str
    X: np.ndarray  # (N, T, layout.size) float32
    labels: list[str]  # the label of each sequence
    seq_ids: list[str]

    def select(self, keep: np.ndarray) -> Signer:
        return Signer(self.name, self.path, self.X[keep], [lab for lab, k in zip(self.labels, keep, strict=True) if k],
                      [s for s, k in zip(self.seq_ids, keep, strict=True) if k])

    def with_labels(self, wanted: set[str]) -> Signer:
        return self.select(np.array([lab in wanted for lab in self.labels], bool))


def _to_signer(rec: Recording, layout: Layout) -> Signer:
    try:
        X = convert_layout(rec.X, rec.layout, layout)
    except ValueError as exc:
        raise DataError(f"{rec.path}: {exc}") from None
    names = [REST_LABEL if rec.labels[int(c)] in REST_ALIASES else rec.labels[int(c)] for c in rec.y]
    return Signer(rec.name, rec.path, np.ascontiguousarray(X, np.float32), names, list(rec.seq_ids))


def load_signers(paths: list[str | os.PathLike[str]], layout: Layout = POSE_HANDS_258,
                 window: int | None = None) -> list[Signer]:
    """Every path is one signer (an MP_Data folder or a signer `.npz`); names must differ;
    with `window`, every sequence must have that many frames (an error names the file)."""
    if not paths:
        raise InputError("no data given: pass MP_Data folders or signer .npz files")
    signers = [_to_signer(load_recording(p), layout) for p in paths]
    seen: dict[str, str] = {}
    for s in signers:
        if s.name in seen:
            raise InputError(f"{s.path}: signer name {s.name!r} is also {seen[s.name]}; each input is one signer")
        seen[s.name] = s.path
        if window is not None and len(s.X) and s.X.shape[1] != window:
            raise DataError(f"{s.path}: sequences have {s.X.shape[1]} frames; the model's window is {window}")
    return signers


def open_set(signers: list[Signer], vocabulary: tuple[str, ...] = VOCABULARY) -> list[Signer]:
    """The signers with every sign outside `vocabulary` (and not rest) relabelled `other`.
    A signer with none of the vocabulary is still used, for its signs as negatives (said once)."""
    wanted = set(vocabulary)
    out = []
    for s in signers:
        if s.labels and not wanted & set(s.labels):
            log.info("%s: none of the vocabulary (%s); its %d sequences are used as %s and rest",
                     s.path, ", ".join(sorted(set(s.labels))), len(s.labels), OTHER_LABEL)
        labels = [lab if lab in wanted or lab == REST_LABEL else OTHER_LABEL for lab in s.labels]
        out.append(Signer(s.name, s.path, s.X, labels, s.seq_ids))
    return out


def wanted_classes(signers: list[Signer], classes: list[str] | tuple[str, ...]) -> list[str]:
    """`classes` as the data names them (normalised, rest aliases as `blank`); a class that
    no signer has is an error naming what they have."""
    wanted = [normalize_label(c) for c in classes]
    wanted = [REST_LABEL if c in REST_ALIASES else c for c in wanted]
    have = {lab for s in signers for lab in s.labels}
    missing = [c for c in wanted if c not in have]
    if missing:
        raise InputError(f"class {missing[0]!r} is in none of the inputs (have: {', '.join(sorted(have))})")
    return wanted


def choose_classes(signers: list[Signer], classes: list[str] | None = None,
                   rest: bool = True) -> list[str]:
    """The classes to train, sorted, with the rest label first when it is kept.

    With `classes` given, exactly those (normalised) are kept. Otherwise a class is kept when
    at least two signers perform it: a sign that only one person made cannot be learnt for
    people in general. Every dropped class is logged as a warning naming the file; a wanted
    class that no signer has is an error.
    """
    per_class = Counter(lab for s in signers for lab in set(s.labels))
    if classes:
        keep = set(wanted_classes(signers, classes))
    else:
        keep = {c for c, n in per_class.items() if n >= 2 or c == REST_LABEL}
    if not rest:
        keep.discard(REST_LABEL)
    for s in signers:
        for lab in sorted(set(s.labels) - keep):
            n = s.labels.count(lab)
            why = "not in --classes" if classes else "no other signer has it"
            log.warning("%s: dropping class %r (%d sequences): %s", s.path, lab, n, why)
    signs = sorted(c for c in keep if c != REST_LABEL)
    if len(signs) < 2:
        raise InputError(f"need at least two sign classes to train; have {signs or 'none'}")
    return ([REST_LABEL] if REST_LABEL in keep or rest else []) + signs


def stack(signers: list[Signer], classes: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X (N, T, F), y (N,) indexes into `classes`, and the signer index of each sequence."""
    index = {c: i for i, c in enumerate(classes)}
    xs, ys, gs = [], [], []
    for g, s in enumerate(signers):
        keep = np.array([lab in index for lab in s.labels], bool)
        xs.append(s.X[keep])
        ys.append(np.array([index[lab] for lab in s.labels if lab in index], np.int64))
        gs.append(np.full(int(keep.sum()), g, np.int64))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)
