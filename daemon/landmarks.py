"""MediaPipe's landmark lists -> the tutorial's frame vector.

`landmarks_to_vector` is the tutorial's `extract_keypoints`, exactly: pose 33 x (x, y, z,
visibility), face 468 x 3, left hand 21 x 3, right hand 21 x 3, zeros for a missing part; or
the same without the face for the 258 layout.

Why two ways to read a list: the tutorial's comprehension touches 543 protobuf objects per
frame, Python time taken from the extraction process on every frame (docs/runtime.md has the
measurement). `_wire_points` reads the same floats from the list's serialised bytes with numpy (one C
call to serialise, no per-landmark objects). It only takes the bytes when every landmark
has the exact shape it expects and otherwise hands the list to `_object_points`, so both
give the same float32 values bit for bit (tested on real Holistic output and edge cases).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .layout import FACE_LANDMARKS, HAND_LANDMARKS, POSE_LANDMARKS, TUTORIAL_1662, Layout

# NormalizedLandmark (mediapipe/framework/formats/landmark.proto, proto2): x=1, y=2, z=3,
# visibility=4, presence=5, all `optional float`, so each set field is its tag byte
# ((number << 3) | 5, "32-bit") and four little-endian bytes, in field order.
_FLOAT_TAGS = (0x0D, 0x15, 0x1D, 0x25, 0x2D)
_LIST_ENTRY_TAG = 0x0A  # NormalizedLandmarkList.landmark = 1, length-delimited
_LITTLE_ENDIAN = sys.byteorder == "little"


def _object_points(landmarks: Any, width: int) -> np.ndarray:
    """The tutorial's way: one Python tuple per landmark."""
    if width == 4:
        rows = [(p.x, p.y, p.z, p.visibility) for p in landmarks.landmark]
    else:
        rows = [(p.x, p.y, p.z) for p in landmarks.landmark]
    return np.asarray(rows, np.float32).reshape(-1)


def _wire_points(data: bytes, n: int, width: int) -> np.ndarray | None:
    """The first `width` floats of each of `n` landmarks from a serialised
    NormalizedLandmarkList, or None when the bytes are not the plain layout this reads."""
    if len(data) < 2 or data[1] % 5 or not width <= data[1] // 5 <= len(_FLOAT_TAGS):
        return None
    entry = data[1]  # bytes of one landmark: 5 per float field present
    if len(data) != n * (2 + entry):
        return None
    rows = np.frombuffer(data, np.uint8).reshape(n, 2 + entry)
    if not ((rows[:, 0] == _LIST_ENTRY_TAG).all() and (rows[:, 1] == entry).all()):
        return None
    fields = rows[:, 2:].reshape(n, entry // 5, 5)
    if not (fields[:, :, 0] == np.array(_FLOAT_TAGS[: entry // 5], np.uint8)).all():
        return None
    values = np.ascontiguousarray(fields[:, :width, 1:]).view("<f4").reshape(-1)
    return values if _LITTLE_ENDIAN else values.astype(np.float32)


def _points(landmarks: Any, n: int, with_visibility: bool) -> np.ndarray:
    width = 4 if with_visibility else 3
    if landmarks is None:
        return np.zeros(n * width, np.float32)
    values = _wire_points(landmarks.SerializeToString(), n, width)
    return values if values is not None else _object_points(landmarks, width)


def landmarks_to_vector(results: Any, layout: Layout = TUTORIAL_1662) -> np.ndarray:
    """One frame vector from Holistic results, in `layout` (the tutorial's order)."""
    parts = [_points(results.pose_landmarks, POSE_LANDMARKS, True)]
    if layout.face is not None:
        parts.append(_points(results.face_landmarks, FACE_LANDMARKS, False))
    parts.append(_points(results.left_hand_landmarks, HAND_LANDMARKS, False))
    parts.append(_points(results.right_hand_landmarks, HAND_LANDMARKS, False))
    return np.concatenate(parts)
