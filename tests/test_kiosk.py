"""The kiosk for real: `signd run` replaying a recording at 30 fps, `signd kiosk` beside it, and
headless Chromium on the page, driven over the DevTools protocol (tests/kiosk_browser.py)."""

import json
import signal

import pytest

from daemonkit import Daemon, wait_until
from kiosk_browser import Chromium, available
from kiosk_kit import EventStream, KioskProcess, http_get

pytestmark = pytest.mark.skipif(not available(), reason="chromium not installed (.ci/run installs it)")

# What the page shows, read the way a visitor would see it: the text of its elements.
SHOWN = """(() => ({
  state: document.getElementById('state').dataset.state,
  stateText: document.getElementById('state').textContent,
  sign: document.getElementById('sign').textContent,
  seq: document.getElementById('sign').dataset.seq,
  score: document.getElementById('score').textContent,
  sentence: [...document.querySelectorAll('#sentence li')].map(li => li.textContent),
  bars: [...document.querySelectorAll('#bars li')].map(li => li.dataset.label),
  stats: window.kiosk.summary(),
  token: window.__token || null,
}))()"""


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    # A short heartbeat, so that the kiosk notices a daemon that died without a word within
    # a few seconds (it allows two heartbeats and two seconds of silence).
    p = tmp_path_factory.mktemp("cfg") / "signd.toml"
    p.write_text("[socket]\nheartbeat = 1.0\n")
    return p


@pytest.fixture(scope="module")
def live(tmp_path_factory, synthetic_npz, synthetic_model, config):
    """A daemon, the kiosk and a browser on its page: one set for the whole module."""
    tmp = tmp_path_factory.mktemp("kiosk")
    sock = str(tmp / "events.sock")
    args = ("--config", str(config), "--source", str(synthetic_npz), "--model", str(synthetic_model),
            "--socket", sock, "--repeat", "20")
    # Tests replace the daemon and the kiosk as they restart them: teardown stops what is there.
    state = {"daemon": Daemon(tmp, *args), "tmp": tmp, "sock": sock, "args": args, "kiosk": None, "browser": None}
    try:
        state["daemon"].wait_ready()
        state["kiosk"] = KioskProcess(sock)
        state["kiosk"].wait_ready()
        state["browser"] = Chromium(tmp)
        state["page"] = state["browser"].open(state["kiosk"].url)
        state["page"].wait_for("window.kiosk !== undefined")
        yield state
    finally:
        if state["browser"]:
            state["browser"].close()
        if state["kiosk"]:
            state["kiosk"].stop()
        state["daemon"].stop()


def daemon_event(daemon, seq):
    """The daemon's own stdout line for gesture `seq` (its stdout may lag its socket a little)."""
    assert wait_until(lambda: any(g["seq"] == seq for g in daemon.gestures()), 10), seq
    return next(g for g in daemon.gestures() if g["seq"] == seq)


def restart_daemon(live, how=signal.SIGTERM):
    """Stop the daemon (SIGTERM: it says bye; SIGKILL: it just vanishes); the caller starts it again."""
    d = live["daemon"]
    d.signal(how)
    d.wait(20)
    d.notify.close()
    sub = live["tmp"] / f"run{len(list(live['tmp'].glob('run*')))}"
    sub.mkdir()
    return lambda: live.update(daemon=Daemon(sub, *live["args"]))


def test_page_shows_the_recognised_sign(live):
    page, daemon = live["page"], live["daemon"]
    page.wait_for("document.getElementById('sign').dataset.seq !== ''", 60)
    shown = page.eval(SHOWN)
    g = daemon_event(daemon, int(shown["seq"]))  # the daemon's own event for what the page shows
    assert shown["sign"] == g["label"] and shown["sign"] in ("hello", "iloveyou", "thanks")
    assert shown["sentence"] == g["sentence"]
    assert shown["score"] == f"{round(g['score'] * 100)}% sure"
    assert shown["bars"] == ["hello", "iloveyou", "thanks"]  # one bar per sign, from hello
    assert shown["state"] == "connected" and shown["stateText"] == "connected"
    assert page.problems() == []


