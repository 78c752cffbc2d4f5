"""One recognizer: the daemon prints what it printed before the rebuild, and every evaluation
decides what the daemon decides, at the recordings' rate and at slower camera rates."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from reference_kit import REFERENCE, run_events, sources

from signd.daemon.classifier import Classifier
from signd.daemon.config import WindowConfig, default_model_path
from signd.daemon.keypoints import Keypoints
from signd.daemon.layout import POSE_HANDS_258
from signd.daemon.recognizer import Recognition, Recognizer
from signd.daemon.smoothing import SmoothingConfig, SmoothingOverrides
from signd.daemon.sources.replay import demo_path
from signd.models.dataset import load_signers
from signd.models.manifest import RuntimeHints
from signd.models.stream import StreamSettings, build_stream, recognition_for, run_stream

from conftest import SHARED_DATA, run_signd, signd_cmd

REFERENCE_EVENTS = json.loads(REFERENCE.read_text())


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.load(default_model_path())


def _stream() -> np.ndarray:
    """The demo, then (when the shared data is there) a stranger's signs and rest, 30 fps: a
    stream with hits, misses, unknown signs and cuts."""
    parts = [np.load(demo_path())["frames"].astype(np.float32)]
    path = SHARED_DATA / "signers" / "ilkerdemir.npz"
    if path.exists():
        signer = load_signers([path])[0]
        frames, _, _ = build_stream(signer, POSE_HANDS_258, {"hello", "thanks", "iloveyou"},
                                    StreamSettings(rest_seconds=1.5))
        parts.append(frames[:6000])
    return np.concatenate(parts)


def _thin(frames: np.ndarray, fps: float) -> np.ndarray:
    """What a camera at `fps` would have delivered of a 30 fps stream."""
    return frames[np.round(np.arange(0, len(frames), 30.0 / fps)).astype(int).clip(0, len(frames) - 1)]


@pytest.mark.parametrize("name", ["demo", "mujster.npz"])
def test_signd_run_prints_the_events_it_printed_before_the_rebuild(name):
    """labels, frames, scores, top, sentence and seq as recorded with the shipped model
    (tests/reference_kit.py)."""
    if name != "demo" and not SHARED_DATA.exists():
        pytest.skip(f"shared data not available: {SHARED_DATA}")
    args = sources(SHARED_DATA)[name]
    assert run_events(signd_cmd(), args, SHARED_DATA) == REFERENCE_EVENTS[name]


def test_signd_run_on_every_shared_video_prints_the_events_it_printed_before_the_rebuild():
    """The same on the real video pipeline (MediaPipe included), two clips at a time: each run
    spends its first seconds starting up on one core, which the other run's MediaPipe uses."""
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not available: {SHARED_DATA}")
    clips = {name: args for name, args in sources(SHARED_DATA).items() if name.endswith(".mp4")}
    assert len(clips) >= 13
    with ThreadPoolExecutor(2) as pool:
        got = dict(zip(clips, pool.map(lambda a: run_events(signd_cmd(), a, SHARED_DATA), clips.values()),
                       strict=True))
    wrong = {name: events for name, events in got.items() if events != REFERENCE_EVENTS[name]}
    assert wrong == {}


@pytest.mark.parametrize("fps", [30.0, 15.0, 10.0])
def test_the_stream_evaluation_decides_what_the_daemon_decides(clf, tmp_path, fps):
    """The same keypoint stream, played by `signd run` (a subprocess, the shipped model's own
    window in seconds and smoothing) and by the stream evaluation: the same events."""
    frames = _thin(_stream(), fps)
    path = tmp_path / f"stream-{fps:g}.npz"
    np.savez(path, frames=frames, fps=np.float64(fps), layout=np.str_(POSE_HANDS_258.name))
    proc = run_signd("run", "--source", str(path), "--fast")
    assert proc.returncode == 0, proc.stderr
    assert "window: 30 rows over 1 s" in proc.stderr
    daemon = [json.loads(line) for line in proc.stdout.splitlines()]

    def predict(windows: np.ndarray) -> np.ndarray:
        return np.stack([clf.predict(w, POSE_HANDS_258) for w in windows])

    decisions = run_stream(frames, POSE_HANDS_258, predict, clf.labels, clf.window,
                           recognition_for(clf.manifest.runtime), fps)
    assert len(daemon) >= 3
    assert [(e["label"], e["frame"], e["score"]) for e in daemon] == \
        [(d.label, d.frame, round(d.score, 4)) for d in decisions]


def _toy_predict(window: np.ndarray) -> np.ndarray:
    """A model that reads the sign off one hand value: deterministic, no interpreter."""
    k = int(round(float(window[-5:, POSE_HANDS_258.right_hand.start].mean())))
    out = np.full(3, 0.02, np.float32)
    out[k if 0 <= k < 3 else 0] = 0.96
    return out


