"""One frame's keypoints: the message from the extractor (or a replay) to the recognizer.

Also `skeleton()`, the part of a frame vector a display draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layout import HAND_LANDMARKS, POSE_LANDMARKS, Layout


@dataclass(frozen=True, slots=True)
class Keypoints:
    """One frame's keypoint vector with the facts of its frame."""

    values: np.ndarray
    """float32 (F,) in the source's layout."""
    frame: int
    """0-based position in the source."""
    t_capture: float
    """time.monotonic() when the frame was captured."""
    t_media: float
    """Position in the source's own timeline, seconds."""
    hands: bool
    """Whether a hand was seen (`Layout.hands`)."""
    segment: int = 0
    """Frames of one segment are one continuous stream; a new segment is a cut."""
    segment_end: bool = False
    """The last frame of its segment (a replayed clip's last frame)."""
    t_extracted: float = 0.0
    """time.monotonic() when the vector was ready (for the pipeline's timings only)."""

    @classmethod
    def stream(cls, frames: np.ndarray, layout: Layout, fps: float) -> list[Keypoints]:
        """A continuous stream of frames (N, F) at `fps`, as a camera or the demo gives it:
        one segment, media time i / fps (what the replay sources stamp)."""
        hands = layout.hands(frames)
        return [cls(frames[i], i, i / fps, i / fps, bool(hands[i])) for i in range(len(frames))]


def skeleton(values: np.ndarray, layout: Layout, digits: int = 3) -> tuple[list | None, list | None, list | None]:
    """Pose (33 x [x, y, visibility]) and hands (21 x [x, y]) of one frame vector for drawing;
    None for a part that was not detected. Rounded in float64 (a float32 0.512 would print as
    0.5120000243186951): a display needs no more, and the line stays near 1 KB."""
    v = values.astype(np.float64)
    pose = v[layout.pose].reshape(POSE_LANDMARKS, 4)
    parts: list[list | None] = [np.round(pose[:, [0, 1, 3]], digits).tolist() if pose.any() else None]
    for sl in (layout.left_hand, layout.right_hand):
        hand = v[sl].reshape(HAND_LANDMARKS, 3)
        parts.append(np.round(hand[:, :2], digits).tolist() if hand.any() else None)
    return parts[0], parts[1], parts[2]
