"""From a stream of per-window probabilities to one decision per performed sign.

Replaces the tutorial's rule (emit whenever `np.unique` of the last 10 predictions agrees),
which repeats while a sign is held and flickers on noise. Pure: no I/O, no clock reads.

A window's prediction counts only when its top probability reaches `threshold` (and it is not
a rest label). A label fires when it holds the majority of the last `majority` predictions and
has been the prediction of the last `min_hold` windows in a row. It then stays *active* and
cannot fire again until the majority moves off it (the sign was released), so a held pose
gives one event. After any event, nothing fires for `cooldown` seconds of media time.

A segment ends when the source says so (a replayed clip ends, a camera is reopened) or the
signer has gone: `end_segment()` then fires a sign that was still building up, counting a
segment shorter than `min_hold` windows as held when all of its windows agree. That is what
makes a replayed 30-frame clip, which is one window at stride 1, give its one event.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field, fields, replace

import numpy as np


@dataclass(frozen=True)
class SmoothingConfig:
    """How sure, how long and how often: the knobs of the smoother."""

    majority: int = 10
    """Predictions to vote over (the tutorial used the last 10)."""
    threshold: float = 0.7
    """Top probability a window needs for its prediction to count."""
    min_hold: int = 3
    """Windows in a row that must agree before a sign fires."""
    cooldown: float = 0.5
    """Seconds (media time) after an event during which nothing fires."""
    sentence_length: int = 5
    """Distinct words kept in the sentence, as the tutorial's display did."""
    rest_labels: tuple[str, ...] = ("blank", "rest", "other")
    """Labels that never fire: nobody is signing (blank, rest), or a sign the model learnt
    to tell apart as not one of its own (other)."""

    def __post_init__(self) -> None:
        for name in ("majority", "min_hold", "sentence_length"):
            if not 1 <= getattr(self, name) <= 1000:
                raise ValueError(f"{name} must be within 1..1000, got {getattr(self, name)}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be within 0..1, got {self.threshold}")
        if not (math.isfinite(self.cooldown) and 0 <= self.cooldown <= 3600):
            raise ValueError(f"cooldown must be within 0..3600 seconds, got {self.cooldown}")


@dataclass(frozen=True)
class SmoothingOverrides:
    """Some of the smoother's knobs, the rest unset (None): what a model recommends
    (`Manifest.runtime.smoothing`) and what the user sets (`[smoothing]`, flags). The defaults
    are `SmoothingConfig`'s, and only there."""

    majority: int | None = None
    threshold: float | None = None
    min_hold: int | None = None
    cooldown: float | None = None
    sentence_length: int | None = None
    rest_labels: tuple[str, ...] | None = None

    def apply(self, base: SmoothingConfig) -> SmoothingConfig:
        """`base` with the knobs set here replaced (ValueError when the result is out of range)."""
        given = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        return replace(base, **given)


@dataclass
class Decision:
    """A sign the smoother decided was performed."""

    label: str
    score: float  # mean top probability over the windows that made the decision
    probs: np.ndarray  # the last window's probabilities, in label order
    frame: int
    t_capture: float
    t_media: float
    sentence: list[str] = field(default_factory=list)


class Smoother:
    """Feed it every window's probabilities with `update`; it returns a Decision or None."""

    def __init__(self, labels: list[str], config: SmoothingConfig | None = None) -> None:
        self.labels = list(labels)
        self.config = config or SmoothingConfig()
        self._rest = {i for i, name in enumerate(self.labels) if name in self.config.rest_labels}
        self.sentence: list[str] = []
        self._last_emit: float | None = None
        self._clear_segment()

    def _clear_segment(self) -> None:
        self._history: deque[int | None] = deque(maxlen=self.config.majority)
        self._run_label: int | None = None
        self._run_scores: list[float] = []
        self._active: int | None = None
        self._windows = 0
        self._last: tuple[np.ndarray, int, float, float] | None = None

    def _majority(self) -> int | None:
        votes = Counter(p for p in self._history if p is not None)
        if not votes:
            return None
        label, count = votes.most_common(1)[0]
        return label if count * 2 > len(self._history) else None

    def _cooled(self, t_media: float) -> bool:
        return self._last_emit is None or t_media - self._last_emit >= self.config.cooldown - 1e-9

    def _fire(self, label: int) -> Decision:
        assert self._last is not None
        probs, frame, t_capture, t_media = self._last
        name = self.labels[label]
        self._active = label
        self._last_emit = t_media
        if not self.sentence or self.sentence[-1] != name:
            self.sentence.append(name)
            del self.sentence[: -self.config.sentence_length]
        score = float(np.mean(self._run_scores[-max(self.config.min_hold, 1) :]))
        return Decision(name, score, probs, frame, t_capture, t_media, list(self.sentence))

    def update(self, probs: np.ndarray, frame: int, t_capture: float, t_media: float) -> Decision | None:
        """One window's probabilities (in label order)."""
        top = int(np.argmax(probs))
        conf = float(probs[top])
        pred = top if conf >= self.config.threshold and top not in self._rest else None
        self._history.append(pred)
        self._windows += 1
        self._last = (probs, frame, t_capture, t_media)
        if pred is not None and pred == self._run_label:
            self._run_scores.append(conf)
        else:
            self._run_label = pred
            self._run_scores = [conf] if pred is not None else []
        majority = self._majority()
        if majority != self._active:
            self._active = None  # the held sign was released (or never was)
        if (
            majority is not None
            and majority != self._active
            and self._run_label == majority
            and len(self._run_scores) >= self.config.min_hold
            and self._cooled(t_media)
        ):
            return self._fire(majority)
        return None

    def end_segment(self) -> Decision | None:
        """The stream was cut: fire what was building up (see the module doc), then start over."""
        decision = None
        label = self._run_label
        if (
            label is not None
            and self._last is not None
            and label != self._active
            and self._majority() == label
            and len(self._run_scores) >= min(self.config.min_hold, self._windows)
            and self._cooled(self._last[3])
        ):
            decision = self._fire(label)
        self._clear_segment()
        return decision
