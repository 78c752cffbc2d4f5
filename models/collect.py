"""Recording training data the tutorial's way: for each action, `sequences` sequences of
`frames` frames, a pause before each, keypoints from MediaPipe Holistic saved as
`<root>/<action>/<sequence>/<frame>.npy`.

It never overwrites: numbering continues after the highest sequence already in an action's
folder, and a sequence appears only when all its frames are written (it is written to a
hidden temporary folder, then renamed). From a camera the pause is wall-clock time with the
preview running; from a video file the pause skips that much of the video, so a recorded
session can be cut into sequences the same way.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from signd.daemon.errors import ConfigError, InputError
from signd.daemon.layout import Layout
from signd.daemon.recordings import normalize_label

log = logging.getLogger(__name__)

Extract = Callable[[np.ndarray], np.ndarray]  # RGB image -> keypoint vector
Preview = Callable[[np.ndarray, np.ndarray, str], bool]  # image, keypoints, caption -> keep going


@dataclass
class CollectPlan:
    actions: list[str]
    sequences: int = 30
    frames: int = 30
    pause: float = 2.0  # seconds before each sequence


@dataclass
class CollectResult:
    written: dict[str, list[int]] = field(default_factory=dict)  # action -> sequence numbers
    frames_read: int = 0
    frames_skipped: int = 0  # read during pauses
    incomplete: int = 0  # a sequence cut short by the end of the source (discarded)
    stopped: bool = False  # the source ended (or the user quit) before the plan was done


def next_sequence(action_dir: Path) -> int:
    """One more than the highest numbered sequence folder (0 for a new action)."""
    if not action_dir.is_dir():
        return 0
    nums = [int(d.name) for d in action_dir.iterdir() if d.is_dir() and d.name.isdigit()]
    return max(nums) + 1 if nums else 0


def check_plan(plan: CollectPlan) -> None:
    if not plan.actions:
        raise ConfigError("--actions needs at least one name, e.g. --actions hello thanks iloveyou")
    names = [normalize_label(a) for a in plan.actions]
    if any(not n for n in names):
        raise ConfigError(f"--actions has a name with no letters or digits: {plan.actions}")
    if len(set(names)) != len(names):
        raise ConfigError(f"--actions names an action twice (after normalising): {plan.actions}")
    if any(os.sep in a or a.startswith(".") for a in plan.actions):
        raise ConfigError(f"--actions must be plain folder names: {plan.actions}")
    if plan.sequences < 1 or plan.frames < 1 or plan.pause < 0:
        raise ConfigError("--sequences and --frames must be >= 1 and --pause >= 0")


def _write_sequence(action_dir: Path, number: int, frames: list[np.ndarray]) -> Path:
    action_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{number}.", dir=action_dir))
    try:
        for i, f in enumerate(frames):
            np.save(tmp / f"{i}.npy", f)
        final = action_dir / str(number)
        if final.exists():  # someone else wrote it meanwhile: never overwrite
            raise InputError(f"{final} appeared while recording; not overwriting it")
        os.rename(tmp, final)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def collect(source: object, extract: Extract, root: Path, plan: CollectPlan, layout: Layout,
            preview: Preview | None = None, stop: threading.Event | None = None) -> CollectResult:
    """Read `source` (an opened image `signd.daemon.sources.Source`) and write sequences."""
    check_plan(plan)
    result = CollectResult()
    stop = stop or threading.Event()
    live = bool(getattr(source, "live", True))
    for action in plan.actions:
        action_dir = root / action
        number = next_sequence(action_dir)
        result.written[action] = []
        for k in range(plan.sequences):
            caption = f"{action}: sequence {k + 1}/{plan.sequences} (#{number})"
            # The pause: a camera keeps previewing for `pause` seconds; a video skips that much.
            pause_end: float | None = None
            frames: list[np.ndarray] = []
            while len(frames) < plan.frames:
                if stop.is_set():
                    result.stopped = True
                    return result
                frame = source.read()  # type: ignore[attr-defined]
                if frame is None:
                    result.stopped = True
                    result.incomplete += int(bool(frames))
                    return result
                result.frames_read += 1
                if frame.image is None:
                    raise InputError("collect needs images (a camera or a video), not keypoint replays")
                clock = frame.t_media if not live else frame.t_capture
                if pause_end is None:
                    pause_end = clock + plan.pause
                if clock < pause_end - 1e-9:
                    result.frames_skipped += 1
                    if preview and not preview(frame.image, np.zeros(layout.size, np.float32),
                                               f"STARTING {caption}"):
                        result.stopped = True
                        return result
                    continue
                values = extract(frame.image)
                frames.append(values)
                if preview and not preview(frame.image, values, f"recording {caption}"):
                    result.stopped = True
                    return result
            _write_sequence(action_dir, number, frames)
            result.written[action].append(number)
            log.info("%s: wrote %s", caption, action_dir / str(number))
            number += 1
    return result


def draw(image: np.ndarray, values: np.ndarray, layout: Layout, caption: str) -> np.ndarray:
    """The preview picture: the frame (BGR for OpenCV) with pose and hand points and a caption."""
    import cv2

    out = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    h, w = out.shape[:2]
    pose = values[layout.pose].reshape(-1, 4)
    for part, color in ((pose[:, :2], (80, 110, 10)), (values[layout.left_hand].reshape(-1, 3)[:, :2], (121, 22, 76)),
                        (values[layout.right_hand].reshape(-1, 3)[:, :2], (245, 117, 66))):
        if part.any():
            for x, y in part:
                cv2.circle(out, (int(x * w), int(y * h)), 3, color, -1)
    cv2.putText(out, caption, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 255), 2, cv2.LINE_AA)
    return out


def window_preview(layout: Layout, title: str = "signd collect") -> Preview:
    """An OpenCV window; `q` stops. Use only when a display exists."""
    import cv2

    def show(image: np.ndarray, values: np.ndarray, caption: str) -> bool:
        cv2.imshow(title, draw(image, values, layout, caption))
        return (cv2.waitKey(1) & 0xFF) != ord("q")

    return show


def display_available() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
