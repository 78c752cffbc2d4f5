"""Sources: cameras (faked at the device), picamera2 (faked at the library), video files and
keypoint replays (real files)."""

import logging
import threading

import cv2
import numpy as np
import pytest

from signd.daemon.config import SourceConfig
from signd.daemon.errors import DataError, InputError
from signd.daemon.sources import make_source
from signd.daemon.sources.camera import CameraSource
from signd.daemon.sources.picamera import PiCamera2Source, to_rgb
from signd.daemon.sources.replay import ReplaySource
from signd.daemon.sources.video import VideoSource

from conftest import shared_path
from fakes import FakeCameraDevice, FakePicamera2
from modelkit import save_mp_data


def bgr_frames(n=5, h=48, w=64):
    return [np.full((h, w, 3), (10 * i, 100, 200), np.uint8) for i in range(n)]


def read_all(src, limit=10_000):
    out = []
    while len(out) < limit and (f := src.read()) is not None:
        out.append(f)
    return out


@pytest.fixture
def small_video(tmp_path):
    p = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48))
    for i in range(12):
        w.write(np.full((48, 64, 3), (0, 0, 20 * i), np.uint8))  # BGR: red ramps up
    w.release()
    return p


# -- camera ------------------------------------------------------------------------------


def test_camera_opens_with_mjpg_and_buffer_of_one_and_gives_rgb():
    dev = FakeCameraDevice(bgr_frames())
    stop = threading.Event()
    cam = CameraSource(0, stop, SourceConfig(), capture_factory=dev.factory)
    cam.open()
    f = cam.read()
    assert dev.settings[cv2.CAP_PROP_BUFFERSIZE] == 1
    assert dev.settings[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter_fourcc(*"MJPG")
    assert tuple(f.image[0, 0]) == (200, 100, 0)  # BGR (0, 100, 200) -> RGB
    assert f.index == 0 and f.segment == 0
    cam.close()


def test_camera_missing_at_start_is_a_clear_error():
    dev = FakeCameraDevice(bgr_frames())
    dev.present, dev.unavailable_opens = False, 99
    with pytest.raises(InputError, match="camera /dev/video7 cannot be opened"):
        CameraSource("/dev/video7", threading.Event(), SourceConfig(), capture_factory=dev.factory).open()


def test_camera_vanishing_is_logged_and_reopened_with_backoff(caplog):
    dev = FakeCameraDevice(bgr_frames(), vanish_after=4, unavailable_opens=3)
    stop = threading.Event()
    cam = CameraSource(0, stop, SourceConfig(), capture_factory=dev.factory)
    cam.backoff_initial = 0.01
    cam.open()
    with caplog.at_level(logging.INFO):
        frames = [cam.read() for _ in range(8)]
    assert [f.index for f in frames] == list(range(8))
    assert [f.segment for f in frames] == [0] * 4 + [1] * 4  # after the reopen: a new segment
    assert cam.reopens == 1
    assert dev.opens == 1 + 4  # the first open, three refused attempts, then success
    text = caplog.text
    assert "no frame (camera gone?)" in text and "still unavailable" in text and "reopened" in text
    delays = [float(r.getMessage().split("reopening in ")[1].split(" s")[0]) for r in caplog.records if "reopening in" in r.getMessage()]
    assert delays == sorted(delays) and delays[-1] > delays[0]  # the wait grows


def test_camera_reopen_gives_up_only_when_stopped():
    dev = FakeCameraDevice(bgr_frames(), vanish_after=1, unavailable_opens=10**6)
    stop = threading.Event()
    cam = CameraSource(0, stop, SourceConfig(), capture_factory=dev.factory)
    cam.backoff_initial = cam.backoff_max = 0.01
    cam.open()
    assert cam.read() is not None
    threading.Timer(0.3, stop.set).start()
    assert cam.read() is None and cam.state == "ended"
    assert dev.opens > 5


def test_source_specs():
    stop = threading.Event()
    assert isinstance(make_source(SourceConfig(uri="camera:2"), stop), CameraSource)
    assert make_source(SourceConfig(uri="camera:2"), stop).device == 2
    assert make_source(SourceConfig(uri="/dev/video1"), stop).device == "/dev/video1"
    assert isinstance(make_source(SourceConfig(uri="picamera2"), stop), PiCamera2Source)
    with pytest.raises(InputError, match="source not found: nope.mp4"):
        make_source(SourceConfig(uri="nope.mp4"), stop)


# -- picamera2 ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["RGB888", "BGR888", "XRGB8888", "XBGR8888"])
def test_picamera2_formats_become_rgb(fmt):
    cam = PiCamera2Source(threading.Event(), SourceConfig(camera_width=32, camera_height=24), fmt=fmt, picamera2_cls=FakePicamera2)
    cam.open()
    f = cam.read()
    assert f.image.shape == (24, 32, 3)
    assert tuple(f.image[5, 5]) == FakePicamera2.rgb
    cam.close()
    assert cam._cam is None


def test_picamera2_configuration_requested():
    cam = PiCamera2Source(threading.Event(), SourceConfig(camera_width=320, camera_height=240, camera_fps=15), picamera2_cls=FakePicamera2)
    cam.open()
    cfg = cam._cam.camera_config
    assert cfg["main"] == {"size": (320, 240), "format": "RGB888"}
    assert cfg["controls"] == {"FrameRate": 15} and cfg["buffer_count"] == 2
    cam.close()


def test_picamera2_missing_camera():
    with pytest.raises(InputError, match="picamera2 camera 3 cannot be opened: IndexError"):
        PiCamera2Source(threading.Event(), SourceConfig(), camera_num=3, picamera2_cls=FakePicamera2).open()


def test_picamera2_not_installed_says_how_to_get_it():
    try:
        import picamera2  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="apt install python3-picamera2.*--system-site-packages"):
            PiCamera2Source(threading.Event(), SourceConfig()).open()
    else:
        pytest.skip("picamera2 is installed here")


