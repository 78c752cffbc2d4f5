"""MediaPipe Holistic in a process of its own, behind the same `extract` as `HolisticExtractor`.

Why: MediaPipe's Python side (packet creation, output callbacks from its C++ threads, protobuf
conversion) needs the GIL many times a frame. In one process it takes turns with the inference
thread, so a window waited for the GIL after its keypoints were ready, and MediaPipe waited
for the inference thread in turn. In a child process each side has its own GIL.

Frames travel through one shared memory buffer (a memfd handed to the child over the control
socket: no file in /dev/shm to leak), keypoint vectors back as bytes. Messages are typed, so
either side rejects by its type what it does not expect instead of unpacking the wrong shape.
The child ignores SIGINT and SIGTERM: the daemon decides when extraction ends (Ctrl-C in a
terminal and systemd's stop signal reach the whole process group) and the child exits when
told to, or when its parent's end of the socket closes.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import mmap
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle
from typing import TypeVar

import numpy as np

from .config import KeypointsConfig
from .errors import EX_SOFTWARE, SigndError
from .holistic_graph import HolisticGraph
from .layout import Layout, layout_named

log = logging.getLogger(__name__)

START_TIMEOUT = 120.0  # importing mediapipe and building the graph, on a slow Pi's SD card
RESULT_POLL = 0.5
STOP_POLL = 0.05  # while starting: how soon a stop is noticed


class ExtractorGone(SigndError):
    """The extraction process ended or failed: one line with its exit code, not a traceback."""

    exit_code = EX_SOFTWARE


def supported() -> bool:
    """Whether this platform can run the extractor in a child process (Linux: memfd)."""
    return hasattr(os, "memfd_create")


# The messages through the control socket, pickled: parent to child...
@dataclass(frozen=True, slots=True)
class NewBuffer:  # its memfd follows on the socket: a handle is not picklable
    size: int


@dataclass(frozen=True, slots=True)
class FrameAt:  # RGB, uint8
    offset: int
    height: int
    width: int


@dataclass(frozen=True, slots=True)
class Stop:
    """No more frames: the child closes MediaPipe and exits."""


# ...and child to parent.
@dataclass(frozen=True, slots=True)
class Ready:
    pid: int


@dataclass(frozen=True, slots=True)
class Failed:
    why: str


@dataclass(frozen=True, slots=True)
class Result:  # for the oldest frame in flight: frames are answered in order
    values: bytes
    started_at: float
    finished_at: float


Request = NewBuffer | FrameAt | Stop
R = TypeVar("R", Ready, Result)


def _serve(conn: Connection, layout_name: str, model_complexity: int, niceness: int) -> None:
    """The child: build Holistic, then answer frames until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from .holistic import HolisticExtractor
    from .scheduling import lower_thread_priority

    # Before MediaPipe starts its threads, which inherit it: with two frames in its graph
    # MediaPipe keeps both cores busy, and the daemon's own threads (a window's inference,
    # the hand-over) must not queue behind it; they need little CPU, so MediaPipe keeps pace.
    if niceness:
        lower_thread_priority(niceness)

    extractor: HolisticExtractor | None = None
    buf: mmap.mmap | None = None
    in_graph = 0
    try:
        extractor = HolisticExtractor(layout_named(layout_name), model_complexity)
        conn.send(Ready(os.getpid()))
        while True:
            # Take the frames already waiting while the graph has room; block for one only
            # when it has none, so a result never waits for a frame that is not coming.
            while in_graph < extractor.depth and (in_graph == 0 or conn.poll()):
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    return  # the parent is gone
                match msg:
                    case Stop():
                        return
                    case NewBuffer(size):
                        fd = recv_handle(conn)
                        if buf is not None:
                            buf.close()
                        buf = mmap.mmap(fd, size)
                        os.close(fd)
                    case FrameAt() if buf is None:
                        raise RuntimeError("a frame arrived before any shared buffer")
                    case FrameAt(offset, h, w):
                        # MediaPipe copies the frame: its slot is free for the parent again.
                        extractor.submit(np.ndarray((h, w, 3), np.uint8, buffer=buf, offset=offset))
                        in_graph += 1
                    case _:
                        raise TypeError(f"unexpected message {type(msg).__name__}")
            values = extractor.collect()
            in_graph -= 1
            conn.send(Result(values.tobytes(), extractor.started_at, extractor.finished_at))
    except Exception as exc:  # reported to the parent, which raises it there
        with contextlib.suppress(OSError):  # unless it is gone
            conn.send(Failed(f"{type(exc).__name__}: {exc}"))
    finally:
        if extractor is not None:
            extractor.close()
        if buf is not None:
            buf.close()


