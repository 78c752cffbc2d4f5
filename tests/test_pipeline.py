"""The threaded pipeline in-process: live capture that drops and counts, a camera that vanishes
while the daemon stays up, and end-of-source draining."""

import threading
import time

import cv2
import numpy as np

from signd.daemon.classifier import Classifier
from signd.daemon.config import KeypointsConfig, SourceConfig
from signd.daemon.pipeline import Pipeline
from signd.daemon.publishers.base import Publisher
from signd.daemon.recognizer import Recognition
from signd.daemon.sources.camera import CameraSource
from signd.daemon.sources.replay import ReplaySource

from conftest import SHARED_DATA
from fakes import FakeCameraDevice

IN_THREAD = KeypointsConfig(isolate=False)  # MediaPipe in the extraction thread


class Collect(Publisher):
    name = "collect"

    def __init__(self):
        self.events = []

    def publish(self, event):
        self.events.append(event)


def camera_frames(n=20):
    """Real frames when the shared video is there (MediaPipe then finds a person), else grey."""
    video = SHARED_DATA / "videos" / "hello.mp4"
    frames = []
    if video.exists():
        cap = cv2.VideoCapture(str(video))
        while len(frames) < n and (r := cap.read())[0]:
            frames.append(cv2.resize(r[1], (640, 360)))
    return frames or [np.full((360, 640, 3), 128, np.uint8)] * n