def test_a_page_opened_later_is_shown_the_current_sign_at_once(live):
    live["page"].wait_for("document.getElementById('sign').dataset.seq !== ''", 60)
    stream = EventStream(live["kiosk"].port)
    try:
        assert stream.wait_for(lambda evs: len(evs) >= 5, 10)
        first = stream.events[:5]
    finally:
        stream.close()
    # Its state, then the latest of each kind (a status too, once the daemon sent one), before anything live.
    snapshot = [e for e in first if e["type"] != "status"][:4]
    assert [e["type"] for e in snapshot] == ["kiosk", "hello", "probs", "gesture"]
    assert snapshot[0]["state"] == "connected"
    assert snapshot[3] == daemon_event(live["daemon"], snapshot[3]["seq"])  # the daemon's line, unchanged


def test_skeletons_are_drawn_as_they_come(live):
    page = live["page"]
    page.wait_for("kiosk.stats.drawn >= 60", 60)
    s = page.eval("kiosk.summary()")
    # Each skeleton that arrived was drawn, or replaced by a newer one before the screen's
    # next frame; at 30 updates a second nearly all of them are drawn.
    assert s["drawn"] + s["skipped"] in (s["keypoints"], s["keypoints"] - 1)  # one may be waiting for its frame
    assert s["drawn"] >= 0.5 * s["keypoints"], s
    assert page.problems() == []


def test_daemon_restart_shows_reconnecting_then_recovers_without_reload(live):
    page, kiosk = live["page"], live["kiosk"]
    page.eval("window.__token = 'before-restart'")
    before = page.eval(SHOWN)["stats"]
    start_again = restart_daemon(live, signal.SIGTERM)
    page.wait_for("document.getElementById('state').dataset.state === 'reconnecting'", 15)
    assert page.eval("document.getElementById('state').textContent") == "reconnecting"

    # With the daemon gone nothing moves: every skeleton the kiosk passed on reached the page.
    (stream,) = json.loads(http_get(kiosk.port, "/stats")[2])["pages"]
    sent = stream["sent"]["keypoints"]
    assert page.wait_for(f"kiosk.stats.keypoints === {sent}", 10)
    s = page.eval("kiosk.summary()")
    assert s["drawn"] + s["skipped"] == s["keypoints"]

    start_again()
    live["daemon"].wait_ready()
    page.wait_for(f"kiosk.stats.gestures > {before['gestures'] + 1} && "
                  "document.getElementById('state').dataset.state === 'connected'", 60)
    shown = page.eval(SHOWN)
    assert shown["token"] == "before-restart"  # the same document: no reload
    assert shown["stats"]["opens"] == 1  # the page's own stream never dropped; the kiosk's did
    g = daemon_event(live["daemon"], int(shown["seq"]))
    assert shown["sign"] == g["label"]
    assert page.problems() == []


def test_daemon_killed_without_a_word_is_noticed(live):
    page = live["page"]
    page.eval("window.__token = 'before-kill'")
    start_again = restart_daemon(live, signal.SIGKILL)
    page.wait_for("document.getElementById('state').dataset.state === 'reconnecting'", 20)
    start_again()
    live["daemon"].wait_ready()
    page.wait_for("document.getElementById('state').dataset.state === 'connected'", 60)
    assert page.eval("window.__token") == "before-kill"
    assert page.problems() == []


def test_kiosk_restart_page_reconnects_by_itself(live):
    page = live["page"]
    port = live["kiosk"].port
    page.eval("window.__token = 'before-kiosk-restart'")
    assert live["kiosk"].stop() == 0
    page.wait_for("document.getElementById('state').dataset.state === 'reconnecting'", 20)
    live["kiosk"] = KioskProcess(live["sock"], port)
    live["kiosk"].wait_ready()
    page.wait_for("kiosk.stats.opens === 2 && document.getElementById('state').dataset.state === 'connected'", 30)
    page.wait_for("kiosk.stats.drawn > 0", 10)
    assert page.eval("window.__token") == "before-kiosk-restart"
    # The browser logs the refused reconnect attempts while the kiosk was down; nothing else.
    assert all("/events" in p and "ERR_CONNECTION_REFUSED" in p for p in page.problems()), page.problems()
