"""`signd run --record-keypoints`: a run's keypoints to a file that `signd run --source` plays
back with the same events; bad stream files refused with one line naming file and key. The
demo feeds keypoints directly, so no MediaPipe and no video here."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from signd.daemon.config import SourceConfig
from signd.daemon.errors import DataError
from signd.daemon.keypoint_recorder import KeypointRecorder, RecordTarget, StreamInfo
from signd.daemon.keypoints import Keypoints
from signd.daemon.layout import POSE_HANDS_258
from signd.daemon.recordings import load_stream
from signd.daemon.sources import make_source
from signd.daemon.sources.replay import demo_path

from conftest import run_signd
from daemonkit import Daemon, wait_until


def events(proc) -> list[tuple[str, int, float]]:
    assert proc.returncode == 0, proc.stderr
    return [(e["label"], e["frame"], e["score"]) for e in map(json.loads, proc.stdout.splitlines())]


def one_error_line(proc, code: int, pattern: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    assert re.search(pattern, errors[0]), errors[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    return errors[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def demo_signs() -> list[str]:
    with np.load(demo_path()) as d:
        return [str(s) for s in d["signs"]]


@pytest.fixture(scope="module")
def demo_frames() -> np.ndarray:
    with np.load(demo_path()) as d:
        return d["frames"].astype(np.float32)


# -- the round trip ------------------------------------------------------------------------


def test_a_recorded_demo_plays_back_with_the_same_events(tmp_path, demo_frames):
    rec = tmp_path / "demo-rec.npz"
    live = run_signd("run", "--source", "demo", "--fast", "--repeat", "2", "--record-keypoints", str(rec))
    first = events(live)
    n = 2 * len(demo_frames)
    assert [label for label, _, _ in first] == demo_signs() * 2
    assert re.search(rf"frames {n} .*; keypoints: {n} frames recorded to {re.escape(str(rec))} \(\d+\.\d MB\)",
                     live.stderr)
    assert leftovers(tmp_path) == []

    with np.load(rec, allow_pickle=False) as d:
        got = {k: d[k] for k in d.files}
    assert got["frames"].dtype == np.float32 and got["frames"].shape == (n, 258)
    assert np.array_equal(got["frames"], np.concatenate([demo_frames, demo_frames]))
    assert got["fps"].dtype == np.float64 and got["fps"].shape == () and float(got["fps"]) == 30.0
    assert str(got["layout"]) == "pose-hands-258"
    assert got["timestamps"].dtype == np.float64 and np.array_equal(got["timestamps"], np.arange(n) / 30.0)
    assert got["segments"].dtype == np.int64 and np.array_equal(got["segments"], np.repeat([0, 1], n // 2))
    assert np.array_equal(got["source_frames"], np.arange(n))
    assert str(got["source"]) == "demo" and str(got["signd_version"])
    assert datetime.fromisoformat(str(got["created"])).tzinfo is not None

    replay = run_signd("run", "--source", str(rec), "--fast")
    assert events(replay) == first
    assert re.search(rf"frames {n} \(dropped 0\), windows \d+, events {len(first)}", replay.stderr)


def test_uneven_frame_times_and_cuts_survive_the_round_trip(tmp_path, demo_frames):
    """What a camera gives (frames at uneven times, a reopening cutting the stream) is recorded
    and played as it came, so a desktop decides what the Pi decided."""
    rng = np.random.default_rng(3)
    n = len(demo_frames)
    keep = np.sort(rng.choice(n, n * 3 // 4, replace=False))  # a camera that lost a quarter of its frames
    camera = tmp_path / "camera.npz"
    onsets = np.load(demo_path())["onsets"]
    cut = int(np.searchsorted(keep, onsets[1] - 10))  # reopened once, in the rest before the second sign
    segments = np.where(np.arange(len(keep)) < cut, 4, 9)  # ids as the source numbered them
    np.savez(camera, frames=demo_frames[keep], fps=np.float64(30.0), layout=np.str_("pose-hands-258"),
             timestamps=keep / 30.0, segments=segments)
    rec = tmp_path / "again.npz"
    first = events(run_signd("run", "--source", str(camera), "--fast", "--record-keypoints", str(rec)))
    assert len(first) >= len(demo_signs()) - 1 and {label for label, _, _ in first} <= set(demo_signs())
    stream = load_stream(rec)
    assert np.array_equal(stream.timestamps, keep / 30.0)
    assert np.array_equal(stream.segments, (segments == 9).astype(np.int64))
    assert events(run_signd("run", "--source", str(rec), "--fast")) == first


def test_the_recording_stops_at_its_limit_with_one_warning(tmp_path, demo_frames):
    rec = tmp_path / "short.npz"
    p = run_signd("run", "--source", "demo", "--fast", "--record-keypoints", str(rec), "--record-max-frames", "100")
    assert len(events(p)) == len(demo_signs())  # the run itself goes on
    warnings = [line for line in p.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and "keypoint recording full at 100 frames" in warnings[0], p.stderr
    assert "keypoints: 100 frames recorded to" in p.stderr
    assert f"{len(demo_frames) - 100} not recorded (--record-max-frames 100)" in p.stderr
    assert np.array_equal(load_stream(rec).frames, demo_frames[:100])


def test_sigterm_mid_run_still_writes_a_complete_file(tmp_path):
    rec = tmp_path / "stopped.npz"
    rec.write_bytes(b"an older recording")  # replaced whole, never half
    d = Daemon(tmp_path, "--source", "demo", "--record-keypoints", str(rec))  # at 30 fps: 19 s
    try:
        assert wait_until(lambda: d.stdout_lines or d.proc.poll() is not None, 30), d.stderr
    finally:
        rc = d.stop()
    assert rc == 0, d.stderr
    assert "stopped by SIGTERM" in d.stderr
    live = [json.loads(line)["label"] for line in d.stdout_lines]
    stream = load_stream(rec)
    n = len(stream.frames)
    assert 62 <= n < len(np.load(demo_path())["frames"]) and f"keypoints: {n} frames recorded to" in d.stderr
    assert np.array_equal(stream.timestamps, np.arange(n) / 30.0)
    assert leftovers(tmp_path) == []
    replay = [label for label, _, _ in events(run_signd("run", "--source", str(rec), "--fast"))]
    assert replay[:len(live)] == live and live[0] == demo_signs()[0]


def test_a_run_killed_hard_leaves_no_file(tmp_path):
    import signal

    rec = tmp_path / "killed.npz"
    d = Daemon(tmp_path, "--source", "demo", "--record-keypoints", str(rec))
    try:
        assert wait_until(lambda: d.stdout_lines or d.proc.poll() is not None, 30), d.stderr
    finally:
        d.signal(signal.SIGKILL)
        d.stop()
    assert not rec.exists() and leftovers(tmp_path) == []


# -- bad files and targets: one line, before the pipeline starts ---------------------------------


def _demo_arrays() -> dict[str, np.ndarray]:
    with np.load(demo_path()) as d:
        # 270 frames: the shapes named below
        return {"frames": d["frames"][:270].astype(np.float32), "fps": d["fps"], "layout": d["layout"]}


@pytest.mark.parametrize("change, pattern", [
    (lambda a: a["frames"].__setitem__((40, 7), np.nan), r"key 'frames': non-finite value \(NaN or inf\) in frame 40, column 7"),
    (lambda a: a.pop("fps"), r"missing key 'fps'"),
    (lambda a: a.update(layout=np.str_("hands-42")), r"key 'layout' is 'hands-42'; expected one of"),
    (lambda a: a.update(frames=a["frames"][:, :200]), r"key 'frames' has shape \(270, 200\)"),
])
def test_a_bad_stream_file_is_one_line_naming_file_and_key(tmp_path, change, pattern):
    arrays = _demo_arrays()
    change(arrays)
    bad = tmp_path / "bad-stream.npz"
    np.savez(bad, **arrays)
    one_error_line(run_signd("run", "--source", str(bad), "--fast"), 65, r"bad-stream\.npz: " + pattern)


@pytest.mark.parametrize("change, pattern", [
    (lambda a: a["frames"].__setitem__((3, 0), np.inf), r"key 'frames': non-finite"),
    (lambda a: a.update(frames=np.full((270, 258), 1e39)), r"key 'frames': non-finite"),  # beyond float32
    (lambda a: a.update(frames=a["frames"][0]), r"key 'frames' has shape \(258,\)"),
    (lambda a: a.update(frames=np.ones((270, 258), np.int32)), r"key 'frames' .* dtype int32"),
    (lambda a: a.update(fps=np.float64("nan")), r"key 'fps' is nan"),
    (lambda a: a.update(fps=np.str_("30")), r"key 'fps' is '30'"),
    (lambda a: a.pop("layout"), r"missing key 'layout'"),
    (lambda a: a.update(layout=np.array(["pose-hands-258"] * 2)), r"key 'layout' is an array of shape \(2,\)"),
    (lambda a: a.update(timestamps=np.arange(270.0)[::-1]), r"key 'timestamps' must be finite and never decrease"),
    (lambda a: a.update(timestamps=np.arange(10.0)), r"key 'timestamps' has shape \(10,\)"),
    (lambda a: a.update(segments=np.arange(270)[::-1]), r"key 'segments' must never decrease"),
    (lambda a: a.update(segments=np.zeros(270)), r"key 'segments' .* expected \(270,\) integers"),
])
def test_load_stream_checks_every_key(tmp_path, change, pattern):
    arrays = _demo_arrays()
    change(arrays)
    np.savez(tmp_path / "s.npz", **arrays)
    with pytest.raises(DataError, match=r"s\.npz: " + pattern):
        load_stream(tmp_path / "s.npz")


def test_a_stream_missing_frames_is_still_read_as_a_stream(tmp_path):
    arrays = _demo_arrays()
    del arrays["frames"]
    np.savez(tmp_path / "s.npz", **arrays)
    one_error_line(run_signd("run", "--source", str(tmp_path / "s.npz")), 65, r"s\.npz: missing key 'frames'")


def test_record_targets_are_checked_before_the_run(tmp_path):
    one_error_line(run_signd("run", "--record-keypoints", str(tmp_path / "no" / "r.npz")), 73,
                   r"--record-keypoints .*r\.npz: folder not found")
    one_error_line(run_signd("run", "--record-keypoints", str(tmp_path / "r.txt")), 78, r"must end in \.npz")
    one_error_line(run_signd("run", "--record-max-frames", "10"), 78, r"needs --record-keypoints")
    assert list(tmp_path.iterdir()) == []


# -- the pieces ------------------------------------------------------------------------------


def test_playback_keeps_recorded_times_segments_and_repeats(tmp_path, demo_frames):
    path = tmp_path / "s.npz"
    times = np.array([0.0, 0.1, 0.15, 0.5, 0.6])
    np.savez(path, frames=demo_frames[:5], fps=np.float64(10.0), layout=np.str_("pose-hands-258"),
             timestamps=times, segments=np.array([7, 7, 8, 8, 8]))
    src = make_source(SourceConfig(uri=str(path), fast=True, repeat=2), threading.Event())
    src.open()
    frames = [src.read() for _ in range(10)]
    assert src.read() is None
    assert [f.t_media for f in frames] == pytest.approx([*times, *(times + 0.7)])
    assert [f.segment for f in frames] == [0, 0, 1, 1, 1, 2, 2, 3, 3, 3]
    assert [f.segment_end for f in frames] == [False, True, False, False, True] * 2
    assert src.segment_frames == 3 and src.fps == 10.0


def _kp(i: int, t: float, segment: int = 0) -> Keypoints:
    return Keypoints(np.full(258, i, np.float32), i, t, t, False, segment)


def test_a_camera_recording_says_the_rate_its_frames_came_at(tmp_path):
    target = RecordTarget(tmp_path / "cam.npz", 10)
    rec = KeypointRecorder(target, StreamInfo(POSE_HANDS_258, 30.0, True, "camera 0"))
    for i in range(5):
        rec.add(_kp(i, i * 0.25))  # asked for 30 fps, got 4
    assert rec.save() == target.path
    stream = load_stream(target.path)
    assert stream.fps == pytest.approx(4.0) and stream.frames[:, 0].tolist() == [0, 1, 2, 3, 4]
    rec.add(_kp(9, 9.0))  # after the save: ignored
    assert rec.recorded == 5


def test_nothing_recorded_leaves_the_target_alone(tmp_path):
    target = RecordTarget(tmp_path / "none.npz")
    target.path.write_bytes(b"keep me")
    rec = KeypointRecorder(target, StreamInfo(POSE_HANDS_258, 30.0, False, "demo"))
    assert rec.save() is None and target.path.read_bytes() == b"keep me"
    assert "none recorded" in rec.summary()


def test_frames_span_several_chunks(tmp_path):
    from signd.daemon.keypoint_recorder import CHUNK_ROWS

    target = RecordTarget(tmp_path / "long.npz", CHUNK_ROWS * 2 + 5)
    rec = KeypointRecorder(target, StreamInfo(POSE_HANDS_258, 30.0, False, "demo"))
    for i in range(CHUNK_ROWS * 2 + 9):
        rec.add(_kp(i, i / 30.0))
    rec.save()
    stream = load_stream(target.path)
    assert stream.frames[:, 0].tolist() == list(range(CHUNK_ROWS * 2 + 5)) and rec.not_recorded == 4
