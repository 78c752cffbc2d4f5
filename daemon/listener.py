"""A client of the event socket that keeps listening: reconnects with backoff when the daemon
restarts, and hands every line to a callback. Used by `signd listen`; a model for integrators."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable

from .errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_SOCKET = "/run/signd/events.sock"


def connect(address: str, timeout: float = 5.0) -> socket.socket:
    """A connected socket for a Unix socket path or tcp://HOST:PORT."""
    if address.startswith("tcp://"):
        host, _, port = address[len("tcp://") :].rpartition(":")
        if not port.isdigit():
            raise ConfigError(f"expected tcp://HOST:PORT, got {address!r}")
        return socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(address)
    except OSError:
        s.close()
        raise
    return s


def listen(
    address: str,
    on_line: Callable[[str], bool | None],
    stop: threading.Event,
    commands: list[dict] | None = None,
    backoff: tuple[float, float] = (0.5, 10.0),
    on_state: Callable[[str], None] | None = None,
) -> None:
    """Deliver each line from `address` to `on_line` until `stop` is set or `on_line` returns
    True. Reconnects after any disconnect, waiting longer after each failed attempt.
    `on_state` hears "connected" and "disconnected" as they happen."""
    delay = backoff[0]
    while not stop.is_set():
        try:
            sock = connect(address)
        except OSError as exc:
            log.warning("cannot connect to %s (%s); retrying in %.1f s", address, exc.strerror or exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, backoff[1])
            continue
        log.info("connected to %s", address)
        if on_state:
            on_state("connected")
        delay = backoff[0]
        try:
            for cmd in commands or []:
                sock.sendall((json.dumps(cmd) + "\n").encode())
            sock.settimeout(0.25)  # wake up regularly to notice `stop`
            buf = b""
            while not stop.is_set():
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line and on_line(line.decode("utf-8", "replace")):
                        return
        except OSError as exc:
            log.warning("connection to %s lost: %s", address, exc)
        finally:
            sock.close()
            if on_state:
                on_state("disconnected")
        if not stop.is_set():
            log.info("disconnected from %s; reconnecting in %.1f s", address, delay)
            stop.wait(delay)
            delay = min(delay * 2, backoff[1])
    return
