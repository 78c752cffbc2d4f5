"""Test helpers for the service: a real `signd run` subprocess, a fake NOTIFY_SOCKET that
records sd_notify datagrams, and socket clients that collect what the daemon sends."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from conftest import signd_cmd


def write_config(path: Path, **sections: dict) -> Path:
    """A TOML config file with one table per keyword: write_config(p, socket={"queue": 16})."""
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_until(cond, timeout: float = 60.0, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return False


class NotifyListener:
    """A datagram socket standing in for systemd's notify socket."""

    def __init__(self, path: Path, on_message=None) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, list[str]]] = []
        self.on_message = on_message
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, OSError):
                continue
            fields = data.decode().split("\n")
            self.messages.append((time.monotonic(), fields))
            if self.on_message:
                self.on_message(fields)

    def fields(self) -> list[str]:
        """Every field sent, in order (READY=1, WATCHDOG=1, STATUS=...)."""
        return [f for _, fields in self.messages for f in fields]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class Client:
    """A socket client that reads everything in a thread (unless `read=False`)."""

    def __init__(self, address: str | socket.socket, read: bool = True) -> None:
        if isinstance(address, socket.socket):
            self.sock = address
        elif address.startswith("tcp://"):
            host, _, port = address[6:].rpartition(":")
            self.sock = socket.create_connection((host, int(port)), timeout=10)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(address)
        self.events: list[dict] = []
        self.closed = threading.Event()
        self.paused = threading.Event()
        if not read:
            self.paused.set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buf = b""
        self.sock.settimeout(0.2)
        while True:
            if self.paused.is_set():
                time.sleep(0.02)
                continue
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            self.events += [json.loads(line) for line in lines if line]
        self.closed.set()

    def send(self, data: bytes | dict) -> None:
        self.sock.sendall(data if isinstance(data, bytes) else (json.dumps(data) + "\n").encode())

    def of_type(self, t: str) -> list[dict]:
        return [e for e in self.events if e.get("type") == t]

    def wait_for(self, pred, timeout: float = 30.0) -> bool:
        return wait_until(lambda: pred(self.events), timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class Daemon:
    """`signd run ...` with a fake NOTIFY_SOCKET; events on stdout are collected too."""

    def __init__(self, tmp: Path, *args: str, env: dict | None = None, pass_fds=(), on_notify=None,
                 argv: list[str] | None = None) -> None:
        self.notify = NotifyListener(tmp / "notify.sock", on_notify)
        e = dict(os.environ, NOTIFY_SOCKET=str(self.notify.path), **(env or {}))
        self.proc = subprocess.Popen([*(argv or [*signd_cmd(), "run"]), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=e, pass_fds=pass_fds)
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout_lines), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr_lines), daemon=True),
        ]
        for t in self._readers:
            t.start()

    @staticmethod
    def _pump(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)

    def gestures(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout_lines]

    def wait_ready(self, timeout: float = 60.0) -> None:
        if not wait_until(lambda: "READY=1" in self.notify.fields() or self.proc.poll() is not None, timeout):
            raise AssertionError(f"no READY=1 within {timeout} s:\n{self.stderr}")
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.stderr}")

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        rc = self.proc.wait(timeout)
        for t in self._readers:
            t.join(5)
        return rc

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        rc = self.wait(20)
        self.notify.close()
        return rc