def test_to_rgb_rejects_unknown_format():
    with pytest.raises(InputError, match="YUV420"):
        to_rgb(np.zeros((4, 4, 3), np.uint8), "YUV420")


# -- video -------------------------------------------------------------------------------


def test_video_frames_rgb_fps_and_last_frame(small_video):
    src = VideoSource(small_video, threading.Event(), SourceConfig(fast=True))
    src.open()
    frames = read_all(src)
    assert len(frames) == 12 and src.fps == 25
    assert [f.segment_end for f in frames] == [False] * 11 + [True]
    assert frames[-1].image[..., 0].mean() > 150 and frames[-1].image[..., 2].mean() < 30  # red is R
    assert frames[3].t_media == pytest.approx(3 / 25)
    assert not src.live


def test_video_repeat_makes_segments(small_video):
    src = VideoSource(small_video, threading.Event(), SourceConfig(fast=True, repeat=2))
    src.open()
    frames = read_all(src)
    assert len(frames) == 24 and [f.index for f in frames] == list(range(24))
    assert {f.segment for f in frames[:12]} == {0} and {f.segment for f in frames[12:]} == {1}


def test_video_is_shrunk_to_max_width():
    src = make_source(SourceConfig(uri=str(shared_path("videos", "hello.mp4")), fast=True), threading.Event())
    src.open()
    f = src.read()
    assert f.image.shape == (360, 640, 3)
    src.close()


def test_video_without_frames(tmp_path):
    p = tmp_path / "empty.mp4"
    cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48)).release()
    with pytest.raises(DataError, match=r"empty\.mp4: no frames"):
        VideoSource(p, threading.Event(), SourceConfig()).open()
    (tmp_path / "zero.mp4").write_bytes(b"")
    with pytest.raises(DataError, match=r"zero\.mp4: video file is empty"):
        VideoSource(tmp_path / "zero.mp4", threading.Event(), SourceConfig()).open()


def test_not_a_video(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    with pytest.raises(DataError, match=r"notes\.txt: no frames that OpenCV can decode"):
        VideoSource(p, threading.Event(), SourceConfig()).open()


# -- replays -----------------------------------------------------------------------------


def test_npz_replay_back_to_back_one_segment_per_sequence(synthetic_npz, synthetic_rec):
    src = ReplaySource(synthetic_npz, threading.Event(), SourceConfig(fast=True))
    src.open()
    frames = read_all(src)
    n = len(synthetic_rec.y)
    assert len(frames) == n * 30 and [f.index for f in frames] == list(range(n * 30))
    assert [f.segment for f in frames[::30]] == list(range(n))
    assert all(f.segment_end == (f.index % 30 == 29) for f in frames)
    for i in range(n):  # each sequence in the file's order
        np.testing.assert_allclose(frames[30 * i].keypoints, synthetic_rec.X[i, 0], atol=1e-3)
    np.testing.assert_allclose(frames[31].keypoints, synthetic_rec.X[1, 1], atol=1e-3)
    assert src.layout.name == "pose-hands-258"


def test_mp_data_replay(tmp_path, synthetic_rec):
    root = save_mp_data(synthetic_rec, tmp_path / "MP_Data")
    src = make_source(SourceConfig(uri=str(root), fast=True, repeat=2), threading.Event())
    src.open()
    assert len(read_all(src)) == 2 * len(synthetic_rec.y) * 30
