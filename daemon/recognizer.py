"""The recognizer: keypoints with their frame facts in, decisions out. Pure: no threads, no
clock reads; the model is a function it is given.

The rules, in order, for every frame:
  1. a new segment (a replayed clip starts, a camera was reopened) cuts the stream;
  2. hands absent for `window.reset_after` seconds cut it;
  3. the frame goes into the window (frames, or `window.seconds` of them at any rate), and a
     window that is due is classified and its probabilities go to the smoother;
  4. the last frame of a segment cuts the stream.
A cut ends the smoother's segment (which may fire the sign that was building up) and empties
the window. The daemon's inference thread feeds it frame by frame (`push`); every evaluation
(streams of recordings, videos, the low-fps bench) runs the same object over a whole stream
(`run`), classifying windows in batches, which gives the same decisions.

What a model recommends and what the user sets meet in `Recognition.resolve`, in one order:
the user's settings, then the model's (`Manifest.runtime`), then the built-in defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from signd.models.manifest import RuntimeHints

from .config import WindowConfig
from .keypoints import Keypoints
from .layout import Layout
from .smoothing import Decision, Smoother, SmoothingConfig, SmoothingOverrides
from .window import TimedWindowBuffer, Window, WindowBuffer

Predict = Callable[[np.ndarray], np.ndarray]
"""One window (T, F) of keypoints in the recognizer's layout -> probabilities (K,)."""
PredictMany = Callable[[np.ndarray], np.ndarray]
"""Windows (N, T, F) -> probabilities (N, K)."""

_BATCH = 1024  # windows classified at once by `run`: bounded memory on long streams


@dataclass(frozen=True)
class Recognition:
    """The recognizer's settings, resolved: `window.seconds` is a number (0 = the last frames)."""

    window: WindowConfig = field(default_factory=WindowConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)

    @classmethod
    def resolve(cls, window: WindowConfig, smoothing: SmoothingOverrides, hints: RuntimeHints) -> Recognition:
        """User > model > built-in, for every knob (ValueError if the result is out of range)."""
        seconds = window.seconds if window.seconds is not None else hints.window_seconds
        return cls(
            replace(window, seconds=seconds or 0.0),
            smoothing.apply(hints.smoothing.apply(SmoothingConfig())),
        )

    def describe(self, length: int) -> str:
        s = self.window.seconds
        return f"{length} rows over {s:g} s" if s else f"the last {length} frames"


class _Cut:
    """A step of the window rules: the stream was cut here."""


class _Pushed:
    """A step of the window rules: the frame is in the window (what came before it was the
    stream before this frame)."""


CUT = _Cut()
PUSHED = _Pushed()


@dataclass(frozen=True, slots=True)
class _Classified:
    """Where a window was, once its frames have gone to be classified in a batch."""

    frame: int
    t_capture: float
    t_media: float


@dataclass(frozen=True, slots=True)
class Step:
    """What one frame did. `earlier` are decisions of the stream before this frame (a cut at
    its start fired what was building up); `decisions` come from this frame's window and a cut
    at its end. A daemon publishes them in that order, around whatever it says of the frame."""

    earlier: list[Decision]
    decisions: list[Decision]
    window: Window | None = None
    """The window classified at this frame (read it before the next push: it may be a view)."""
    probs: np.ndarray | None = None
    """That window's probabilities, in label order."""
    resets: int = 0
    """Windows that held frames when the stream was cut."""


class Recognizer:
    def __init__(self, labels: Sequence[str], length: int, layout: Layout, settings: Recognition,
                 predict: Predict) -> None:
        self.labels = list(labels)
        self.length = length
        self.layout = layout
        self.settings = settings
        self._predict = predict
        w = settings.window
        self._window = (
            TimedWindowBuffer(length, layout.size, w.seconds, w.stride, w.reset_after) if w.seconds
            else WindowBuffer(length, layout.size, w.stride, w.reset_after)
        )
        self._smoother = Smoother(self.labels, settings.smoothing)
        self._segment: int | None = None
        self._resets = 0

    def _cut(self) -> _Cut:
        self._resets += self._window.filled > 0
        self._window.reset()
        return CUT

    def _steps(self, kp: Keypoints) -> Iterator[Window | _Cut | _Pushed]:
        """The window rules for one frame (see the module doc); a Window is to be classified
        before the next step is taken."""
        if self._segment is not None and kp.segment != self._segment:
            yield self._cut()
        self._segment = kp.segment
        if self._window.absent_too_long(kp.hands, kp.t_media):
            yield self._cut()
        win = self._window.push(kp.values, kp.frame, kp.t_capture, kp.t_media)
        yield PUSHED
        if win is not None:
            yield win
        if kp.segment_end:
            yield self._cut()

    def _decide(self, step: Window | _Classified | _Cut, probs: np.ndarray | None) -> Decision | None:
        if isinstance(step, _Cut):
            return self._smoother.end_segment()
        assert probs is not None
        return self._smoother.update(probs, step.frame, step.t_capture, step.t_media)

    def push(self, kp: Keypoints) -> Step:
        """One frame."""
        earlier: list[Decision] = []
        later: list[Decision] = []
        out = earlier
        window = probs = None
        self._resets = 0
        for step in self._steps(kp):
            if isinstance(step, _Pushed):
                out = later
                continue
            p = None
            if isinstance(step, Window):
                p = self._predict(step.frames)
                window, probs = step, p
            d = self._decide(step, p)
            if d is not None:
                out.append(d)
        return Step(earlier, later, window, probs, self._resets)

    def finish(self) -> Step:
        """The stream ended (or this recognizer is being replaced): decide what was building up."""
        self._resets = 0
        d = self._smoother.end_segment()
        self._cut()
        self._segment = None
        return Step([], [d] if d is not None else [], resets=self._resets)

    def run(self, keypoints: Iterable[Keypoints], predict_many: PredictMany | None = None) -> list[Decision]:
        """Every decision of a whole stream, its end included: what `push` frame by frame and
        then `finish` give. With `predict_many`, windows are classified in batches."""
        if predict_many is None:
            out = [d for kp in keypoints for s in [self.push(kp)] for d in s.earlier + s.decisions]
            return out + self.finish().decisions
        steps: list[_Classified | _Cut] = []
        pending: list[np.ndarray] = []
        done: list[np.ndarray] = []
        for kp in keypoints:
            for step in self._steps(kp):
                if isinstance(step, _Pushed):
                    continue
                if isinstance(step, Window):
                    # The window stage never depends on the decisions, so it may run ahead;
                    # only a batch of windows' frames is kept at a time.
                    pending.append(step.frames.copy())
                    steps.append(_Classified(step.frame, step.t_capture, step.t_media))
                    if len(pending) == _BATCH:
                        done.append(predict_many(np.stack(pending)))
                        pending = []
                else:
                    steps.append(step)
        if pending:
            done.append(predict_many(np.stack(pending)))
        probs = iter(np.concatenate(done)) if done else iter(())
        out = []
        for step in steps:
            d = self._decide(step, next(probs) if isinstance(step, _Classified) else None)
            if d is not None:
                out.append(d)
        return out + self.finish().decisions
