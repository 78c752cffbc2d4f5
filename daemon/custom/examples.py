"""The example windows of a sign to enroll, from wherever the user has them.

- a signer's sequences (`.npz` with X/y, an MP_Data folder): that sign's sequences as they are;
- anything `signd run` plays (a video, a keypoint recording, a camera): the keypoints go
  through the real pipeline (MediaPipe included) and the recognizer's own window rules, so an
  example is exactly a window the daemon will later classify. From a file, the examples are
  windows spread evenly over the part where a hand is up; from a camera, one window per
  countdown, the tutorial's way (`Countdown`).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from signd.daemon.assemble import build_pipeline, preflight
from signd.daemon.classifier import Classifier
from signd.daemon.config import RunConfig
from signd.daemon.errors import DataError, SigndError
from signd.daemon.keypoints import Keypoints
from signd.daemon.layout import MIN_HAND_FRAMES, Layout
from signd.daemon.protocol import EnrollEvent, Event
from signd.daemon.publishers.base import Publisher
from signd.daemon.recognizer import Recognition, Recognizer
from signd.daemon.recordings import load_recording

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Examples:
    windows: np.ndarray
    """(n, T, F) keypoint frames."""
    layout: Layout
    without_hands: int = 0
    """Examples left out because a hand was in fewer than MIN_HAND_FRAMES of their frames."""
    performances: int | None = None
    """From a file: how many separate runs of hand-up windows the examples come from."""


def from_sequences(path: str, label: str, limit: int) -> Examples:
    """The first `limit` sequences labelled `label` in a signer file; DataError when it has none."""
    rec = load_recording(path)
    names = [rec.labels[int(c)] for c in rec.y]
    idx = [i for i, n in enumerate(names) if n == label]
    if not idx:
        have = ", ".join(sorted(set(names)))
        raise DataError(f"{path}: no sequence labelled {label!r} (it has: {have}); pass --label")
    return _with_hands(rec.X[idx], rec.layout, limit)


def _with_hands(windows: np.ndarray, layout: Layout, limit: int) -> Examples:
    seen = layout.hand_frames(windows)
    keep = seen >= MIN_HAND_FRAMES
    return Examples(np.asarray(windows[keep][:limit], np.float32), layout, int((~keep).sum()))


class _Collector:
    """Takes the pipeline's recorder place: every frame the recognizer takes, in memory."""

    def __init__(self) -> None:
        self.frames: list[Keypoints] = []

    def add(self, kp: Keypoints) -> None:
        self.frames.append(kp)


def stream(cfg: RunConfig, on_tick: Callable[[float, Callable[[Event], None]], bool] | None = None,
           serve: bool = False, classifier: Classifier | None = None) -> tuple[list[Keypoints], Layout, float]:
    """The keypoints of `cfg`'s source as `signd run` takes them, and the time.monotonic() of
    the first. `on_tick(elapsed, post)` is called every half-tenth of a second from then on,
    with a way to publish events; False ends the source.
    With `serve` and a [socket] configured, it is served as `signd run` serves it (hello, the skeleton to
    clients that watch keypoints, `enroll` events): the kiosk page shows the session."""
    from signd.daemon.publishers.socket import SocketPublisher
    from signd.daemon.service import Service

    checked = preflight(cfg, classifier=classifier)
    publishers: list[Publisher] = []
    facts = Service(cfg, sinks=[])  # hello, status and describe, as the daemon answers them
    facts.state = "enrolling"
    if serve and (cfg.socket.path or cfg.socket.tcp):
        facts.socket = SocketPublisher(cfg.socket, facts.hello, facts.status, facts.describe, [])
        publishers.append(facts.socket)
    p = facts.pipeline = build_pipeline(cfg, publishers, checked=checked)
    collector = _Collector()
    p.recorder = collector  # type: ignore[assignment]  # only .add() is called
    try:
        for pub in publishers:
            pub.start()
    except BaseException:
        p.source.close()
        raise
    p.start()
    t0 = None
    try:
        while not p.wait(0.05):
            # The clock starts with the first frame through MediaPipe, which takes seconds to
            # start: a countdown before it would ask for signs that nobody records.
            if t0 is None and p.first_frame.is_set():
                t0 = time.monotonic()
            if on_tick is not None and t0 is not None and not on_tick(time.monotonic() - t0, p.post):
                break
    finally:
        p.request_stop()
        p.join()  # the publishing thread closes every publisher: socket clients get `bye`
    if p.error is not None:
        if isinstance(p.error, SigndError):
            raise p.error
        raise RuntimeError(f"pipeline stage failed: {p.error!r}") from p.error
    return collector.frames, p.layout, t0 if t0 is not None else time.monotonic()


