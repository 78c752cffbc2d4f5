"""Real MediaPipe on a real video: signd's vectors against an independent Holistic call."""

import threading

import cv2
import numpy as np
import pytest

from signd.daemon.config import SourceConfig
from signd.daemon.holistic import HolisticExtractor, pose_model_path
from signd.daemon.layout import POSE_HANDS_258, TUTORIAL_1662
from signd.daemon.sources import make_source

from conftest import run_signd, shared_path


def tutorial_extract_keypoints(results):
    """The tutorial's function, verbatim in spirit: the reference layout."""
    pose = np.array([[r.x, r.y, r.z, r.visibility] for r in results.pose_landmarks.landmark]).flatten() if results.pose_landmarks else np.zeros(33 * 4)
    face = np.array([[r.x, r.y, r.z] for r in results.face_landmarks.landmark]).flatten() if results.face_landmarks else np.zeros(468 * 3)
    lh = np.array([[r.x, r.y, r.z] for r in results.left_hand_landmarks.landmark]).flatten() if results.left_hand_landmarks else np.zeros(21 * 3)
    rh = np.array([[r.x, r.y, r.z] for r in results.right_hand_landmarks.landmark]).flatten() if results.right_hand_landmarks else np.zeros(21 * 3)
    return np.concatenate([pose, face, lh, rh])


@pytest.fixture(scope="module")
def hello_vectors():
    video = shared_path("videos", "hello.mp4")
    # signd's path: the video source (shrink to 640, BGR -> RGB) and the extractor
    src = make_source(SourceConfig(uri=str(video), fast=True), threading.Event())
    src.open()
    ours_x = HolisticExtractor(TUTORIAL_1662, 1)
    ours = []
    while (f := src.read()) is not None:
        ours.append(ours_x.extract(f.image))
    ours_x.close()
    # an independent call: OpenCV and mp.solutions.holistic directly, as the tutorial does
    import mediapipe as mp

    ref, raw = [], []
    cap = cv2.VideoCapture(str(video))
    with mp.solutions.holistic.Holistic(min_detection_confidence=0.5, min_tracking_confidence=0.5) as h:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            bgr = cv2.resize(bgr, (640, round(bgr.shape[0] * 640 / bgr.shape[1])), interpolation=cv2.INTER_AREA)
            res = h.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            ref.append(tutorial_extract_keypoints(res))
            raw.append(res)
    return np.stack(ours), np.stack(ref), raw


def test_vectors_match_an_independent_holistic_call(hello_vectors):
    ours, ref, _ = hello_vectors
    assert ours.shape == ref.shape == (37, 1662) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_layout_and_order(hello_vectors):
    ours, _, raw = hello_vectors
    for v, res in zip(ours, raw, strict=True):
        if res.pose_landmarks:
            nose = res.pose_landmarks.landmark[0]
            assert v[0:4] == pytest.approx([nose.x, nose.y, nose.z, nose.visibility], abs=1e-6)
        if res.left_hand_landmarks:
            wrist = res.left_hand_landmarks.landmark[0]
            assert v[1536:1539] == pytest.approx([wrist.x, wrist.y, wrist.z], abs=1e-6)
        else:
            assert not v[1536:1599].any()
        if res.right_hand_landmarks is None:
            assert not v[1599:1662].any()
        assert bool(v[132:1536].any()) == (res.face_landmarks is not None)


def test_a_hand_in_most_frames(hello_vectors):
    ours, _, _ = hello_vectors
    frac = TUTORIAL_1662.hands(ours).mean()
    assert frac > 0.5, frac


def test_258_layout_is_1662_without_the_face(hello_vectors):
    ours, _, _ = hello_vectors
    video = shared_path("videos", "hello.mp4")
    src = make_source(SourceConfig(uri=str(video), fast=True), threading.Event())
    src.open()
    x = HolisticExtractor(POSE_HANDS_258, 1)
    v258 = np.stack([x.extract(f.image) for f in iter(src.read, None)])
    x.close()
    np.testing.assert_allclose(v258, np.concatenate([ours[:, :132], ours[:, 1536:]], axis=1), atol=1e-6)


def test_signd_run_on_the_video(tmp_path):
    from modelkit import tutorial_sized_tflite

    video = shared_path("videos", "hello.mp4")
    model = tutorial_sized_tflite(tmp_path / "tutorial.tflite", dim=1662)
    p = run_signd("run", "--source", str(video), "--model", str(model), "--fast", "--threshold", "0")
    assert p.returncode == 0, p.stderr
    assert "frames 37 (dropped 0), windows 8" in p.stderr  # windows from frame 29 to 36
    for line in p.stdout.splitlines():
        assert line.startswith('{"v":1,"type":"gesture"')


def test_the_keypoint_process_and_the_thread_give_the_same_events(tmp_path):
    """Frames in flight through the whole pipeline, MediaPipe in its child (three in flight)
    or in the extraction thread (two): the same events, scores and frames."""
    import json

    video = shared_path("videos", "hello.mp4")
    runs = {}
    for isolate in ("true", "false"):
        cfg = tmp_path / f"isolate-{isolate}.toml"
        cfg.write_text(f"[keypoints]\nisolate = {isolate}\n")
        p = run_signd("run", "--config", str(cfg), "--source", str(video), "--fast", "--repeat", "3")
        assert p.returncode == 0, p.stderr
        assert "frames 111 (dropped 0)" in p.stderr
        events = [json.loads(line) for line in p.stdout.splitlines()]
        runs[isolate] = [(e["label"], e["score"], e["top"], e["frame"]) for e in events]
    assert runs["true"] and runs["true"] == runs["false"]


def test_missing_pose_model_says_where_to_put_it():
    import os

    if os.path.exists(pose_model_path(2)):
        pytest.skip("the heavy pose model is installed here")
    from signd.daemon.errors import InputError

    with pytest.raises(InputError, match=r"model_complexity 2 needs MediaPipe's pose_landmark_heavy\.tflite.*put it at .*pose_landmark_heavy\.tflite"):
        HolisticExtractor(TUTORIAL_1662, model_complexity=2)