def _toy_stream(fps: float) -> list[Keypoints]:
    rng = np.random.default_rng(1)
    frames = np.zeros((int(12 * fps), POSE_HANDS_258.size), np.float32)
    frames[:, POSE_HANDS_258.pose] = rng.uniform(0.3, 0.7, POSE_HANDS_258.pose.stop)
    for start, sign in ((1.0, 1), (3.5, 2), (6.0, 1), (9.0, 2)):
        a, b = int(start * fps), int((start + 1.4) * fps)
        frames[a:b, POSE_HANDS_258.right_hand] = 0.5
        frames[a:b, POSE_HANDS_258.right_hand.start] = sign
    return Keypoints.stream(frames, POSE_HANDS_258, fps)


@pytest.mark.parametrize("window", [WindowConfig(seconds=0.0), WindowConfig(seconds=1.0),
                                    WindowConfig(seconds=0.0, stride=3), WindowConfig(seconds=1.0, reset_after=0.0)])
@pytest.mark.parametrize("fps", [30.0, 12.0])
def test_batched_run_equals_frame_by_frame(window, fps):
    labels = ["blank", "hello", "thanks"]
    rec = Recognition(window, SmoothingConfig())
    one = Recognizer(labels, 30, POSE_HANDS_258, rec, _toy_predict)
    steps = [one.push(kp) for kp in _toy_stream(fps)]
    by_frame = [d for s in steps for d in s.earlier + s.decisions] + one.finish().decisions
    batched = Recognizer(labels, 30, POSE_HANDS_258, rec, _toy_predict).run(
        _toy_stream(fps), lambda ws: np.stack([_toy_predict(w) for w in ws]))
    assert [(d.label, d.frame, d.score) for d in by_frame] == [(d.label, d.frame, d.score) for d in batched]
    if window.seconds or fps == 30.0:
        assert [d.label for d in by_frame] == ["hello", "thanks", "hello", "thanks"]
    else:  # 30 frames at 12 fps are 2.5 s: the window never fills between the signer's pauses
        assert by_frame == []


def test_the_end_of_a_segment_decides_a_short_clip():
    """A replayed 30-frame clip is one window: its segment's end fires it (the smoother's rule
    for segments shorter than min_hold), and the window starts afresh for the next clip."""
    kps = _toy_stream(30.0)[30:72]  # hands from frame 30 to 71: 42 frames of hello
    clip = [Keypoints(k.values, k.frame, k.t_capture, k.t_media, k.hands, segment=7,
                      segment_end=k.frame == 59) for k in kps[:30]]
    rec = Recognizer(["blank", "hello", "thanks"], 30, POSE_HANDS_258, Recognition(), _toy_predict)
    steps = [rec.push(k) for k in clip]
    assert [d.label for s in steps for d in s.decisions] == ["hello"]
    assert steps[-1].resets == 1 and steps[-1].window is not None and steps[-1].window.frame == 59


def test_resolution_order_is_user_then_model_then_built_in():
    hints = RuntimeHints(window_seconds=1.0, smoothing=SmoothingOverrides(threshold=0.8, majority=6))
    r = Recognition.resolve(WindowConfig(), SmoothingOverrides(), hints)
    assert r.window.seconds == 1.0 and r.smoothing.threshold == 0.8 and r.smoothing.majority == 6
    assert r.smoothing.min_hold == SmoothingConfig().min_hold  # nobody set it: built-in
    r = Recognition.resolve(WindowConfig(seconds=0.0, stride=2), SmoothingOverrides(threshold=0.5), hints)
    assert r.window.seconds == 0.0 and r.window.stride == 2 and r.smoothing.threshold == 0.5
    assert r.smoothing.majority == 6
    assert Recognition.resolve(WindowConfig(), SmoothingOverrides(), RuntimeHints()) == \
        Recognition(WindowConfig(seconds=0.0), SmoothingConfig())


def test_reference_covers_every_shared_clip():
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not available: {SHARED_DATA}")
    clips = {p.name for p in Path(SHARED_DATA, "videos").glob("*.mp4")}
    assert clips <= set(REFERENCE_EVENTS) and {"demo", "mujster.npz"} <= set(REFERENCE_EVENTS)


def test_a_cut_at_the_start_of_a_frame_is_decided_before_that_frame():
    """A new segment cuts the old one first: what it fires is `earlier` (the daemon publishes
    it before the frame's keypoints and probabilities), what the frame's window fires comes
    after."""
    kps = _toy_stream(30.0)[30:61]  # 31 frames of hello: two windows, too few to fire held
    rec = Recognizer(["blank", "hello", "thanks"], 30, POSE_HANDS_258, Recognition(), _toy_predict)
    assert all(not (s.earlier or s.decisions) for s in (rec.push(k) for k in kps))
    k = kps[-1]
    step = rec.push(Keypoints(k.values, k.frame + 1, k.t_capture, k.t_media + 1 / 30, True, segment=1))
    assert [d.label for d in step.earlier] == ["hello"] and step.decisions == [] and step.resets == 1
    assert step.window is None  # the new segment's window starts empty
