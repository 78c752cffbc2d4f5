"""The small text files the daemon reads (its configuration, a model's manifest, the MQTT
password) through one bounded path that raises only the project's errors.

A FIFO would block the daemon's start for ever and `/dev/zero` would be read until memory ran
out, so only regular files are read, and only up to a limit; bytes that are not UTF-8 are one
line naming the file and the offset, not a traceback.
"""

from __future__ import annotations

import errno
import os
import stat

from .errors import SigndError


def read_text(path: str | os.PathLike[str], what: str, error: type[SigndError], limit: int) -> str:
    """The UTF-8 text of regular file `path`, at most `limit` bytes; `error` (naming `what` and
    the file) otherwise."""
    p = os.fspath(path)
    try:
        # Non-blocking: opening a FIFO without a writer returns at once instead of waiting.
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{what} not found: {p}") from None
    except OSError as exc:
        raise error(f"{what} {p} cannot be read: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        why = os.strerror(errno.EISDIR) if stat.S_ISDIR(mode) else "not a regular file"
        raise error(f"{what} {p} cannot be read: {why}")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise error(f"{what} {p} cannot be read: {exc.strerror}") from None
    if len(data) > limit:
        raise error(f"{what} {p} is larger than {limit:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {p} is not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r})") from None
