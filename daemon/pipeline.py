"""The threads of `signd run`, the bounded queues between them, and the one stop event.

    capture ──frames──▶ extraction ──keypoints──▶ inference + smoothing ──events──▶ publishing

Capture never waits on the extractor when the source is live (the newest frame wins, drops
are counted). Inference is cheap next to extraction, so the pipeline runs at the extractor's
own speed. Publishing has its own thread and a bounded queue, so a slow sink never holds up
recognition. Any stage failing stops all of them; the first error is kept for the caller.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .classifier import Classifier
from .events import Event, GestureEvent
from .keypoints import ExtractorSpec, Keypoints, skeleton
from .mailbox import EMPTY, END, Mailbox
from .protocol import KeypointsEvent, ProbsEvent
from .publishers.base import Publisher
from .scheduling import lower_thread_priority, request_short_slice
from .smoothing import Decision, Smoother, SmoothingConfig
from .sources.base import Frame, Source
from .stats import PipelineStats
from .window import TimedWindowBuffer, WindowBuffer

log = logging.getLogger(__name__)

JOIN_TIMEOUT = 1.5  # SIGTERM must end the process within 2 s
CAPTURE_NICENESS = 19  # file decoding: the lowest priority there is without SCHED_IDLE


@dataclass(frozen=True)
class PipelineConfig:
    stride: int = 1
    """A window every `stride` frames (1 = every frame, as the tutorial)."""
    reset_after: float | None = 1.0
    """Seconds without a hand after which the window restarts; None never."""
    window_seconds: float | None = None
    """The window covers this many seconds whatever the frame rate; None = the last T frames."""
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    frame_queue: int = 1
    """Frames waiting for the extractor. 1 = a live source always hands over its newest frame."""
    keypoint_queue: int = 64
    event_queue: int = 256


def top_probabilities(labels: Sequence[str], probs: np.ndarray, k: int = 5) -> dict[str, float]:
    order = np.argsort(-probs)[:k]
    return {labels[i]: round(float(probs[i]), 4) for i in order}


class Pipeline:
    def __init__(
        self,
        source: Source,
        classifier: Classifier,
        publishers: Sequence[Publisher],
        config: PipelineConfig | None = None,
        extractor: ExtractorSpec | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.source = source
        self.classifier = classifier
        self.publishers = list(publishers)
        self.config = config or PipelineConfig()
        self.stop_event = stop or threading.Event()
        self.stats = PipelineStats()
        self.error: BaseException | None = None
        self.first_frame = threading.Event()
        """Set once the first frame went through extraction: the daemon really runs."""
        if source.kind == "image" and extractor is None:
            raise ValueError("an image source needs a keypoint extractor")
        self.extractor = extractor if source.kind == "image" else None
        if self.extractor is not None:
            self.extractor.check()  # a missing MediaPipe model fails here, at start
        self.layout = self.extractor.layout if self.extractor else source.layout
        assert self.layout is not None
        c = self.config
        self._frames = Mailbox(c.frame_queue, drop_oldest=source.live, stop=self.stop_event)
        self._keypoints = Mailbox(c.keypoint_queue, drop_oldest=False, stop=self.stop_event)
        self._events = Mailbox(c.event_queue, drop_oldest=True, stop=self.stop_event)
        self._pending: tuple[Classifier, SmoothingConfig] | None = None
        self._threads: list[threading.Thread] = []
        self._seq = 0

    # -- control -------------------------------------------------------------------------

    def start(self) -> None:
        # A thread waiting for the GIL gets it after at most this long: 1 ms instead of
        # Python's 5, so a window's short inference does not queue behind MediaPipe's Python
        # side. Process-wide, which is fine: the daemon owns its process.
        sys.setswitchinterval(0.001)
        self.stats.started = time.monotonic()
        for name, body in (
            ("capture", self._capture),
            ("extraction", self._extraction),
            ("inference", self._inference),
            ("publishing", self._publishing),
        ):
            t = threading.Thread(target=self._guard, args=(name, body), name=f"signd-{name}", daemon=True)
            self._threads.append(t)
            t.start()

    def request_stop(self) -> None:
        self.stop_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once every thread has finished (end of source, stop or error)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def join(self) -> None:
        """After a stop: give the threads JOIN_TIMEOUT seconds, then report stragglers."""
        if not self.wait(JOIN_TIMEOUT):
            alive = [t.name for t in self._threads if t.is_alive()]
            log.error("threads still running after stop: %s", ", ".join(alive))

    def swap_classifier(self, classifier: Classifier, smoothing: SmoothingConfig | None = None) -> None:
        """Use `classifier` (and `smoothing`) from the next frame on; the inference thread makes
        the switch, so no window is ever classified half by one model and half by the other."""
        self._pending = (classifier, smoothing or self.config.smoothing)
        self.classifier = classifier  # what status and hello report from now on

    def _wanted(self, event_type: str) -> bool:
        return any(p.wants_type(event_type) for p in self.publishers)

    def post(self, event: Event) -> None:
        """Publish an event that did not come from recognition (status, error, hello)."""
        self._events.put((event, None, None))

    def _guard(self, name: str, body: Callable[[], None]) -> None:
        try:
            body()
        except BaseException as exc:
            if self.error is None:
                self.error = exc
            log.debug("%s thread failed", name, exc_info=True)
            self.stop_event.set()

    # -- stages --------------------------------------------------------------------------

    def _capture(self) -> None:
        src, stats = self.source, self.stats
        if src.background:
            lower_thread_priority(CAPTURE_NICENESS)
        try:
            while not self.stop_event.is_set():
                t0 = time.perf_counter()
                frame = src.read()
                if frame is None:
                    break
                stats.add("capture", (time.perf_counter() - t0) * 1e3)
                stats.counters.frames_captured += 1
                self._frames.put(frame)
                stats.counters.frames_dropped = self._frames.dropped
        finally:
            src.close()
            self._frames.put(END)

    def _extraction(self) -> None:
        extractor = self.extractor.build() if self.extractor is not None else None
        self.stats.ready = time.monotonic()
        if extractor is None:
            return self._pass_keypoints()
        # A file read at the pipeline's pace keeps the extractor's `depth` frames in flight
        # (two in MediaPipe's graph, which then keeps both cores busy, and for the child one
        # more on its way); a live source keeps one, so the newest frame still wins.
        depth = 1 if self.source.live else extractor.depth
        in_flight: deque[Frame] = deque()
        ended = False
        try:
            while not self.stop_event.is_set():
                while not ended and len(in_flight) < depth:
                    frame = self._frames.get(0.0 if in_flight else 0.1)
                    if frame is EMPTY:
                        break
                    if frame is END:
                        ended = True
                        break
                    extractor.submit(frame.image)
                    in_flight.append(frame)
                if not in_flight:
                    if ended:
                        self._keypoints.put(END)
                        return
                    continue
                values = extractor.collect()
                self.stats.add("extraction", (extractor.finished_at - extractor.started_at) * 1e3)
                if not self._hand_over(in_flight.popleft(), values, extractor.finished_at):
                    return
        finally:
            extractor.close()

    def _pass_keypoints(self) -> None:
        """A keypoint source (a replay, the demo): its frames carry their vectors already."""
        while not self.stop_event.is_set():
            frame = self._frames.get()
            if frame is EMPTY:
                continue
            if frame is END:
                self._keypoints.put(END)
                return
            self.stats.add("extraction", 0.0)
            if not self._hand_over(frame, frame.keypoints, time.monotonic()):
                return

    def _hand_over(self, frame: Frame, values: np.ndarray, t_extracted: float) -> bool:
        stats = self.stats
        kp = Keypoints(
            values, frame.index, frame.t_capture, frame.t_media, t_extracted,
            bool(self.layout.hands(values)), frame.segment, frame.segment_end,
        )
        stats.counters.frames_processed += 1
        stats.last_frame = time.monotonic()
        stats.counters.frames_with_hands += kp.hands
        self.first_frame.set()
        ok = self._keypoints.put(kp)
        # Let go of the GIL now: the inference thread, woken by the put, would otherwise wait
        # for it until this thread next blocks or is descheduled mid-way (measured: hand-over
        # p95 1-2 ms without, 0.05 ms with).
        time.sleep(0)
        return ok

    def _new_window(self, classifier: Classifier) -> WindowBuffer:
        c, dim = self.config, self.layout.size
        if c.window_seconds:
            return TimedWindowBuffer(classifier.window, dim, c.window_seconds, c.stride, c.reset_after)
        return WindowBuffer(classifier.window, dim, c.stride, c.reset_after)

    def _inference(self) -> None:
        request_short_slice()  # runs the moment keypoints arrive, not after MediaPipe's slice
        stats, c = self.stats, self.config
        classifier = self.classifier
        window = self._new_window(classifier)
        smoother = Smoother(classifier.labels, c.smoothing)
        segment: int | None = None

        def cut() -> None:
            if window.filled:
                stats.counters.resets += 1
            self._emit(smoother.end_segment(), classifier, None)
            window.reset()

        while not self.stop_event.is_set():
            kp = self._keypoints.get()
            if kp is EMPTY:
                continue
            if kp is END:
                self._emit(smoother.end_segment(), classifier, None)
                self._events.put(END)
                return
            stats.add("handoff", (time.monotonic() - kp.t_extracted) * 1e3)
            if self._pending is not None:
                cut()
                (classifier, smoothing), self._pending = self._pending, None
                self.config = replace(self.config, smoothing=smoothing)
                window = self._new_window(classifier)
                smoother = Smoother(classifier.labels, smoothing)
            if segment is not None and kp.segment != segment:
                cut()
            segment = kp.segment
            if window.absent_too_long(kp.hands, kp.t_media):
                cut()
            if self._wanted("keypoints"):
                pose, left, right = skeleton(kp.values, self.layout)
                self.post(KeypointsEvent(kp.frame, pose, left, right))
            win = window.push(kp.values, kp.frame, kp.t_capture, kp.t_media)
            if win is not None:
                t0 = time.perf_counter()
                probs = classifier.predict(win.frames, self.layout)
                t1 = time.perf_counter()
                stats.add("inference", (t1 - t0) * 1e3)
                stats.counters.windows += 1
                if self._wanted("probs"):
                    self.post(ProbsEvent(win.frame, top_probabilities(classifier.labels, probs, len(probs))))
                decision = smoother.update(probs, win.frame, win.t_capture, win.t_media)
                self._emit(decision, classifier, kp)
                stats.add("smoothing", (time.perf_counter() - t1) * 1e3)
                stats.add("post_extraction", (time.monotonic() - kp.t_extracted) * 1e3)
            if kp.segment_end:
                cut()

    def _emit(self, d: Decision | None, classifier: Classifier, kp: Keypoints | None) -> None:
        if d is None:
            return
        self._seq += 1
        event = GestureEvent(
            label=d.label,
            score=round(d.score, 4),
            top=top_probabilities(classifier.labels, d.probs),
            frame=d.frame,
            t=round(time.time(), 3),
            latency_ms=round((time.monotonic() - d.t_capture) * 1e3, 2),
            sentence=d.sentence,
            seq=self._seq,
        )
        self.stats.counters.events += 1
        t_extracted = kp.t_extracted if kp is not None else time.monotonic()
        self._events.put((event, d.t_capture, t_extracted))
        self.stats.counters.events_dropped = self._events.dropped

    def _publishing(self) -> None:
        request_short_slice()
        stats = self.stats
        try:
            while True:
                # After a stop, what was already decided still goes out, without waiting for more.
                item = self._events.get(0.0 if self.stop_event.is_set() else 0.1)
                if item is EMPTY:
                    if self.stop_event.is_set():
                        return
                    continue
                if item is END:
                    return
                event, t_capture, t_extracted = item
                t0 = time.perf_counter()
                self.publish(event)
                if t_capture is None:
                    continue  # a status or error event: not part of recognition's timings
                now = time.monotonic()
                stats.add("publish", (time.perf_counter() - t0) * 1e3)
                stats.add("latency", (now - t_capture) * 1e3)
                stats.add("event_post_extraction", (now - t_extracted) * 1e3)
        finally:
            for p in self.publishers:
                try:
                    p.close()
                except Exception:
                    log.exception("closing publisher %s", p.name)

    def publish(self, event: Event) -> None:
        """Fan `event` out to every publisher; one failing sink does not stop the others."""
        for p in self.publishers:
            if not p.wants(event):
                continue
            try:
                p.publish(event)
            except Exception:
                self.stats.counters.publish_errors += 1
                log.exception("publisher %s failed", p.name)