def wait_for(cond, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_live_capture_never_waits_newest_frame_wins(synthetic_model):
    dev = FakeCameraDevice(camera_frames())  # delivers frames as fast as read() is called
    stop = threading.Event()
    cam = CameraSource(0, stop, SourceConfig(), capture_factory=dev.factory)
    cam.open()
    p = Pipeline(cam, Classifier.load(synthetic_model), [Collect()], Recognition(), IN_THREAD, stop)
    p.start()
    assert wait_for(lambda: p.stats.counters.frames_processed >= 10)
    p.request_stop()
    p.join()
    c = p.stats.counters
    assert p.error is None and not any(t.is_alive() for t in p._threads)
    # the camera ran far ahead of MediaPipe; what MediaPipe could not take was dropped, counted
    assert c.frames_dropped > c.frames_processed
    assert c.frames_captured - c.frames_dropped - c.frames_processed in (0, 1)


def test_camera_vanishing_mid_run_daemon_stays_up(synthetic_model, caplog):
    caplog.set_level("INFO")
    dev = FakeCameraDevice(camera_frames(), vanish_after=15, unavailable_opens=2)
    stop = threading.Event()
    cam = CameraSource(0, stop, SourceConfig(), capture_factory=dev.factory)
    cam.backoff_initial = 0.05
    cam.open()
    clf = Classifier.load(synthetic_model)
    p = Pipeline(cam, clf, [Collect()], Recognition(), IN_THREAD, stop)
    # a non-dropping queue for this test, so every frame before and after the outage is seen
    p._frames.drop_oldest = False
    p._frames.capacity = 64
    p.start()
    assert wait_for(lambda: cam.state == "reopening")
    assert all(t.is_alive() for t in p._threads)  # the outage does not stop the daemon
    assert wait_for(lambda: cam.reopens == 1 and p.stats.counters.frames_processed >= 25)
    p.request_stop()
    p.join()
    assert p.error is None and "threads still running" not in caplog.text
    assert "no frame (camera gone?)" in caplog.text and "reopened" in caplog.text


def test_replay_drains_every_event_at_end_of_source(synthetic_npz, synthetic_model, synthetic_rec):
    stop = threading.Event()
    src = ReplaySource(synthetic_npz, stop, SourceConfig(fast=True, repeat=3))
    src.open()
    sink = Collect()
    p = Pipeline(src, Classifier.load(synthetic_model), [sink], Recognition(), IN_THREAD, stop)
    p.start()
    assert p.wait(60)
    n = 3 * len(synthetic_rec.y)
    assert p.error is None and len(sink.events) == n and p.stats.counters.events == n
    assert p.stats.counters.frames_dropped == 0 and p.stats.counters.events_dropped == 0


def test_a_failing_publisher_does_not_stop_the_others(synthetic_npz, synthetic_model):
    class Broken(Publisher):
        name = "broken"

        def publish(self, event):
            raise OSError("disk full")

    stop = threading.Event()
    src = ReplaySource(synthetic_npz, stop, SourceConfig(fast=True))
    src.open()
    sink = Collect()
    p = Pipeline(src, Classifier.load(synthetic_model), [Broken(), sink], Recognition(), IN_THREAD, stop)
    p.start()
    assert p.wait(60)
    assert len(sink.events) == 30 and p.stats.counters.publish_errors == 30


def test_swap_classifier_mid_stream(synthetic_npz, synthetic_model):
    stop = threading.Event()
    src = ReplaySource(synthetic_npz, stop, SourceConfig(fast=False, repeat=100))  # paced: runs for a while
    src.open()
    sink = Collect()
    a = Classifier.load(synthetic_model)
    p = Pipeline(src, a, [sink], Recognition(), IN_THREAD, stop)
    p.start()
    assert wait_for(lambda: len(sink.events) >= 2)
    b = Classifier.load(synthetic_model)
    p.swap_classifier(b, Recognition())
    assert wait_for(lambda: p.classifier is b)
    n = len(sink.events)
    assert wait_for(lambda: len(sink.events) >= n + 2)
    p.request_stop()
    p.join()
    assert p.error is None


def test_file_decoding_runs_below_the_extractors_priority(synthetic_npz, synthetic_model):
    """A file's capture thread yields the CPU to extraction (a camera's does not): its nice
    value is raised, the other threads keep the process's."""
    import os

    def nice():
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    seen = {}

    class Recording(ReplaySource):
        def read(self):
            seen.setdefault(type(self).background, nice())
            return super().read()

    for background in (True, False):
        Recording.background = background
        stop = threading.Event()
        src = Recording(synthetic_npz, stop, SourceConfig(fast=True))
        src.open()
        p = Pipeline(src, Classifier.load(synthetic_model), [Collect()], Recognition(), IN_THREAD, stop)
        p.start()
        assert p.wait(60) and p.error is None
    from signd.daemon.pipeline import CAPTURE_NICENESS

    base = nice()
    assert seen[False] == base and seen[True] == min(19, base + CAPTURE_NICENESS)


def test_lowering_priority_falls_back_to_sched_setattr(monkeypatch):
    """The systemd unit filters setpriority but not sched_setattr: the same request still works."""
    import os

    from signd.daemon import scheduling

    def refused(*args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(scheduling.os, "setpriority", refused)
    out = {}

    def body():
        before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        out["ok"] = scheduling.lower_thread_priority(3)
        out["delta"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) - before
        out["before"] = before

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if scheduling._SCHED_SETATTR.get(__import__("platform").machine()) is None:
        assert out["ok"] is False
    else:
        assert out["ok"] is True and out["delta"] == min(3, 19 - out["before"])


def test_threads_after_extraction_ask_for_a_short_slice(synthetic_npz, synthetic_model):
    """Inference and publishing run on the kernel's shortest slice (where Linux grants it), so
    they preempt MediaPipe when work arrives; capture and extraction keep the default."""
    from signd.daemon.scheduling import SHORT_SLICE_US, request_short_slice, thread_slice_us

    probe = {}
    t = threading.Thread(target=lambda: probe.update(ok=request_short_slice()))
    t.start()
    t.join()
    if not probe["ok"]:
        import pytest

        pytest.skip("this kernel grants no custom slices (needs Linux 6.12+)")
    seen = {}

    class Recording(Collect):
        def publish(self, event):
            seen["publishing"] = thread_slice_us()
            super().publish(event)

    clf = Classifier.load(synthetic_model)
    predict = clf.predict

    def recording_predict(*a, **k):
        seen["inference"] = thread_slice_us()
        return predict(*a, **k)

    clf.predict = recording_predict
    stop = threading.Event()
    src = ReplaySource(synthetic_npz, stop, SourceConfig(fast=True))
    src.open()
    p = Pipeline(src, clf, [Recording()], Recognition(), IN_THREAD, stop)
    p.start()
    assert p.wait(60) and p.error is None
    assert seen == {"inference": SHORT_SLICE_US, "publishing": SHORT_SLICE_US}
    assert thread_slice_us() != SHORT_SLICE_US  # the caller's thread is left as it was
