"""Keypoint layouts: where pose, face and hands live in one frame vector.

`tutorial-1662` is the tutorial's `extract_keypoints`: pose 33 x (x, y, z, visibility), face
468 x 3, left hand 21 x 3, right hand 21 x 3, zeros for a part that was not detected.
`pose-hands-258` is the same without the face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POSE_LANDMARKS = 33
FACE_LANDMARKS = 468
HAND_LANDMARKS = 21
MIN_HAND_FRAMES = 3
"""Every sign is made with the hands: a sequence or window with a hand found in fewer frames
than this shows none (training sets such sequences aside; enrolling leaves such examples out)."""


@dataclass(frozen=True)
class Layout:
    """Column ranges of one keypoint frame vector."""

    name: str
    size: int
    pose: slice
    face: slice | None
    left_hand: slice
    right_hand: slice

    def hands(self, frames: np.ndarray) -> np.ndarray:
        """Whether at least one hand was detected, per frame (works on (F,) or (T, F))."""
        lh = np.any(frames[..., self.left_hand] != 0, axis=-1)
        rh = np.any(frames[..., self.right_hand] != 0, axis=-1)
        return lh | rh

    def hand_frames(self, windows: np.ndarray) -> np.ndarray:
        """In how many frames a hand was seen, per window (..., T, F)."""
        return self.hands(windows).sum(axis=-1)


TUTORIAL_1662 = Layout(
    name="tutorial-1662",
    size=1662,
    pose=slice(0, 132),
    face=slice(132, 1536),
    left_hand=slice(1536, 1599),
    right_hand=slice(1599, 1662),
)

POSE_HANDS_258 = Layout(
    name="pose-hands-258",
    size=258,
    pose=slice(0, 132),
    face=None,
    left_hand=slice(132, 195),
    right_hand=slice(195, 258),
)

LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (TUTORIAL_1662, POSE_HANDS_258)}
_BY_SIZE: dict[int, Layout] = {lay.size: lay for lay in LAYOUTS.values()}

# 1662 -> 258 keeps pose and both hands, in that order.
_POSE_HANDS_COLUMNS = np.r_[0:132, 1536:1662]


def layout_named(name: str) -> Layout:
    """The layout called `name`; KeyError lists the known ones."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise KeyError(f"unknown keypoint layout {name!r} (known: {', '.join(LAYOUTS)})") from None


def layout_for_size(size: int) -> Layout | None:
    """The layout whose frames have `size` values, or None."""
    return _BY_SIZE.get(size)


def convert_layout(frames: np.ndarray, src: Layout, dst: Layout) -> np.ndarray:
    """Frames (..., src.size) in layout `dst`; only dropping the face is possible."""
    if src == dst:
        return frames
    if src == TUTORIAL_1662 and dst == POSE_HANDS_258:
        return frames[..., _POSE_HANDS_COLUMNS]
    raise ValueError(f"cannot make {dst.name} frames from {src.name} frames (the face is missing)")