class ExtractorProcess:
    """RGB frames in, keypoint vectors out, computed in a child process. One thread uses it.

    Up to `depth` frames can be in flight (`submit` ... `collect`, in order); `extract` is
    both for one frame. `started_at`/`finished_at` are when the last collected frame went into
    MediaPipe's graph and when its vector was ready (time.monotonic, one clock for all
    processes on Linux).
    """

    depth = HolisticGraph.depth + 1
    """The graph's frames and one more waiting in the socket, so the child refills the graph
    the moment a result leaves it instead of after a round trip to this process."""
    SLOTS = depth  # frames the shared buffer holds: as many as may be in flight

    def __init__(self, layout: Layout, config: KeypointsConfig, stop: threading.Event | None = None) -> None:
        """Start the child and wait until MediaPipe is ready in it; `stop` set meanwhile ends
        the wait at once (the daemon is stopping: a slow start must not outlast its stop)."""
        model_complexity, niceness = config.model_complexity, config.niceness
        self.layout = layout
        # A plain child interpreter, not multiprocessing's spawn: that would re-run the
        # parent's main module (a script, pytest, `python -c`) before getting to work.
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__, str(theirs.fileno()), layout.name, str(model_complexity), str(niceness)],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
            # numpy's BLAS would start a thread per core at import, before the child lowers
            # its priority; the child does no linear algebra.
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        self._fd = -1
        self._buf: mmap.mmap | None = None
        self._slot_bytes = 0
        self._submitted = 0
        self._in_flight = 0
        self.started_at = self.finished_at = 0.0
        try:
            ready = self._expect(Ready, "could not start", START_TIMEOUT, stop)
        except ExtractorGone:
            self.close(kill=True)
            raise
        log.debug("keypoints in process %d", ready.pid)

    def _expect(self, kind: type[R], failed: str, timeout: float | None = None,
                stop: threading.Event | None = None) -> R:
        """The next reply, which must be a `kind`; `failed` says what a `Failed` one means."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._conn.poll(RESULT_POLL if stop is None else STOP_POLL):
            if stop is not None and stop.is_set():
                raise ExtractorGone("stopped while the keypoint process was starting")
            if self._proc.poll() is not None:
                raise self._gone("no reply")
            if deadline is not None and time.monotonic() > deadline:
                raise ExtractorGone(f"the keypoint process did not answer within {timeout:.0f} s")
        try:
            reply = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise self._gone(exc or "connection closed") from None
        if isinstance(reply, kind):
            return reply
        if isinstance(reply, Failed):
            raise ExtractorGone(f"the keypoint process {failed}: {reply.why}")
        raise ExtractorGone(f"the keypoint process sent {type(reply).__name__}, not {kind.__name__}")

    def _gone(self, why: object) -> ExtractorGone:
        code = self._proc.poll()
        if code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._proc.wait(0.5)
        return ExtractorGone(f"the keypoint process ended (exit code {code}: {why})")

    def _send(self, msg: Request) -> None:
        try:
            self._conn.send(msg)
        except OSError as exc:
            raise self._gone(exc) from None

    def _ensure_buffer(self, frame_bytes: int) -> None:
        if frame_bytes <= self._slot_bytes:
            return
        # The child maps the new buffer before it reads the next frame; a frame still in
        # flight stays readable through its own mapping of the old one.
        if self._buf is not None:
            self._buf.close()
            os.close(self._fd)
        size = frame_bytes * self.SLOTS
        self._fd = os.memfd_create("signd-frames", os.MFD_CLOEXEC)
        os.ftruncate(self._fd, size)
        self._buf = mmap.mmap(self._fd, size)
        self._slot_bytes = frame_bytes
        self._send(NewBuffer(size))
        try:
            send_handle(self._conn, self._fd, self._proc.pid)
        except OSError as exc:
            raise self._gone(exc) from None

    def submit(self, rgb: np.ndarray) -> None:
        """Hand one RGB uint8 frame (H, W, 3) to the child; at most `depth` in flight."""
        if self._in_flight >= self.depth:
            raise RuntimeError("collect() a result before submitting more frames")
        h, w = rgb.shape[:2]
        self._ensure_buffer(rgb.nbytes)
        assert self._buf is not None
        offset = (self._submitted % self.SLOTS) * self._slot_bytes
        np.ndarray(rgb.shape, np.uint8, buffer=self._buf, offset=offset)[...] = rgb
        self._send(FrameAt(offset, h, w))
        self._submitted += 1
        self._in_flight += 1

    def collect(self) -> np.ndarray:
        """The keypoint vector (layout.size,) float32 of the oldest submitted frame."""
        result = self._expect(Result, "failed to extract keypoints")
        self._in_flight -= 1
        self.started_at, self.finished_at = result.started_at, result.finished_at
        return np.frombuffer(result.values, np.float32)

    def extract(self, rgb: np.ndarray) -> np.ndarray:
        """`submit` then `collect` for one frame."""
        self.submit(rgb)
        return self.collect()

    def close(self, kill: bool = False) -> None:
        """Stop the child (killing it if it does not leave, or at once with `kill`: a child
        still starting reads no message) and free the shared buffer."""
        with contextlib.suppress(OSError, ValueError):  # the child may be gone already
            self._conn.send(Stop())
        try:
            if kill:
                self._proc.kill()
            self._proc.wait(2.0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(1.0)
        self._conn.close()
        if self._buf is not None:
            self._buf.close()
            os.close(self._fd)
            self._buf = None


if __name__ == "__main__":
    # Serve from this module under its package name, not as __main__: the messages must
    # unpickle here as the classes `_serve` matches on, and in the parent as classes it has.
    module = importlib.import_module(__spec__.name)
    module._serve(Connection(int(sys.argv[1])), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    # MediaPipe is closed and nothing is left to flush: skip the interpreter's teardown of
    # mediapipe's and TensorFlow's modules, which takes longer than the daemon's whole stop may
    # (systemd allows 2 s), and would hold the extraction thread past its join.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
