"""signd collect from a video file, with real MediaPipe: MP_Data layout, pause, numbering
that continues and never overwrites, a short video, bad arguments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signd.daemon.recordings import load_mp_data
from signd.models.collect import CollectPlan, collect, next_sequence

from conftest import run_signd, shared_path


def _video(path: Path, frames: int = 30, fps: float = 10.0) -> Path:
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (160, 120))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        w.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    w.release()
    return path


class _Frames:
    """A faithful stand-in for an opened video source: images with media time."""

    live = False

    def __init__(self, n: int, fps: float = 10.0) -> None:
        from signd.daemon.sources.base import Frame

        self._frames = [Frame(i, 0.0, i / fps, image=np.zeros((4, 4, 3), np.uint8)) for i in range(n)]

    def read(self):
        return self._frames.pop(0) if self._frames else None


def test_pause_numbering_and_no_partial_sequence(tmp_path):
    from signd.daemon.layout import POSE_HANDS_258

    root = tmp_path / "MP_Data"
    (root / "hello" / "0").mkdir(parents=True)
    (root / "hello" / "7").mkdir()
    (root / "hello" / "7" / "keep.txt").write_text("mine")
    assert next_sequence(root / "hello") == 8
    calls = []

    def extract(image):
        calls.append(1)
        return np.full(POSE_HANDS_258.size, len(calls), np.float32)

    # 10 fps, 0.5 s pause = 5 frames skipped before each 3-frame sequence: 8 frames each
    res = collect(_Frames(21), extract, root, CollectPlan(["hello", "thanks"], 2, 3, 0.5), POSE_HANDS_258)
    assert res.written == {"hello": [8, 9], "thanks": []}
    assert res.stopped and res.incomplete == 0 and res.frames_skipped == 15
    assert (root / "hello" / "7" / "keep.txt").read_text() == "mine"
    seq = [np.load(root / "hello" / "9" / f"{i}.npy")[0] for i in range(3)]
    assert seq == [4.0, 5.0, 6.0]  # frames 13-15 of the source, after the second pause
    assert not [p for p in (root / "hello").iterdir() if p.name.startswith(".")]


def test_collect_from_a_video_twice_continues(tmp_path):
    video = _video(tmp_path / "clip.mp4")
    out = tmp_path / "MP_Data"
    args = ["collect", "--actions", "wave", "--sequences", "2", "--frames", "5", "--pause", "0.3",
            "--source", str(video), "-o", str(out), "--layout", "pose-hands-258"]
    r = run_signd(*args, timeout=300)
    assert r.returncode == 0, r.stderr
    r = run_signd(*args, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(int(p.name) for p in (out / "wave").iterdir()) == [0, 1, 2, 3]
    rec = load_mp_data(out)
    assert rec.X.shape == (4, 5, 258) and rec.labels == ["wave"]


def test_a_video_too_short_keeps_what_is_complete(tmp_path):
    video = _video(tmp_path / "clip.mp4", frames=12)
    out = tmp_path / "MP_Data"
    r = run_signd("collect", "--actions", "wave", "--sequences", "3", "--frames", "5", "--pause", "0",
                  "--source", str(video), "-o", str(out), timeout=300)
    assert r.returncode == 1
    assert "2 of 3 sequences" in r.stderr
    assert sorted(p.name for p in (out / "wave").iterdir()) == ["0", "1"]


def test_real_signing_video_has_hands(tmp_path):
    video = shared_path("videos", "iloveyou.mp4")
    out = tmp_path / "MP_Data"
    r = run_signd("collect", "--actions", "iloveyou", "--sequences", "1", "--frames", "20",
                  "--pause", "0.2", "--source", str(video), "-o", str(out), timeout=300)
    assert r.returncode == 0, r.stderr
    rec = load_mp_data(out)
    assert rec.X.shape == (1, 20, 1662)
    assert rec.layout.hands(rec.X[0]).mean() > 0.5


@pytest.mark.parametrize("bad,needle", [
    (["--actions", "hello", "hello"], "twice"),
    (["--actions", "hello", "--sequences", "0"], "--sequences"),
    (["--actions", "hello", "--source", "/nonexistent.mp4"], "/nonexistent.mp4"),
])
def test_bad_arguments(tmp_path, bad, needle):
    r = run_signd("collect", *bad, "-o", str(tmp_path / "MP_Data"))
    assert r.returncode != 0 and needle in r.stderr
    assert not (tmp_path / "MP_Data").exists()
