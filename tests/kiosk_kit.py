"""Test helpers for the kiosk: a real `signd kiosk` subprocess, and a plain HTTP / event-stream
client that reads what a browser would."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading

from conftest import signd_cmd
from daemonkit import wait_until

_URL = re.compile(r"serving the kiosk page on (http://127\.0\.0\.1:(\d+)/)")


class KioskProcess:
    """`signd kiosk --socket SOCKET --port PORT`; `url` and `port` once it listens."""

    def __init__(self, socket_path: str, port: int = 0, *args: str, env: dict | None = None) -> None:
        self.proc = subprocess.Popen([*signd_cmd(), "kiosk", "--socket", socket_path, "--port", str(port), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, **(env or {})))
        self.stderr_lines: list[str] = []
        self.stdout = ""
        self._readers = [threading.Thread(target=self._pump, daemon=True),
                         threading.Thread(target=self._pump_out, daemon=True)]
        for t in self._readers:
            t.start()
        self.url = ""
        self.port = 0

    def _pump(self) -> None:
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    def _pump_out(self) -> None:
        self.stdout = self.proc.stdout.read()

    @property
    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)

    def wait_ready(self, timeout: float = 30.0) -> str:
        def found() -> bool:
            return any(_URL.search(line) for line in self.stderr_lines) or self.proc.poll() is not None

        if not wait_until(found, timeout) or self.proc.poll() is not None:
            raise AssertionError(f"signd kiosk did not start (exit {self.proc.poll()}):\n{self.stderr}")
        m = next(_URL.search(line) for line in self.stderr_lines if _URL.search(line))
        self.url, self.port = m.group(1), int(m.group(2))
        return self.url

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(5)
        for t in self._readers:
            t.join(5)
        return rc


def http_get(port: int, path: str, method: str = "GET", host: str | None = None, timeout: float = 10.0) -> tuple[int, dict, bytes]:
    """One request with a raw socket: (status, lower-cased headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host or f'127.0.0.1:{port}'}\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


class EventStream:
    """GET /events, read in a thread: `events` holds every `data:` payload, parsed."""

    def __init__(self, port: int, read: bool = True) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
        self.head = b""
        self.events: list[dict] = []
        self.closed = threading.Event()
        if read:
            threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        buf = b""
        self.sock.settimeout(0.2)
        while True:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            if not self.head and b"\r\n\r\n" in buf:
                self.head, _, buf = buf.partition(b"\r\n\r\n")
            *blocks, buf = buf.split(b"\n\n")
            for block in blocks:
                for line in block.split(b"\n"):
                    if line.startswith(b"data: "):
                        self.events.append(json.loads(line[6:]))
        self.closed.set()

    def of_type(self, t: str) -> list[dict]:
        return [e for e in list(self.events) if e.get("type") == t]

    def wait_for(self, pred, timeout: float = 30.0) -> bool:
        return wait_until(lambda: pred(list(self.events)), timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