def windows_of(frames: list[Keypoints], layout: Layout, length: int, recognition: Recognition) -> tuple[np.ndarray, np.ndarray]:
    """Every window the recognizer classifies over `frames`: (n, T, F) and the capture time
    (time.monotonic()) of each one's last frame."""
    got: list[np.ndarray] = []
    times: list[float] = []

    def keep(w: np.ndarray) -> np.ndarray:
        got.append(w.copy())
        return np.zeros(1, np.float32)

    r = Recognizer(["-"], length, layout, recognition, keep)
    for kp in frames:
        step = r.push(kp)
        if step.window is not None:
            times.append(step.window.t_capture)
    if not got:
        return np.zeros((0, length, layout.size), np.float32), np.zeros(0)
    return np.stack(got), np.array(times)


def spread(windows: np.ndarray, layout: Layout, limit: int) -> Examples:
    """`limit` windows spread evenly over those where a hand is up in most frames (else in at
    least MIN_HAND_FRAMES): the sign, not the moments before and after it. `performances` counts
    the runs of such windows: windows of one run overlap, so they say less about how the sign
    varies than as many separate performances."""
    seen = layout.hand_frames(windows)
    T = windows.shape[1]
    for need in (2 * T // 3, MIN_HAND_FRAMES):
        idx = np.flatnonzero(seen >= need)
        if len(idx) >= min(limit, 3):
            break
    pick = idx[np.unique(np.linspace(0, len(idx) - 1, min(limit, len(idx))).round().astype(int))] if len(idx) else idx
    runs = int(len(idx) > 0) + int((np.diff(idx) > 1).sum()) if len(idx) else 0
    return Examples(windows[pick], layout, 0, runs)


class Countdown:
    """A camera session, the tutorial's way: for each example a countdown, then `record`
    seconds of signing. Says what to do on stderr and as `enroll` events (the kiosk page shows
    them), and remembers when each example was made."""

    def __init__(self, name: str, examples: int, pause: float, record: float,
                 say: Callable[[str], None] | None = None) -> None:
        self.name, self.examples, self.pause, self.record = name, examples, pause, record
        self.say = say or (lambda s: print(s, file=sys.stderr, flush=True))
        self.spans: list[tuple[float, float]] = []
        self._said = ""

    def __call__(self, elapsed: float, post: Callable[[Event], None]) -> bool:
        cycle = self.pause + self.record
        i = int(elapsed // cycle)
        if i >= self.examples:
            self._tell(post, EnrollEvent(self.name, self.examples, self.examples, "done", 0.0,
                                         f"{self.name}: {self.examples} examples recorded"))
            return False
        into = elapsed - i * cycle
        if into < self.pause:
            left = int(self.pause - into) + 1
            event = EnrollEvent(self.name, i + 1, self.examples, "ready", float(left),
                                f"{self.name} {i + 1}/{self.examples}: get ready ... {left}")
        else:
            start = i * cycle + self.pause
            if len(self.spans) <= i:
                self.spans.append((start, start + self.record))
            event = EnrollEvent(self.name, i + 1, self.examples, "sign", round(start + self.record - elapsed, 1),
                                f"{self.name} {i + 1}/{self.examples}: SIGN NOW")
        self._tell(post, event)
        return True

    def _tell(self, post: Callable[[Event], None], event: EnrollEvent) -> None:
        if event.message != self._said:
            self.say(event.message)
            post(event)
            self._said = event.message


def from_source(cfg: RunConfig, limit: int, countdown: Countdown | None, classifier: Classifier,
                recognition: Recognition) -> Examples:
    """Examples from what `signd run` would play: a file's hand-up windows spread evenly, or,
    with `countdown` (a camera), the window of each countdown with the most hand frames."""
    cfg = replace(cfg, source=replace(cfg.source, fast=not countdown, repeat=1))
    frames, layout, t0 = stream(cfg, countdown, serve=countdown is not None, classifier=classifier)
    windows, times = windows_of(frames, layout, classifier.window, recognition)
    if countdown is None or not len(windows):
        return spread(windows, layout, limit)
    times = times - t0
    seen = layout.hand_frames(windows)
    picked, without = [], 0
    for a, b in countdown.spans:
        inside = np.flatnonzero((times >= a) & (times <= b + 0.5))
        if not len(inside) or seen[inside].max() < MIN_HAND_FRAMES:
            without += 1
            continue
        picked.append(inside[np.argmax(seen[inside])])
    return Examples(windows[picked], layout, without)


def describe_source(uri: str) -> str:
    return Path(uri).name if Path(uri).exists() else uri
