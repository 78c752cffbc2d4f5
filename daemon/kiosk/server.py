"""`signd kiosk`: the page and its live event stream on loopback.

    GET /         the page (index.html, app.js, style.css from static/)
    GET /events   server-sent events: the kiosk's own state, then the daemon's lines
    GET /stats    counters as JSON (what came from the daemon, what went to the pages)

Every line from the daemon goes to the pages as it is, except per-frame lines, which are
thinned to what a screen can show (see pages.py). The page learns the link state from
`{"type": "kiosk", "state": ...}` events, sent on every change and every few seconds, which
also tell it that the kiosk itself is still there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass
from importlib import resources

from signd.daemon import __version__
from signd.daemon.errors import InputError
from signd.daemon.systemd import Notifier

from .http import Request, error, read_request, response, stream_head
from .link import DaemonLink, LinkState
from .pages import Page, Pages, Throttle

log = logging.getLogger(__name__)

STATE_EVERY = 3.0
"""Seconds between state events to the pages; the page reconnects after 4 missed ones."""
_PER_FRAME = re.compile(r'^\{"v":\d+,"type":"(keypoints|probs)"')
# Replies to the kiosk's own commands: nothing a page needs.
_PRIVATE = {"describe", "watching", "pong"}
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


@dataclass
class KioskConfig:
    socket: str
    """The daemon's event socket: a Unix socket path or tcp://HOST:PORT."""
    port: int = 8765
    host: str = "127.0.0.1"
    aspect: tuple[int, int] = (4, 3)
    """Width:height of the camera image, so that the skeleton keeps its proportions."""
    mirror: bool = True
    """Draw the skeleton mirrored, as visitors expect a screen facing them to behave."""


def load_static() -> dict[str, tuple[bytes, str]]:
    """URL path -> (content, content type) for every file the page needs."""
    files = {}
    for item in (resources.files("signd.daemon.kiosk") / "static").iterdir():
        suffix = "." + item.name.rpartition(".")[2]
        if item.is_file() and suffix in _TYPES:
            files["/" + item.name] = (item.read_bytes(), _TYPES[suffix])
    files["/"] = files["/index.html"]
    return files


