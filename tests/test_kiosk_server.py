"""`signd kiosk` without a browser: what it serves, what it refuses, how it starts and stops,
and the two policies behind the stream (link state, thinning per-frame lines)."""

import asyncio
import json
import re
import socket

import pytest

from signd.daemon.kiosk.link import LinkState
from signd.daemon.kiosk.pages import SOFT_LIMIT, Page, Pages, Throttle

from conftest import ROOT, run_signd
from kiosk_kit import EventStream, KioskProcess, http_get

STATIC = ROOT / "daemon" / "kiosk" / "static"


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory):
    """A kiosk whose daemon is not there (yet): it serves the page and waits."""
    k = KioskProcess(str(tmp_path_factory.mktemp("k") / "absent.sock"))
    try:
        k.wait_ready()
        yield k
    finally:
        assert k.stop() == 0  # SIGTERM: a clean exit


@pytest.mark.parametrize("path, ctype", [("/", "text/html"), ("/index.html", "text/html"),
                                         ("/app.js", "text/javascript"), ("/style.css", "text/css"),
                                         ("/favicon.svg", "image/svg+xml")])
def test_serves_the_page_and_its_files(kiosk, path, ctype):
    status, headers, body = http_get(kiosk.port, path)
    assert status == 200 and headers["content-type"].startswith(ctype)
    assert int(headers["content-length"]) == len(body) > 0
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


def test_head_404_405_and_foreign_host(kiosk):
    status, headers, body = http_get(kiosk.port, "/", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    status, _, body = http_get(kiosk.port, "/nope")
    assert status == 404 and b"/nope" in body
    status, headers, _ = http_get(kiosk.port, "/", method="POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    # DNS rebinding: a page elsewhere that resolves its own name to 127.0.0.1 is refused.
    status, _, body = http_get(kiosk.port, "/events", host=f"attacker.example:{kiosk.port}")
    assert status == 403 and b"attacker.example" in body
    assert http_get(kiosk.port, "/stats", host=f"localhost:{kiosk.port}")[0] == 200


def test_without_a_daemon_the_page_is_told_connecting(kiosk):
    stats = json.loads(http_get(kiosk.port, "/stats")[2])
    assert stats["state"] == "connecting" and stats["daemon_connects"] == 0
    stream = EventStream(kiosk.port)
    try:
        assert stream.wait_for(lambda evs: evs, 10)
        assert b"text/event-stream" in stream.head
        first = stream.events[0]
        assert first["type"] == "kiosk" and first["state"] == "connecting"
        assert first["aspect"] == [4, 3] and first["mirror"] is True
    finally:
        stream.close()


def test_everything_ships_with_the_page():
    files = {p.name: p.read_text() for p in STATIC.iterdir()}
    assert set(files) == {"index.html", "app.js", "style.css", "favicon.svg"}
    assert sum(len(t.encode()) for t in files.values()) < 40_000  # small, for a Pi
    for name, text in files.items():
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, never fetched
        assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}/|@import|url\(", text, re.I), name
    html = files["index.html"]
    assert re.findall(r'(?:src|href)="([^"]+)"', html) == ["/favicon.svg", "/style.css", "/app.js"]
    assert "<script>" not in html and " style=" not in html  # nothing inline: the CSP allows none


def test_port_taken_is_one_clear_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_signd("kiosk", "--socket", str(tmp_path / "x.sock"), "--port", str(port), timeout=60)
    assert r.returncode == 66
    assert r.stderr.strip().splitlines()[-1] == f"signd kiosk: error: cannot listen on 127.0.0.1:{port}: Address already in use"


@pytest.mark.parametrize("args, message", [(["--port", "70000"], "expected a port number 0..65535"),
                                           (["--aspect", "wide"], "expected WIDTH:HEIGHT")])
def test_bad_arguments(args, message):
    r = run_signd("kiosk", *args, timeout=60)
    assert r.returncode == 2 and message in r.stderr


def test_link_state():
    s = LinkState(heartbeat=5.0)
    assert s.state == "connecting" and s.silence_limit == 12.0
    assert s.seen("hello", 0.0) and s.state == "connected" and s.hellos == 1
    assert not s.seen("keypoints", 1.0)
    assert not s.tick(12.9)  # within two heartbeats and two seconds
    assert s.tick(13.1) and s.state == "reconnecting"  # silence: the daemon died without a word
    assert s.seen("status", 14.0) and s.state == "connected"  # it was only stalled
    assert s.seen("bye", 15.0) and s.state == "reconnecting"
    assert not s.tick(100.0)  # already reconnecting
    assert s.seen("hello", 101.0) and s.hellos == 2


def test_throttle_passes_the_newest_and_counts_the_rest():
    async def main():
        got = []
        t = Throttle(asyncio.get_running_loop(), lambda kind, line: got.append((kind, line)), rate=20)
        for i in range(10):
            t.offer("keypoints", str(i))
        t.offer("probs", "p")
        assert got == [("keypoints", "0"), ("probs", "p")]  # the first of each kind goes at once
        await asyncio.sleep(0.3)
        assert got[2:] == [("keypoints", "9")]  # the newest, one interval later
        assert t.coalesced == {"keypoints": 8}
        return got

    asyncio.run(main())


class _Transport:
    def __init__(self, waiting):
        self.waiting, self.aborted = waiting, False

    def get_write_buffer_size(self):
        return self.waiting

    def abort(self):
        self.aborted = True


class _Writer:
    """What Page uses of asyncio.StreamWriter, with a write buffer we can fill."""

    def __init__(self, waiting=0):
        self.transport, self.data = _Transport(waiting), []

    def write(self, chunk):
        self.data.append(chunk)


def test_a_page_that_stops_reading_misses_frames_not_signs():
    pages = Pages()
    ok, slow, stuck = Page(_Writer()), Page(_Writer(SOFT_LIMIT + 1)), Page(_Writer(64 * 1024 * 1024))
    for p in (ok, slow, stuck):
        pages.add(p, [("kiosk", '{"type":"kiosk"}')])
    pages.broadcast("keypoints", '{"type":"keypoints"}', droppable=True)
    pages.broadcast("gesture", '{"type":"gesture"}', droppable=False)
    assert ok.sent == {"kiosk": 1, "keypoints": 1, "gesture": 1}
    assert slow.sent == {"kiosk": 1, "gesture": 1} and slow.skipped == 1  # behind: frames skipped, counted
    assert stuck.closed and stuck.writer.transport.aborted and stuck not in pages.open  # its browser reconnects
    assert pages.skipped == 1 and ok.writer.data[-1] == b'data: {"type":"gesture"}\n\n'
