"""MediaPipe in a child process: the same vectors as in a thread, frames in flight in order,
a buffer that grows with the frames, and a child that dies or is signalled."""

import os
import signal
import threading

import cv2
import numpy as np
import pytest
from test_pipeline import Collect, wait_for

from signd.daemon import extractor_process as ep
from signd.daemon.classifier import Classifier
from signd.daemon.config import KeypointsConfig, SourceConfig
from signd.daemon.extractor_process import ExtractorGone, ExtractorProcess, supported
from signd.daemon.holistic import HolisticExtractor
from signd.daemon.layout import POSE_HANDS_258, TUTORIAL_1662
from signd.daemon.pipeline import Pipeline
from signd.daemon.recognizer import Recognition
from signd.daemon.sources.camera import CameraSource

from conftest import SHARED_DATA
from fakes import FakeCameraDevice

pytestmark = pytest.mark.skipif(not supported(), reason="needs memfd_create (Linux)")


def frames(n=12, width=640):
    """Frames of the shared video (a person, so the hands and face are found), else a
    synthetic scene: a test of equality needs no person."""
    video = SHARED_DATA / "videos" / "hello.mp4"
    out = []
    if video.exists():
        cap = cv2.VideoCapture(str(video))
        while len(out) < n and (r := cap.read())[0]:
            h = round(r[1].shape[0] * width / r[1].shape[1])
            out.append(cv2.cvtColor(cv2.resize(r[1], (width, h)), cv2.COLOR_BGR2RGB))
    if not out:
        rng = np.random.default_rng(0)
        out = [rng.integers(0, 255, (width * 9 // 16, width, 3), dtype=np.uint8) for _ in range(n)]
    return out


def thread_nices(pid: int) -> list[int]:
    """The nice value of each thread of process `pid` (field 19 of /proc/PID/task/TID/stat)."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            out.append(int(f.read().rsplit(")", 1)[1].split()[16]))
    return out


@pytest.fixture(scope="module")
def child():
    x = ExtractorProcess(TUTORIAL_1662, KeypointsConfig())
    yield x
    x.close()


def test_same_vectors_as_in_a_thread_with_frames_in_flight(child):
    images = frames()
    local = HolisticExtractor(TUTORIAL_1662, 1)
    want = np.stack([local.extract(im) for im in images])  # one frame at a time
    local.close()
    assert child.depth >= 3  # two in MediaPipe's graph, one waiting in the socket
    got = []
    for i, im in enumerate(images):
        if i >= child.depth:
            got.append(child.collect())
            assert child.started_at <= child.finished_at
        child.submit(im)
    while len(got) < len(images):
        got.append(child.collect())
    got = np.stack(got)
    assert got.shape == (len(images), 1662) and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)  # MediaPipe's tracking state travels in order


def test_no_more_than_depth_frames_in_flight(child):
    im = frames(1)[0]
    for _ in range(child.depth):
        child.submit(im)
    with pytest.raises(RuntimeError, match="collect"):
        child.submit(im)
    for _ in range(child.depth):
        child.collect()


def test_bigger_frames_grow_the_shared_buffer():
    small, big = frames(1, 320)[0], frames(1, 960)[0]
    x = ExtractorProcess(POSE_HANDS_258, KeypointsConfig())
    try:
        a = x.extract(small)
        b = x.extract(big)
        c = x.extract(small)
    finally:
        x.close()
    ref = HolisticExtractor(POSE_HANDS_258, 1)
    try:
        want = [ref.extract(im) for im in (small, big, small)]
    finally:
        ref.close()
    for got, w in zip((a, b, c), want, strict=True):
        np.testing.assert_array_equal(got, w)


def test_mediapipe_runs_below_the_daemons_priority(child):
    """The child and every thread MediaPipe started in it run at a higher nice value than the
    daemon's threads, which then never queue behind it for a core."""
    child.extract(frames(1)[0])  # MediaPipe's threads exist and have worked
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    nices = thread_nices(child._proc.pid)
    assert len(nices) > 2  # MediaPipe's worker threads, not just the main one
    assert set(nices) == {min(19, ours + 5)}  # the default [keypoints] niceness


def test_child_ignores_the_stop_signals_and_leaves_when_told():
    x = ExtractorProcess(TUTORIAL_1662, KeypointsConfig())
    pid = x._proc.pid
    os.kill(pid, signal.SIGTERM)  # systemd signals the whole group; the daemon decides
    os.kill(pid, signal.SIGINT)
    assert x.extract(frames(1)[0]).shape == (1662,)
    x.close()
    assert x._proc.returncode == 0


def test_a_child_that_dies_is_an_error_naming_its_exit_code():
    x = ExtractorProcess(TUTORIAL_1662, KeypointsConfig())
    x._proc.kill()
    x._proc.wait()
    with pytest.raises(ExtractorGone, match=r"keypoint process ended \(exit code -9"):
        x.extract(frames(1)[0])
    x.close()


def test_live_pipeline_with_the_isolated_extractor(synthetic_model):
    """A camera through the pipeline with MediaPipe in its child: frames flow, the newest wins,
    and stopping ends the child."""
    dev = FakeCameraDevice(frames(20))
    stop = threading.Event()
    cam = CameraSource(0, stop, SourceConfig(), capture_factory=dev.factory)
    cam.open()
    clf = Classifier.load(synthetic_model)
    p = Pipeline(cam, clf, [Collect()], Recognition(), KeypointsConfig(isolate=True), stop)
    p.start()
    assert wait_for(lambda: p.stats.counters.frames_processed >= 10)
    p.request_stop()
    p.join()
    assert p.error is None
    assert p.stats.counters.frames_dropped > 0  # the fake camera is faster than MediaPipe
    assert p.stats.snapshot()["timings_ms"]["extraction"]["p50"] > 1.0


def test_niceness_zero_keeps_mediapipe_at_the_daemons_priority():
    x = ExtractorProcess(POSE_HANDS_258, KeypointsConfig(niceness=0))
    try:
        x.extract(frames(1)[0])
        assert set(thread_nices(x._proc.pid)) == {os.getpriority(os.PRIO_PROCESS, 0)}
    finally:
        x.close()


@pytest.mark.parametrize("msg", [ep.NewBuffer(10), ep.FrameAt(0, 2, 3), ep.Stop(), ep.Ready(1),
                                 ep.Failed("x"), ep.Result(b"ab", 1.0, 2.0)])
def test_messages_to_and_from_the_child_are_typed_and_pickle(msg):
    import dataclasses
    import pickle

    assert pickle.loads(pickle.dumps(msg)) == msg
    assert dataclasses.is_dataclass(msg) and not hasattr(msg, "__dict__")


def test_an_unexpected_message_is_a_failure_naming_its_type_and_the_child_exits():
    x = ExtractorProcess(POSE_HANDS_258, KeypointsConfig())
    try:
        x._conn.send(("frame", 0, 1, 1))  # the old string-tagged protocol: never unpacked blindly
        x._in_flight += 1
        with pytest.raises(ExtractorGone, match=r"TypeError: unexpected message tuple"):
            x.collect()
        assert x._proc.wait(10) == 0
    finally:
        x.close()


def test_a_frame_before_any_buffer_is_a_failure():
    x = ExtractorProcess(POSE_HANDS_258, KeypointsConfig())
    try:
        x._conn.send(ep.FrameAt(0, 2, 2))
        x._in_flight += 1
        with pytest.raises(ExtractorGone, match="before any shared buffer"):
            x.collect()
    finally:
        x.close()


def test_a_child_that_cannot_start_is_reported():
    with pytest.raises(ExtractorGone, match="could not start: .*Error"):
        ExtractorProcess(POSE_HANDS_258, KeypointsConfig(model_complexity=7))