class KioskServer:
    def __init__(self, config: KioskConfig) -> None:
        self.config = config
        self.files = load_static()
        self.link = LinkState()
        self.pages = Pages()
        self.lines: Counter[str] = Counter()
        self.latest: dict[str, str] = {}
        """The newest hello, status, probs and gesture: what a page that opens now is shown."""
        self.url = ""
        self._started = time.monotonic()
        self._server: asyncio.AbstractServer | None = None
        self._daemon: DaemonLink | None = None
        self._throttle: Throttle | None = None
        self._ticker: asyncio.Task | None = None
        self._hosts: set[str] = set()

    async def start(self) -> str:
        """Listen and connect to the daemon; the page's URL. InputError when the port is taken."""
        loop = asyncio.get_running_loop()
        c = self.config
        try:
            self._server = await asyncio.start_server(self._handle, c.host, c.port, limit=16 * 1024)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise InputError(f"cannot listen on {c.host}:{c.port}: {reason}") from None
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://{c.host}:{port}/"
        # Requests naming any other host come from elsewhere (DNS rebinding): refused.
        self._hosts = {f"{h}:{port}" for h in (c.host, "localhost", "127.0.0.1", "[::1]")}
        self._throttle = Throttle(loop, self._per_frame)
        self._daemon = DaemonLink(c.socket, loop, self._on_line)
        self._daemon.start()
        self._ticker = asyncio.ensure_future(self._tick())
        return self.url

    async def close(self) -> None:
        if self._ticker:
            self._ticker.cancel()
        if self._server:
            self._server.close()
        self.pages.close_all()
        if self._daemon:
            await asyncio.get_running_loop().run_in_executor(None, self._daemon.close)

    # -- from the daemon -------------------------------------------------------------------

    def _on_line(self, line: str) -> None:
        m = _PER_FRAME.match(line)
        if m:
            kind = m.group(1)
        else:
            try:
                msg = json.loads(line)
                kind = str(msg["type"])
            except (ValueError, KeyError, TypeError):
                self.lines["unreadable"] += 1
                return
            if kind == "describe":
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    self.link.heartbeat = float(msg["config"]["socket"]["heartbeat"])
        self.lines[kind] += 1
        if self.link.seen(kind, time.monotonic()):
            self._send_state()
        if kind in _PRIVATE:
            return
        if kind in ("hello", "status", "gesture", "probs"):
            self.latest[kind] = line
        if m:
            assert self._throttle is not None
            self._throttle.offer(kind, line)
        else:
            self.pages.broadcast(kind, line, droppable=False)

    def _per_frame(self, kind: str, line: str) -> None:
        self.pages.broadcast(kind, line, droppable=True)

    def state_event(self) -> str:
        c = self.config
        return json.dumps({"type": "kiosk", "state": self.link.state, "socket": c.socket,
                           "aspect": list(c.aspect), "mirror": c.mirror, "signd": __version__})

    def _send_state(self) -> None:
        self.pages.broadcast("kiosk", self.state_event(), droppable=False)

    async def _tick(self) -> None:
        next_state = 0.0
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            if self.link.tick(now) or now >= next_state:
                self._send_state()
                next_state = now + STATE_EVERY

    def stats(self) -> dict:
        assert self._throttle is not None
        return {
            "state": self.link.state, "socket": self.config.socket, "url": self.url,
            "pages": [{"sent": dict(p.sent), "skipped": p.skipped} for p in self.pages.open],
            "daemon_connects": self.link.hellos,
            "lines": dict(self.lines), "sent": dict(self.pages.sent),
            "coalesced": dict(self._throttle.coalesced), "skipped_slow_page": self.pages.skipped,
            "uptime_s": round(time.monotonic() - self._started, 1),
        }

    # -- to the browser --------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            req = await read_request(reader)
            if req is not None:
                await self._respond(req, reader, writer)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _respond(self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = req.method == "HEAD"
        host = req.headers.get("host")
        if host is not None and host not in self._hosts:
            writer.write(error(403, f"unexpected Host header {host!r}: the kiosk serves {self.url}", head))
        elif req.method not in ("GET", "HEAD"):
            writer.write(error(405, f"{req.method} is not served here", headers={"Allow": "GET, HEAD"}))
        elif req.path == "/events" and not head:
            await self._stream(reader, writer)
            return
        elif req.path == "/stats":
            writer.write(response(200, json.dumps(self.stats()).encode(), "application/json", head_only=head))
        elif req.path in self.files:
            body, ctype = self.files[req.path]
            writer.write(response(200, body, ctype, head_only=head))
        else:
            writer.write(error(404, f"no such page: {req.path}", head))
        await writer.drain()

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(stream_head() + b"retry: 1000\n\n")
        page = Page(writer)
        first = [("kiosk", self.state_event())]
        first += [(k, self.latest[k]) for k in ("hello", "status", "probs", "gesture") if k in self.latest]
        self.pages.add(page, first)
        log.info("page connected (%d open)", len(self.pages.open))
        try:
            while not page.closed and await reader.read(1024):
                pass  # the page never sends; EOF means it went away
        finally:
            self.pages.remove(page)
            log.info("page gone (%d open)", len(self.pages.open))


async def serve(config: KioskConfig, notifier: Notifier | None = None) -> int:
    """Serve until SIGTERM or SIGINT."""
    server = KioskServer(config)
    url = await server.start()
    log.info("serving the kiosk page on %s (daemon socket %s)", url, config.socket)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    notifier = notifier or Notifier()
    notifier.send("READY=1", f"STATUS=serving {url}")
    try:
        await stop.wait()
    finally:
        notifier.send("STOPPING=1")
        await server.close()
        notifier.close()
    log.info("stopped")
    return 0


def run_kiosk(config: KioskConfig) -> int:
    return asyncio.run(serve(config))
