"""How the pipeline's threads ask Linux's scheduler for what they need.

MediaPipe keeps the cores busy. The threads after it need little CPU but need it at once:
under EEVDF (Linux 6.6+) a woken thread waits for the running one's slice to end (the
kernel's base slice, a few milliseconds), which is where most of a window's wait after its keypoints were ready went. A thread
that asks for a short slice (Linux 6.12+, no privilege needed) gets an earlier deadline and
runs as soon as it wakes. MediaPipe's process, which keeps the cores busy, and file
decoding, which has no deadline at all, ask for less priority instead (a higher nice
value). All are requests: where the kernel or a seccomp filter refuses, the thread runs as
before, and the log says so at debug level.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import platform
import threading

log = logging.getLogger(__name__)

EXTRACTOR_NICENESS = 5
"""The keypoint process's nice value above the daemon's: MediaPipe yields the cores to the
daemon's own threads, which need little CPU but need it at once."""

SHORT_SLICE_US = 100
"""The kernel's minimum: the work after extraction is a fraction of a millisecond a window."""

_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274, "armv7l": 380}


class _SchedAttr(ctypes.Structure):
    # struct sched_attr, SCHED_ATTR_SIZE_VER1 (56 bytes), from linux/sched/types.h
    _fields_ = [
        ("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32), ("sched_flags", ctypes.c_uint64),
        ("sched_nice", ctypes.c_int32), ("sched_priority", ctypes.c_uint32), ("sched_runtime", ctypes.c_uint64),
        ("sched_deadline", ctypes.c_uint64), ("sched_period", ctypes.c_uint64),
        ("sched_util_min", ctypes.c_uint32), ("sched_util_max", ctypes.c_uint32),
    ]


def _sched_setattr(tid: int, nice: int, runtime_ns: int) -> int:
    """0, or the errno of sched_setattr(SCHED_OTHER, `nice`, slice `runtime_ns`) on `tid`."""
    nr = _SCHED_SETATTR.get(platform.machine())
    if nr is None:
        return errno.ENOSYS
    attr = _SchedAttr(size=ctypes.sizeof(_SchedAttr), sched_policy=0, sched_nice=nice, sched_runtime=runtime_ns)
    libc = ctypes.CDLL(None, use_errno=True)
    return 0 if libc.syscall(nr, tid, ctypes.byref(attr), 0) == 0 else ctypes.get_errno()


def lower_thread_priority(by: int) -> bool:
    """Raise the calling thread's nice value by `by` (on Linux a thread is its own task; the
    threads it starts afterwards inherit the value)."""
    try:
        tid = threading.get_native_id()
        nice = min(19, os.getpriority(os.PRIO_PROCESS, tid) + by)
    except (AttributeError, OSError) as exc:
        log.debug("could not lower %s's priority: %s", threading.current_thread().name, exc)
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, tid, nice)
        return True
    except OSError as exc:
        # The systemd unit filters setpriority (@resources) but lets sched_setattr through.
        err = _sched_setattr(tid, nice, 0)
        if err:
            log.debug("could not lower %s's priority: %s; %s", threading.current_thread().name, exc, os.strerror(err))
        return err == 0


def request_short_slice(microseconds: int = SHORT_SLICE_US) -> bool:
    """Ask for a `microseconds` time slice for the calling thread (SCHED_OTHER, its nice
    value unchanged); True when the kernel took it."""
    if not hasattr(os, "getpriority"):
        return False
    tid = threading.get_native_id()
    try:
        err = _sched_setattr(tid, os.getpriority(os.PRIO_PROCESS, tid), microseconds * 1000)
    except (OSError, AttributeError) as exc:
        log.debug("no short slice for %s: %s", threading.current_thread().name, exc)
        return False
    if err:
        log.debug("no short slice for %s: %s", threading.current_thread().name, os.strerror(err))
    return err == 0


def thread_slice_us(tid: int | None = None) -> int | None:
    """The calling (or given) thread's slice in microseconds, from /proc; None if unknown."""
    tid = tid or threading.get_native_id()
    try:
        with open(f"/proc/self/task/{tid}/sched") as f:
            for line in f:
                if line.startswith("se.slice"):
                    return int(line.split(":")[1]) // 1000
    except (OSError, ValueError):
        pass
    return None
