"""MediaPipe Holistic's graph fed the next frame before the last one's results are out.

`solutions.holistic.Holistic.process` sends one frame into the graph and waits until the
whole graph is idle: the face and hand models of frame n finish on one core while the other
waits, because the pose model of frame n+1 may not start. The graph itself allows that
overlap: every calculator still sees its timestamps in order, and tracking (the regions of
interest carried from one frame to the next through MediaPipe's loopback streams) waits for
the previous frame's landmarks, so the results are the same, bit for bit (tested), while two
frames in the graph keep both cores busy, so more frames per second (docs/runtime.md).

Results are gathered per timestamp from the graph's own output observers (`process` keeps
only the latest packet per stream); a stream has settled a frame when it sent a packet at
that timestamp, or an empty packet that moves its timestamp bound past it (no landmarks).

That reaches into private parts of MediaPipe's `SolutionBase` that another MediaPipe may
lack: `open_graph` checks for them, else falls back to `process`, one frame at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from types import SimpleNamespace
from typing import Any

import numpy as np

STREAMS = ("pose_landmarks", "face_landmarks", "left_hand_landmarks", "right_hand_landmarks")
FRAME_US = 33333  # the timestamps `process` uses: a 30 fps video
RESULT_TIMEOUT = 60.0  # a frame never takes this long; the graph has failed or hung
PRIVATE = ("_graph", "_output_stream_type_info", "_graph_outputs", "_get_packet_content")
GRAPH_METHODS = ("add_packet_to_input_stream", "has_error")

log = logging.getLogger(__name__)
_warned = False  # the fallback is a property of the installed MediaPipe: say so once


class _Outputs:
    """Stands in for SolutionBase's `_graph_outputs`: its output observer files each packet
    here, by timestamp, from MediaPipe's threads."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.packets: dict[int, dict[str, Any]] = {}
        self.settled = dict.fromkeys(STREAMS, -1)

    def __setitem__(self, stream: str, packet: Any) -> None:
        if stream not in self.settled:
            return  # pose world landmarks, segmentation mask: not part of the vector
        ts = packet.timestamp.value
        with self.cond:
            if not packet.is_empty():
                self.packets.setdefault(ts, {})[stream] = packet
            self.settled[stream] = ts
            self.cond.notify_all()

    def take(self, ts: int, graph: Any) -> dict[str, Any]:
        """The packets of frame `ts` once every stream has settled it."""
        deadline = time.monotonic() + RESULT_TIMEOUT
        with self.cond:
            while not self.cond.wait_for(lambda: min(self.settled.values()) >= ts, 0.5):
                if graph.has_error():
                    raise RuntimeError("MediaPipe's graph failed; its log says why")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"MediaPipe gave no result for a frame within {RESULT_TIMEOUT:.0f} s")
            return self.packets.pop(ts, {})


class HolisticGraph:
    """Frames in with `submit`, results out with `collect`, in order; up to `depth` at once."""

    depth = 2

    def __init__(self, holistic: Any) -> None:
        from mediapipe.python import packet_creator
        from mediapipe.python._framework_bindings import image_frame

        self._holistic = holistic
        self._graph = holistic._graph
        self._types = holistic._output_stream_type_info
        self._outputs = _Outputs()
        holistic._graph_outputs = self._outputs  # its observer looks the attribute up per packet
        self._make_packet = packet_creator.create_image_frame
        self._srgb = image_frame.ImageFormat.SRGB
        self._ts = 0
        self._pending: deque[tuple[int, float]] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def submit(self, rgb: np.ndarray) -> None:
        """Send one RGB uint8 frame (H, W, 3) into the graph. MediaPipe copies it, so the
        caller may reuse the buffer at once."""
        _check(rgb, len(self), self.depth)
        self._ts += FRAME_US
        packet = self._make_packet(rgb, image_format=self._srgb, copy=True).at(self._ts)
        self._graph.add_packet_to_input_stream(stream="image", packet=packet)
        self._pending.append((self._ts, time.monotonic()))

    def collect(self) -> tuple[SimpleNamespace, float]:
        """The oldest submitted frame's landmarks (None for a part not found), and when it
        was submitted (time.monotonic)."""
        if not self._pending:
            raise RuntimeError("collect() with no frame submitted")
        ts, submitted = self._pending.popleft()
        packets = self._outputs.take(ts, self._graph)
        get = self._holistic._get_packet_content
        return SimpleNamespace(**{
            s: get(self._types[s], packets[s]) if s in packets else None for s in STREAMS
        }), submitted


class OneAtATime:
    """HolisticGraph's interface over the public `process`: one frame in flight, run at
    `submit`, so the caller's buffer is free once it returns."""

    depth = 1

    def __init__(self, holistic: Any) -> None:
        self._holistic = holistic
        self._done: deque[tuple[Any, float]] = deque()

    def __len__(self) -> int:
        return len(self._done)

    def submit(self, rgb: np.ndarray) -> None:
        """Run `process` on one RGB uint8 frame (H, W, 3)."""
        _check(rgb, len(self), self.depth)
        submitted = time.monotonic()
        self._done.append((self._holistic.process(rgb), submitted))

    def collect(self) -> tuple[Any, float]:
        """What `process` gave for the submitted frame, and when it was submitted."""
        if not self._done:
            raise RuntimeError("collect() with no frame submitted")
        return self._done.popleft()


def _check(rgb: np.ndarray, in_flight: int, depth: int) -> None:
    if in_flight >= depth:
        raise RuntimeError("collect() a result before submitting more frames")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"a frame must be RGB (H, W, 3), got shape {rgb.shape}")


def _missing(holistic: Any) -> list[str]:
    absent = [a for a in PRIVATE if not hasattr(holistic, a)]
    if "_graph" not in absent:
        absent += [f"_graph.{m}" for m in GRAPH_METHODS if not hasattr(holistic._graph, m)]
    try:  # a private module too: the frame packets are made with its image format
        from mediapipe.python._framework_bindings import image_frame

        image_frame.ImageFormat.SRGB  # noqa: B018 - probing that it exists
    except (ImportError, AttributeError):
        absent.append("mediapipe.python._framework_bindings.image_frame.ImageFormat.SRGB")
    return absent


def open_graph(holistic: Any) -> HolisticGraph | OneAtATime:
    """HolisticGraph over `holistic` if this MediaPipe has what it needs, else OneAtATime."""
    global _warned
    absent = _missing(holistic)
    if not absent:
        return HolisticGraph(holistic)
    if not _warned:
        _warned = True
        log.warning("MediaPipe's Holistic lacks %s: falling back to process() one frame at a time",
                    ", ".join(absent))
    return OneAtATime(holistic)
