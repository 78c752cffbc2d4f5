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
from dataclasses import dataclass

import numpy as np

from .classifier import Classifier
from .config import KeypointsConfig
from .events import Event, GestureEvent
from .extractor import build_extractor, check_extractor, extraction_layout
from .keypoint_recorder import KeypointRecorder
from .keypoints import Keypoints, skeleton
from .mailbox import EMPTY, END, Mailbox
from .protocol import KeypointsEvent, ProbsEvent
from .publishers.base import Publisher
from .recognizer import Recognition, Recognizer
from .scheduling import lower_thread_priority, request_short_slice
from .smoothing import Decision
from .sources.base import Frame, Source, SourceKind
from .stats import PipelineStats

log = logging.getLogger(__name__)

JOIN_TIMEOUT = 1.5  # SIGTERM must end the process within 2 s
CAPTURE_NICENESS = 19  # file decoding: the lowest priority there is without SCHED_IDLE
FRAME_QUEUE = 1  # frames waiting for the extractor: a live source always hands over its newest
KEYPOINT_QUEUE = 64
EVENT_QUEUE = 256


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event on its way to the publishing thread, with the times its latency is measured from
    (None for events that did not come from recognition: status, error, hello)."""

    event: Event
    t_capture: float | None = None
    t_extracted: float | None = None


def top_probabilities(labels: Sequence[str], probs: np.ndarray, k: int = 5) -> dict[str, float]:
    order = np.argsort(-probs)[:k]
    return {labels[i]: round(float(probs[i]), 4) for i in order}


class Pipeline:
    def __init__(
        self,
        source: Source,
        classifier: Classifier,
        publishers: Sequence[Publisher],
        recognition: Recognition,
        keypoints: KeypointsConfig,
        stop: threading.Event | None = None,
    ) -> None:
        """`keypoints` says how to extract them from an image source; a keypoint source (a
        replay, the demo) brings its own and never starts MediaPipe."""
        self.source = source
        self.classifier = classifier
        self.recognition = recognition
        self.publishers = list(publishers)
        self.stop_event = stop or threading.Event()
        self.stats = PipelineStats()
        self.error: BaseException | None = None
        self.first_frame = threading.Event()
        """Set once the first frame went through extraction: the daemon really runs."""
        self.keypoints = keypoints if source.kind is SourceKind.IMAGE else None
        if self.keypoints is not None:
            check_extractor(self.keypoints)  # a missing MediaPipe model fails here, at start
            self.layout = extraction_layout(classifier.layout)
        else:
            assert source.layout is not None
            self.layout = source.layout
        self._frames: Mailbox[Frame] = Mailbox(FRAME_QUEUE, drop_oldest=source.live, stop=self.stop_event)
        self._keypoints: Mailbox[Keypoints] = Mailbox(KEYPOINT_QUEUE, drop_oldest=False, stop=self.stop_event)
        self._events: Mailbox[Outgoing] = Mailbox(EVENT_QUEUE, drop_oldest=True, stop=self.stop_event)
        self._pending: tuple[Classifier, Recognition] | None = None
        self.recorder: KeypointRecorder | None = None
        """Set before `start` to keep every frame the recognizer takes (--record-keypoints)."""
        self._threads: list[threading.Thread] = []
        self._seq = 0
        self._inference_ms = 0.0

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

    def swap_classifier(self, classifier: Classifier, recognition: Recognition) -> None:
        """Use `classifier` with `recognition` from the next frame on: the inference thread ends
        the old recognizer's stream and builds a new one, so no window is ever classified half
        by one model and half by the other."""
        self._pending = (classifier, recognition)
        self.classifier = classifier  # what status and hello report from now on
        self.recognition = recognition

    def _wanted(self, event_type: str) -> bool:
        return any(p.wants_type(event_type) for p in self.publishers)

    def post(self, event: Event) -> None:
        """Publish an event that did not come from recognition (status, error, hello)."""
        self._events.put(Outgoing(event))

    def _guard(self, name: str, body: Callable[[], None]) -> None:
        try:
            body()
        except BaseException as exc:
            if self.stop_event.is_set():  # the stop cut the stage short: not an error of its own
                log.debug("%s thread ended by the stop: %r", name, exc)
                return
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
        if self.keypoints is None:
            self.stats.ready = time.monotonic()
            return self._pass_keypoints()
        extractor = build_extractor(self.keypoints, self.layout, self.stop_event)
        self.stats.ready = time.monotonic()
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
                    assert frame.image is not None
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
            assert frame.keypoints is not None
            if not self._hand_over(frame, frame.keypoints, time.monotonic()):
                return

    def _hand_over(self, frame: Frame, values: np.ndarray, t_extracted: float) -> bool:
        stats = self.stats
        kp = Keypoints(
            values, frame.index, frame.t_capture, frame.t_media, bool(self.layout.hands(values)),
            frame.segment, frame.segment_end, t_extracted,
        )
        stats.counters.frames_processed += 1
        stats.last_frame = time.monotonic()
        stats.counters.frames_with_hands += kp.hands
        self.first_frame.set()
        ok = self._keypoints.put(kp)
        # Let go of the GIL now: the inference thread, woken by the put, would otherwise wait
        # for it until this thread next blocks or is descheduled mid-way.
        time.sleep(0)
        return ok

    def _recognizer(self, classifier: Classifier, recognition: Recognition) -> Recognizer:
        stats, layout = self.stats, self.layout

        def predict(frames: np.ndarray) -> np.ndarray:
            t0 = time.perf_counter()
            probs = classifier.predict(frames, layout)
            self._inference_ms = (time.perf_counter() - t0) * 1e3
            stats.add("inference", self._inference_ms)
            return probs

        return Recognizer(classifier.labels, classifier.window, layout, recognition, predict)

    def _inference(self) -> None:
        request_short_slice()  # runs the moment keypoints arrive, not after MediaPipe's slice
        stats = self.stats
        classifier = self.classifier
        recognizer = self._recognizer(classifier, self.recognition)
        while not self.stop_event.is_set():
            kp = self._keypoints.get()
            if kp is EMPTY:
                continue
            if kp is END:
                self._emit(recognizer.finish().decisions, classifier, None)
                self._events.put(END)
                return
            assert isinstance(kp, Keypoints)
            stats.add("handoff", (time.monotonic() - kp.t_extracted) * 1e3)
            if self.recorder is not None:
                # Here rather than at extraction: the recording is exactly what the recognizer
                # took, so a replay of it decides what this run decided.
                self.recorder.add(kp)
            if self._pending is not None:
                last = recognizer.finish()
                stats.counters.resets += last.resets
                self._emit(last.decisions, classifier, None)
                (classifier, recognition), self._pending = self._pending, None
                recognizer = self._recognizer(classifier, recognition)
            t0 = time.perf_counter()
            step = recognizer.push(kp)
            stats.counters.resets += step.resets
            self._emit(step.earlier, classifier, kp)
            if self._wanted("keypoints"):
                pose, left, right = skeleton(kp.values, self.layout)
                self.post(KeypointsEvent(kp.frame, pose, left, right))
            if step.window is not None and step.probs is not None:
                stats.counters.windows += 1
                if self._wanted("probs"):
                    self.post(ProbsEvent(step.window.frame,
                                         top_probabilities(classifier.labels, step.probs, len(step.probs))))
            self._emit(step.decisions, classifier, kp)
            if step.window is not None:
                stats.add("smoothing", (time.perf_counter() - t0) * 1e3 - self._inference_ms)
                stats.add("post_extraction", (time.monotonic() - kp.t_extracted) * 1e3)

    def _emit(self, decisions: list[Decision], classifier: Classifier, kp: Keypoints | None) -> None:
        for d in decisions:
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
            self._events.put(Outgoing(event, d.t_capture, t_extracted))
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
                assert isinstance(item, Outgoing)
                t0 = time.perf_counter()
                self.publish(item.event)
                if item.t_capture is None or item.t_extracted is None:
                    continue  # a status or error event: not part of recognition's timings
                now = time.monotonic()
                stats.add("publish", (time.perf_counter() - t0) * 1e3)
                stats.add("latency", (now - item.t_capture) * 1e3)
                stats.add("event_post_extraction", (now - item.t_extracted) * 1e3)
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
