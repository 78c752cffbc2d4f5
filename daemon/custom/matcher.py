"""Custom signs beside the model: fitted from a few examples, matched on every window.

Fitting (`fit`) keeps the examples' descriptors and sets one threshold: the smaller of
  - 1.2 x the largest distance from an example to its nearest other example (how far this
    person's sign strays from itself), and
  - the distance within which 0.5% of the background (other people's signs and rest, minus
    any of the same name) falls.
Distances are taken after the background's projection (scaled, whitened within signs).
Measured on the shared recordings (docs/enroll.md, bench/enroll.py): the first bound alone let
custom signs fire on 7-17% of everything else; with the second, 0.3%.

Matching (`CustomMatcher.apply`) turns the model's probabilities (K,) into K + C: a window
within the threshold t of a custom sign's example (distance d <= t) gives that sign the score
0.8 ** ((d/t)**2) (1 on an example, 0.8 at the threshold, the shipped model's recommended
smoother threshold) and scales the model's probabilities by what is left; a window outside
every threshold leaves the model's probabilities as they are; so the smoother and every event treat
a custom sign like any other. A new sign does not take a window that the model gives to one of
its own signs with 0.9 or more, unless it is within half its threshold: the nine signs keep
their accuracy (measured: moves by 0.3 points at most). A model without a rest or `other`
label has no gate: its softmax is sure of one of its signs for nearly anything. Extra examples of a
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
GATE = 0.9
"""A new sign stays silent where the model gives one of its own signs this much..."""
AT_THRESHOLD = 0.8
OVERRIDE = 0.5
"""... unless the window is within this share of its threshold."""


def fit(name: str, examples: np.ndarray, background: Background, *, adapts: bool = False,
        source: str = "", created: str = "") -> CustomSign:
    """A custom sign from descriptors (n, SIZE) of n >= 3 examples of one person."""
    ex = np.asarray(examples, np.float32)
    if len(ex) < MIN_EXAMPLES:
        raise ValueError(f"{len(ex)} examples; at least {MIN_EXAMPLES} are needed")
    e = ex @ background.project
    d = np.sqrt(((e[:, None, :] - e[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    own = LOO_FACTOR * float(d.min(axis=1).max())
    if own <= 1e-6:
        raise ValueError("the examples are all the same window; record the sign several times")
    bank = background.bank[background.labels != name] @ background.project
    near = np.sqrt(((bank[:, None, :] - e[None]) ** 2).sum(-1)).min(axis=1)
    others = float(np.quantile(near, BACKGROUND_SHARE)) if len(near) else own
    return CustomSign(name, ex, min(own, others), adapts, source, created, background.id)


class CustomMatcher:
    """The custom signs of one file, for one model's labels."""

    def __init__(self, signs: CustomSigns, model_labels: Sequence[str], project: np.ndarray,
                 not_signs: Sequence[str]) -> None:
        self.signs = list(signs.signs)
        labels = list(model_labels)
        self.new_labels = [s.name for s in self.signs if not s.adapts]
        self.labels = labels + self.new_labels
        # Where each sign's score goes: its own column, or the built-in sign it adapts.
        new = {n: len(labels) + i for i, n in enumerate(self.new_labels)}
        self._column = np.array([labels.index(s.name) if s.adapts else new[s.name] for s in self.signs], int)
        self._gated = np.array([not s.adapts for s in self.signs], bool)
        # The gate needs a model that can say "none of mine" (rest, other): a tutorial model's
        # softmax over three signs is sure of one of them for nearly anything.
        can_refuse = any(n in not_signs for n in labels)
        self._own = np.array([i for i, n in enumerate(labels) if n not in not_signs and can_refuse], int)
        self._project = np.asarray(project, np.float32)
        self._examples = (np.concatenate([s.examples for s in self.signs]) @ self._project
                          if self.signs else np.zeros((0, len(project)), np.float32))
        self._starts = np.cumsum([0] + [len(s.examples) for s in self.signs[:-1]]).astype(int)
        self._threshold = np.array([s.threshold for s in self.signs], np.float32)

    def ratios(self, desc: np.ndarray) -> np.ndarray:
        """Descriptors (N, SIZE) -> (N, C): distance to each sign's nearest example over its threshold."""
        x = np.asarray(desc, np.float32).reshape(-1, len(self._project)) @ self._project
        # Differences, not |x|^2 - 2 x.e + |e|^2: that loses the small distances that matter
        # most to cancellation. In slices, so a batch never holds more than a few MB.
        d = np.empty((len(x), len(self._examples)), np.float32)
        step = max(1, (1 << 20) // max(1, self._examples.size))
        for i in range(0, len(x), step):
            diff = x[i:i + step, None, :] - self._examples[None]
            d[i:i + step] = np.sqrt(np.einsum("nmk,nmk->nm", diff, diff))
        return np.minimum.reduceat(d, self._starts, axis=1) / self._threshold

    def apply_many(self, probs: np.ndarray, desc: np.ndarray) -> np.ndarray:
        """Model probabilities (N, K) and window descriptors (N, SIZE) -> (N, K + C)."""
        p = np.asarray(probs, np.float32)
        out = np.zeros((len(p), len(self.labels)), np.float32)
        out[:, : p.shape[1]] = p
        if not self.signs:
            return out
        r = self.ratios(desc)
        if self._own.size:
            sure = p[:, self._own].max(axis=1) >= GATE
            r[sure[:, None] & self._gated[None] & (r > OVERRIDE)] = np.inf
        best = r.argmin(axis=1)
        rb = r[np.arange(len(r)), best]
        # Only a window within a threshold is touched: a sign near but outside one must not
        # take probability from the model's own signs (an event of theirs would be lost).
        near = rb <= 1.0
        score = np.where(near, AT_THRESHOLD ** (np.where(near, rb, 0.0) ** 2), 0.0).astype(np.float32)
        out *= (1.0 - score)[:, None]
        out[np.arange(len(out)), self._column[best]] += score
        return out

    def apply(self, probs: np.ndarray, desc: np.ndarray) -> np.ndarray:
        """One window: probabilities (K,) and its descriptor (SIZE,) -> (K + C,). What
        `apply_many` gives for one row, in a third of its time (this runs on every window)."""
        out = np.zeros(len(self.labels), np.float32)
        out[: len(probs)] = probs
        if not self.signs:
            return out
        diff = self._examples - np.asarray(desc, np.float32) @ self._project
        r = np.minimum.reduceat(np.sqrt(np.einsum("mk,mk->m", diff, diff)), self._starts) / self._threshold
        if self._own.size and float(probs[self._own].max()) >= GATE:
            r[self._gated & (r > OVERRIDE)] = np.inf
        best = int(r.argmin())
        rb = float(r[best])
        if rb <= 1.0:
            score = np.float32(AT_THRESHOLD ** (rb * rb))
            out *= 1.0 - score
            out[self._column[best]] += score
        return out
