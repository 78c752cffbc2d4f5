"""Custom signs beside the model: fitted from a few examples, matched on every window.

Fitting (`fit`) keeps the examples' descriptors and sets one threshold: the smaller of
  - 1.2 x the largest distance from an example to its nearest other example (how far this
    person's sign strays from itself), and
  - the distance within which 0.5% of the background (other people's signs and rest, minus
    any of the same name) falls.
Measured on the shared recordings (docs/enroll.md, bench/enroll.py): the first alone let
custom signs fire on 7-17% of everything else; with the second, ~0.5%.

Matching (`CustomMatcher.apply`) turns the model's probabilities (K,) into K + C: a window's
distance d to the nearest custom sign, over its threshold t, gives that sign the score
0.8 ** ((d/t)**2) (0.8 at the threshold, the shipped model's recommended smoother threshold)
and scales the model's probabilities by what is left, so the smoother and every event treat
a custom sign like any other. A new sign does not take a window that the model gives to one of
its own signs with 0.8 or more: the nine signs keep their accuracy. Extra examples of a
built-in sign (`adapts`) add their score to that sign instead, and do override the model:
they exist because the model hears something else in this person's sign.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .background import Background
from .store import MIN_EXAMPLES, CustomSign, CustomSigns

LOO_FACTOR = 1.2
BACKGROUND_SHARE = 0.005
GATE = 0.8
"""A new sign stays silent where the model gives one of its own signs this much."""
AT_THRESHOLD = 0.8
_FAR = 3.0  # beyond 3 thresholds the score is ~0.13% (0.8**9): not worth computing


def fit(name: str, examples: np.ndarray, background: Background, *, adapts: bool = False,
        source: str = "", created: str = "") -> CustomSign:
    """A custom sign from descriptors (n, SIZE) of n >= 3 examples of one person."""
    ex = np.asarray(examples, np.float32)
    if len(ex) < MIN_EXAMPLES:
        raise ValueError(f"{len(ex)} examples; at least {MIN_EXAMPLES} are needed")
    e = ex / background.scale
    d = np.sqrt(((e[:, None, :] - e[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    own = LOO_FACTOR * float(d.min(axis=1).max())
    bank = background.bank[background.labels != name] / background.scale
    near = np.sqrt(((bank[:, None, :] - e[None]) ** 2).sum(-1)).min(axis=1)
    others = float(np.quantile(near, BACKGROUND_SHARE)) if len(near) else own
    threshold = max(min(own, others), 1e-6)
    return CustomSign(name, ex, threshold, adapts, source, created)


class CustomMatcher:
    """The custom signs of one file, for one model's labels."""

    def __init__(self, signs: CustomSigns, model_labels: Sequence[str], scale: np.ndarray,
                 not_signs: Sequence[str]) -> None:
        self.signs = list(signs.signs)
        labels = list(model_labels)
        self.new_labels = [s.name for s in self.signs if not s.adapts]
        self.labels = labels + self.new_labels
        # Where each sign's score goes: its own column, or the built-in sign it adapts.
        new = {n: len(labels) + i for i, n in enumerate(self.new_labels)}
        self._column = np.array([labels.index(s.name) if s.adapts else new[s.name] for s in self.signs], int)
        self._gated = np.array([not s.adapts for s in self.signs], bool)
        self._own = np.array([i for i, n in enumerate(labels) if n not in not_signs], int)
        self._scale = np.asarray(scale, np.float32)
        self._examples = (np.concatenate([s.examples for s in self.signs]) / self._scale
                          if self.signs else np.zeros((0, len(scale)), np.float32))
        self._starts = np.cumsum([0] + [len(s.examples) for s in self.signs[:-1]]).astype(int)
        self._threshold = np.array([s.threshold for s in self.signs], np.float32)
        self._sq = (self._examples ** 2).sum(1)

    def ratios(self, desc: np.ndarray) -> np.ndarray:
        """Descriptors (N, SIZE) -> (N, C): distance to each sign's nearest example over its threshold."""
        x = np.asarray(desc, np.float32).reshape(-1, self._scale.size) / self._scale
        sq = (x * x).sum(1)[:, None] - 2.0 * x @ self._examples.T + self._sq[None]
        d = np.sqrt(np.maximum(sq, 0.0))
        return np.minimum.reduceat(d, self._starts, axis=1) / self._threshold

    def apply_many(self, probs: np.ndarray, desc: np.ndarray) -> np.ndarray:
        """Model probabilities (N, K) and window descriptors (N, SIZE) -> (N, K + C)."""
        p = np.asarray(probs, np.float32).reshape(len(desc) if np.ndim(desc) == 2 else 1, -1)
        out = np.zeros((len(p), len(self.labels)), np.float32)
        out[:, : p.shape[1]] = p
        if not self.signs:
            return out
        r = self.ratios(desc)
        if self._own.size:
            sure = p[:, self._own].max(axis=1) >= GATE
            r[sure[:, None] & self._gated[None]] = np.inf
        best = r.argmin(axis=1)
        rb = r[np.arange(len(r)), best]
        near = rb < _FAR
        score = np.where(near, AT_THRESHOLD ** (np.where(near, rb, 0.0) ** 2), 0.0).astype(np.float32)
        out *= (1.0 - score)[:, None]
        out[np.arange(len(out)), self._column[best]] += score
        return out

    def apply(self, probs: np.ndarray, desc: np.ndarray) -> np.ndarray:
        """One window: probabilities (K,) and its descriptor (SIZE,) -> (K + C,)."""
        return self.apply_many(probs[None], desc[None])[0]
