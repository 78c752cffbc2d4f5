"""Landmark lists -> frame vectors: the serialised-bytes reader against the tutorial's way.

MediaPipe's own protobuf classes build the lists, so the bytes are what Holistic's lists
serialise to; the real-video equality is in test_keypoints_video.py (and below, when the
shared videos are present).
"""

from __future__ import annotations

import math
import types

import numpy as np
import pytest

landmark_pb2 = pytest.importorskip("mediapipe.framework.formats.landmark_pb2")

from signd.daemon import landmarks as L  # noqa: E402
from signd.daemon.layout import POSE_HANDS_258, TUTORIAL_1662  # noqa: E402

from conftest import shared_path  # noqa: E402

SPECIAL = [0.0, -0.0, 1.0, -1.5, 1e-40, 3.4e38, math.inf, -math.inf, 0.1234567]


def make_list(n: int, fields: tuple[str, ...], rng: np.random.Generator, special: bool = False):
    lst = landmark_pb2.NormalizedLandmarkList()
    for i in range(n):
        p = lst.landmark.add()
        for j, name in enumerate(fields):
            value = SPECIAL[(i + j) % len(SPECIAL)] if special else float(rng.normal())
            setattr(p, name, value)
    return lst


def tutorial(lst, width: int) -> np.ndarray:
    names = ("x", "y", "z", "visibility")[:width]
    return np.array([[getattr(p, k) for k in names] for p in lst.landmark], np.float32).reshape(-1)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("fields", [
    ("x", "y", "z"),
    ("x", "y", "z", "visibility"),
    ("x", "y", "z", "visibility", "presence"),
])
@pytest.mark.parametrize("special", [False, True])
def test_wire_reader_matches_the_tutorial_bit_for_bit(fields, special):
    rng = np.random.default_rng(len(fields))
    for n, width in ((33, 4), (468, 3), (21, 3)):
        if width > len(fields):
            continue
        lst = make_list(n, fields, rng, special)
        fast = L._wire_points(lst.SerializeToString(), n, width)
        assert fast is not None, (fields, n)
        assert same(fast, tutorial(lst, width))
        assert same(L._points(lst, n, width == 4), tutorial(lst, width))


def test_nan_survives_as_nan():
    lst = make_list(21, ("x", "y", "z"), np.random.default_rng(0))
    lst.landmark[3].y = math.nan
    v = L._points(lst, 21, False)
    assert np.isnan(v[3 * 3 + 1]) and np.isnan(v).sum() == 1


@pytest.mark.parametrize("case", ["no_visibility", "a_missing_z", "presence_without_visibility", "wrong_count", "empty"])
def test_lists_of_another_shape_take_the_tutorials_path(case):
    rng = np.random.default_rng(1)
    n, width = (33, 4) if case in ("no_visibility", "presence_without_visibility") else (21, 3)
    if case == "no_visibility":
        lst = make_list(n, ("x", "y", "z"), rng)
    elif case == "presence_without_visibility":
        lst = make_list(n, ("x", "y", "z", "presence"), rng)
    elif case == "a_missing_z":
        lst = make_list(n, ("x", "y", "z"), rng)
        lst.landmark[5].ClearField("z")
    elif case == "wrong_count":
        lst = make_list(n + 1, ("x", "y", "z"), rng)
    else:
        lst = landmark_pb2.NormalizedLandmarkList()
    assert L._wire_points(lst.SerializeToString(), n, width) is None
    assert same(L._points(lst, n, width == 4), tutorial(lst, width))


def test_missing_parts_are_zeros_in_both_layouts():
    rng = np.random.default_rng(2)
    results = types.SimpleNamespace(
        pose_landmarks=make_list(33, ("x", "y", "z", "visibility", "presence"), rng),
        face_landmarks=None,
        left_hand_landmarks=make_list(21, ("x", "y", "z"), rng),
        right_hand_landmarks=None,
    )
    v = L.landmarks_to_vector(results, TUTORIAL_1662)
    assert v.shape == (1662,) and v.dtype == np.float32
    assert not v[132:1536].any() and not v[1599:].any()
    assert same(v[:132], tutorial(results.pose_landmarks, 4))
    assert same(v[1536:1599], tutorial(results.left_hand_landmarks, 3))
    v258 = L.landmarks_to_vector(results, POSE_HANDS_258)
    assert same(v258, np.concatenate([v[:132], v[1536:]]))


def test_real_holistic_output_reads_the_same_both_ways():
    cv2 = pytest.importorskip("cv2")
    from signd.daemon.holistic import new_holistic

    video = shared_path("videos", "thanks.mp4")
    cap = cv2.VideoCapture(str(video))
    holistic = new_holistic(1)
    read = 0
    try:
        while read < 20:
            ok, bgr = cap.read()
            if not ok:
                break
            res = holistic.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            for lst, n, width in ((res.pose_landmarks, 33, 4), (res.face_landmarks, 468, 3),
                                  (res.left_hand_landmarks, 21, 3), (res.right_hand_landmarks, 21, 3)):
                if lst is None:
                    continue
                fast = L._wire_points(lst.SerializeToString(), n, width)
                assert fast is not None  # Holistic's lists are the plain shape: the fast path is taken
                assert same(fast, tutorial(lst, width))
                read += 1
    finally:
        cap.release()
        holistic.close()
    assert read >= 20
