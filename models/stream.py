"""Stream evaluation: a signer's sequences played back to back with rest between them through
the runtime's own recognizer (`signd.daemon.recognizer`, the object the daemon's inference
thread runs, with the same settings resolved the same way), counting correct, missed and false
events.

The stream for one signer: every sequence once, in a shuffled (seeded) order, each preceded
by `rest_seconds` of rest. Rest is the signer's own recorded rest (the `blank` class) where the
recording has it, else the body of the next sequence with the arms lowered and no hands in view
(the signer lowered their hands out of the picture). Each sequence is a segment; an event
belongs to the segment whose frames, or the `tail` after them, contain the event's last
frame (a window still holds a sign for a while after it ends). Events elsewhere are false
events in rest.

- a known sign's segment is a hit when one of its events has its label, else a miss; every
  other event of the segment (wrong label, repeat) is a false event;
- an unknown sign's segment (a class the model does not have) counts whether it gave any event;
- F1 = 2 hits / (2 hits + false events + misses), false events in rest included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from signd.daemon.config import WindowConfig
from signd.daemon.keypoints import Keypoints
from signd.daemon.layout import Layout
from signd.daemon.recognizer import Recognition, Recognizer
from signd.daemon.smoothing import Decision, SmoothingOverrides

from .augment import arms_down
from .dataset import REST_LABEL, Signer
from .manifest import RuntimeHints

WindowPredictor = Callable[[np.ndarray], np.ndarray]  # windows (N, T, F) -> probs (N, K)


@dataclass(frozen=True)
class StreamSettings:
    """How the stream is played (how it is recognised is a `Recognition`)."""

    fps: float = 30.0
    rest_seconds: float = 2.0
    seed: int = 0


def recognition_for(hints: RuntimeHints, window: WindowConfig | None = None) -> Recognition:
    """How `signd run` recognises with a model that recommends `hints`, when the user set
    nothing but `window` (e.g. the stride of `signd evaluate --stride`)."""
    return Recognition.resolve(window or WindowConfig(), SmoothingOverrides(), hints)


def tail_frames(length: int, recognition: Recognition, fps: float) -> int:
    """Frames after a segment's end whose events still belong to it: one window, plus the time
    the recognizer takes to notice the hands are gone."""
    w = recognition.window
    span = int(round(w.seconds * fps)) if w.seconds else length
    return span + int(round(w.reset_after * fps))


@dataclass
class Segment:
    label: str
    start: int
    end: int  # exclusive
    known: bool


@dataclass
class StreamScore:
    """Counts for one signer's stream (or the sum of several)."""

    signer: str
    signs: int = 0
    hits: int = 0
    misses: int = 0
    false_events: int = 0  # wrong label or repeat within a sign, or any event in rest
    rest_false_events: int = 0
    rest_seconds: float = 0.0
    unknown: int = 0  # unknown-sign segments
    unknown_with_event: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def f1(self) -> float:
        d = 2 * self.hits + self.false_events + self.misses
        return 2 * self.hits / d if d else float("nan")

    @property
    def rest_false_per_minute(self) -> float:
        return self.rest_false_events / (self.rest_seconds / 60.0) if self.rest_seconds else float("nan")

    @property
    def unknown_event_rate(self) -> float:
        return self.unknown_with_event / self.unknown if self.unknown else float("nan")

    def add(self, other: StreamScore) -> None:
        for name in ("signs", "hits", "misses", "false_events", "rest_false_events", "rest_seconds",
                     "unknown", "unknown_with_event"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self, with_events: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_events:
            d.pop("events")
        d.update(f1=self.f1, rest_false_per_minute=self.rest_false_per_minute,
                 unknown_event_rate=self.unknown_event_rate)
        return d


def _rest_like(frames: np.ndarray, layout: Layout, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` frames of the body in `frames[0]` with the arms lowered and no hands in view."""
    out = np.repeat(frames[:1], n, axis=0).copy()
    out = arms_down(out[None], layout, rng)[0]
    out[:, layout.left_hand] = 0.0
    out[:, layout.right_hand] = 0.0
    if layout.face is not None:
        out[:, layout.face] = 0.0
    return out


def build_stream(signer: Signer, layout: Layout, known: set[str],
                 settings: StreamSettings) -> tuple[np.ndarray, list[Segment], np.ndarray]:
    """Frames (N, F), the sign segments, and a mask of rest frames."""
    rng = np.random.default_rng(settings.seed)
    rest_n = int(round(settings.rest_seconds * settings.fps))
    labels = np.array(signer.labels)
    real_rest = signer.X[labels == REST_LABEL].reshape(-1, signer.X.shape[-1])
    signs = np.nonzero(labels != REST_LABEL)[0]
    order = rng.permutation(signs)
    chunks: list[np.ndarray] = []
    segments: list[Segment] = []
    rest_mask: list[np.ndarray] = []
    pos = rest_pos = 0
    for i in order:
        seq = signer.X[i]
        if len(real_rest) >= rest_n:
            if rest_pos + rest_n > len(real_rest):
                rest_pos = 0
            rest = real_rest[rest_pos : rest_pos + rest_n]
            rest_pos += rest_n
        else:
            rest = _rest_like(seq, layout, rest_n, rng)
        chunks += [rest, seq]
        rest_mask += [np.ones(len(rest), bool), np.zeros(len(seq), bool)]
        segments.append(Segment(str(labels[i]), pos + len(rest), pos + len(rest) + len(seq),
                                str(labels[i]) in known))
        pos += len(rest) + len(seq)
    # Then the signer's recorded rest that was not used between signs, and a last pause.
    if rest_pos < len(real_rest):
        chunks.append(real_rest[rest_pos:])
        rest_mask.append(np.ones(len(real_rest) - rest_pos, bool))
    if len(order):
        chunks.append(_rest_like(signer.X[order[-1]], layout, rest_n, rng))
        rest_mask.append(np.ones(rest_n, bool))
    if not chunks:
        return np.zeros((0, signer.X.shape[-1]), np.float32), [], np.zeros(0, bool)
    return np.concatenate(chunks).astype(np.float32), segments, np.concatenate(rest_mask)


def run_stream(frames: np.ndarray, layout: Layout, predict: WindowPredictor, labels: list[str],
               length: int, recognition: Recognition, fps: float) -> list[Decision]:
    """The decisions of the runtime's recognizer over `frames`, a continuous stream at `fps`,
    windows classified in batches by `predict`."""
    recognizer = Recognizer(labels, length, layout, recognition, lambda w: predict(w[None])[0])
    return recognizer.run(Keypoints.stream(frames, layout, fps), predict)


def score_stream(signer: str, decisions: list[Decision], segments: list[Segment],
                 rest_mask: np.ndarray, settings: StreamSettings, tail: int) -> StreamScore:
    """Attribute events to segments and count (see the module doc)."""
    score = StreamScore(signer)
    owner = np.full(len(rest_mask) + tail + 1, -1, np.int64)
    for j, seg in enumerate(segments):
        span = slice(seg.start, seg.end + tail)
        owner[span] = np.where(owner[span] == -1, j, owner[span])
        owner[seg.start : seg.end] = j  # a sign's own frames are its, whatever came before
    per_seg: dict[int, list[str]] = {}
    for d in decisions:
        j = int(owner[min(d.frame, len(owner) - 1)])
        score.events.append({"label": d.label, "frame": d.frame, "segment": j,
                             "truth": segments[j].label if j >= 0 else "rest"})
        if j < 0:
            score.rest_false_events += 1
            score.false_events += 1
        else:
            per_seg.setdefault(j, []).append(d.label)
    for j, seg in enumerate(segments):
        got = per_seg.get(j, [])
        if not seg.known:
            score.unknown += 1
            score.unknown_with_event += int(bool(got))
            continue
        score.signs += 1
        if seg.label in got:
            score.hits += 1
            score.false_events += len(got) - 1
        else:
            score.misses += 1
            score.false_events += len(got)
    score.rest_seconds = float(rest_mask.sum()) / settings.fps
    return score


def stream_summary(scores: list[StreamScore]) -> dict[str, Any]:
    """Every signer's stream counts and their sum."""
    total = StreamScore("all")
    for s in scores:
        total.add(s)
    return {"signers": [s.to_dict() for s in scores], "total": total.to_dict()}


def evaluate_stream(signer: Signer, layout: Layout, predict: WindowPredictor, labels: list[str],
                    recognition: Recognition, settings: StreamSettings, length: int) -> StreamScore:
    """One signer's stream, played and scored: `length`-frame windows of `layout` keypoints."""
    # Segments of labels that never fire (rest, other) are scored as unknown signs: they
    # should give no event.
    known = {lab for lab in labels if lab not in recognition.smoothing.rest_labels}
    frames, segments, rest_mask = build_stream(signer, layout, known, settings)
    decisions = run_stream(frames, layout, predict, labels, length, recognition, settings.fps)
    return score_stream(signer.name, decisions, segments, rest_mask, settings,
                        tail_frames(length, recognition, settings.fps))
