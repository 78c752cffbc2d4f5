"""signd enroll and custom signs: the file, the matcher, the command, the daemon."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from signd.daemon.custom import descriptor
from signd.daemon.custom.background import load_background
from signd.daemon.custom.matcher import CustomMatcher, fit
from signd.daemon.custom.store import CustomSigns, check_name, load_signs, save_signs
from signd.daemon.errors import DataError
from signd.daemon.layout import POSE_HANDS_258

from conftest import ROOT, run_signd, shared_path
from daemonkit import Client, Daemon, wait_until, write_config
from modelkit import save_npz, synthetic_recording

NOT_SIGNS = ("blank", "other")


def _signer_file(tmp_path: Path, label: str = "wave", hands: bool = True) -> Path:
    """Synthetic sequences: class 2 (a circle) is relabelled `label`."""
    rec = synthetic_recording(n_per_class=12)
    rec.labels = ["up", "right", label]
    if not hands:
        rec.X[..., POSE_HANDS_258.right_hand] = 0.0
    return save_npz(rec, tmp_path / "me.npz")


def _fitted(name: str = "wave", adapts: bool = False):
    """Synthetic circles: fine for the file and the command, not for matching (their bodies
    are noise, so the shoulder units are too)."""
    rec = synthetic_recording(n_per_class=12)
    d = descriptor.describe(rec.X, POSE_HANDS_258)
    return fit(name, d[rec.y == 2][:10], load_background(), adapts=adapts), d, rec.y


def _real(name: str, adapts: bool = False):
    """jeet10's `i`: ten sequences enrolled, the rest of theirs to match."""
    from signd.models.dataset import load_signers

    s = load_signers([shared_path("signers", "jeet10.npz")], POSE_HANDS_258)[0]
    d = descriptor.describe(s.X, POSE_HANDS_258)
    mine = np.array([lab == "i" for lab in s.labels])
    idx = np.flatnonzero(mine)
    return fit(name, d[idx[:10]], load_background(), adapts=adapts), d, mine, idx[10:]


def test_a_custom_signs_file_round_trips(tmp_path):
    sign, _, _ = _fitted()
    path = save_signs(tmp_path / "s.json", CustomSigns([sign]))
    back = load_signs(path)
    assert back.names() == ["wave"]
    assert np.allclose(back.signs[0].examples, sign.examples, atol=1e-4)
    assert back.signs[0].threshold == pytest.approx(sign.threshold)
    assert load_signs(tmp_path / "absent.json").signs == []


@pytest.mark.parametrize("cut, needle", [
    (lambda t: t[: len(t) // 2], "not JSON"),
    (lambda t: t.replace('"threshold":', '"threshold":-'), "signs[0].threshold"),
    (lambda t: t.replace('"signd-v1-mean/1"', '"other/9"'), "descriptor"),
    (lambda t: t.replace('"name":"wave"', '"name":"Wave!"'), "signs[0].name"),
])
def test_a_bad_custom_signs_file_is_one_error_naming_it(tmp_path, cut, needle):
    sign, _, _ = _fitted()
    path = save_signs(tmp_path / "s.json", CustomSigns([sign]))
    path.write_text(cut(path.read_text()))
    with pytest.raises(DataError) as e:
        load_signs(path)
    assert str(path) in str(e.value) and needle in str(e.value)


def test_names_that_cannot_be_labels():
    assert check_name("toilet") is None and check_name("my-name_2") is None
    for bad in ("", "two words", "Toilet", "a/b", "é", "x" * 33, "blank", "other"):
        assert check_name(bad) is not None, bad


def test_the_matcher_gives_its_sign_and_leaves_a_sure_model_alone():
    sign, d, mine, rest = _real("wave")
    m = CustomMatcher(CustomSigns([sign]), ["blank", "hello", "other"], load_background().project, NOT_SIGNS)
    assert m.labels == ["blank", "hello", "other", "wave"]
    unsure = np.tile(np.float32([0.2, 0.3, 0.5]), (len(d), 1))
    q = m.apply_many(unsure, d)
    assert np.allclose(q.sum(1), 1.0, atol=1e-5)
    assert (q[rest, 3] >= 0.8).mean() >= 0.6  # bench/enroll.py: 0.90 for this person
    assert (q[~mine, 3] >= 0.8).mean() <= 0.01
    # Where the model is sure of its own sign, it keeps the window unless the window is
    # within half the threshold of an example (the examples themselves, for one).
    sure = np.tile(np.float32([0.0, 0.9, 0.1]), (len(d), 1))
    q = m.apply_many(sure, d)
    far = m.ratios(d)[:, 0] > 0.5
    assert far.sum() > 0.9 * len(d) and np.array_equal(q[far, :3], sure[far])
    assert (q[~far, 3] >= 0.8).all() and (m.ratios(sign.examples)[:, 0] == 0).all()


def test_one_window_at_a_time_gives_what_a_batch_gives():
    sign, d, mine, rest = _real("wave")
    other, _, _, _ = _real("hello", adapts=True)
    m = CustomMatcher(CustomSigns([sign, other]), ["blank", "hello", "other"], load_background().project, NOT_SIGNS)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1, 1], len(d)).astype(np.float32)
    probs[::3] = [0.0, 0.95, 0.05]  # the model sure of its own sign: the gate
    batch = m.apply_many(probs, d)
    one = np.stack([m.apply(p, x) for p, x in zip(probs, d, strict=True)])
    assert np.allclose(one, batch, atol=1e-5)


def test_an_adaptation_adds_to_its_built_in_sign():
    sign, d, mine, rest = _real("hello", adapts=True)
    m = CustomMatcher(CustomSigns([sign]), ["blank", "hello", "other"], load_background().project, NOT_SIGNS)
    assert m.labels == ["blank", "hello", "other"]
    q = m.apply_many(np.tile(np.float32([0.0, 0.0, 1.0]), (len(d), 1)), d)
    assert (q[rest, 1] >= 0.8).mean() >= 0.6 and (q[~mine, 1] >= 0.8).mean() <= 0.01


def test_enroll_from_a_signer_file_then_list_and_remove(tmp_path):
    src, out = _signer_file(tmp_path), tmp_path / "signs.json"
    p = run_signd("enroll", "wave", "--source", str(src), "--custom-signs", str(out))
    assert p.returncode == 0, p.stderr
    assert "enrolled the new sign wave from 10 examples" in p.stdout
    assert load_signs(out).names() == ["wave"]
    listed = run_signd("enroll", "--list", "--custom-signs", str(out))
    assert listed.stdout.startswith("wave\tnew sign\t10 examples")
    assert run_signd("enroll", "--remove", "wave", "--custom-signs", str(out)).returncode == 0
    assert load_signs(out).names() == []


@pytest.mark.parametrize("args, hands, needle", [
    (["hello"], True, "is a built-in sign"),
    (["wave", "--examples", "2"], True, "at least 3"),
    (["wave"], False, "no hand was seen in any example"),
    (["two words"], True, "cannot be a sign's name"),
    (["wave", "--adapt"], True, "is not a built-in sign"),
    (["wave", "--pause", "-1"], True, "within 0..30"),
])
def test_bad_enrollments_are_one_line_and_write_nothing(tmp_path, args, hands, needle):
    src, out = _signer_file(tmp_path, hands=hands), tmp_path / "signs.json"
    label = [] if args[0] != "hello" else ["--label", "wave"]
    p = run_signd("enroll", *args, *label, "--source", str(src), "--custom-signs", str(out))
    assert p.returncode != 0
    errors = [line for line in p.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and needle in errors[0], p.stderr
    assert "Traceback" not in p.stderr
    assert not out.exists() and not list(tmp_path.glob(".signs.json*"))


def test_enrolling_imports_no_tensorflow(tmp_path):
    src, out = _signer_file(tmp_path), tmp_path / "signs.json"
    code = ("import sys; from signd.daemon.cli import main; rc = main(['enroll', 'wave', '--source', "
            f"{str(src)!r}, '--custom-signs', {str(out)!r}]); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras')]; "
            "print('LOADED', bad); sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "LOADED []" in p.stdout


def test_the_daemon_lists_custom_signs_and_keeps_them_through_a_corrupt_file(tmp_path):
    sign, _, _ = _fitted()
    signs = save_signs(tmp_path / "signs.json", CustomSigns([sign]))
    sock = tmp_path / "events.sock"
    cfg = write_config(tmp_path / "signd.toml", model={"custom_signs": str(signs)}, socket={"path": str(sock)})
    d = Daemon(tmp_path, "--config", str(cfg), "--source", "demo", "--repeat", "100000")
    try:
        d.wait_ready()
        c = Client(str(sock))
        assert c.wait_for(lambda ev: any(e["type"] == "hello" for e in ev))
        assert c.of_type("hello")[0]["model"]["labels"][-1] == "wave"
        assert c.of_type("hello")[0]["model"]["custom_signs"] == [{"name": "wave", "adapts": False, "examples": 10}]
        signs.write_text(signs.read_text()[:100])  # truncated, as by a full disk
        d.signal(signal.SIGHUP)
        assert c.wait_for(lambda ev: any(e["type"] == "error" for e in ev), 30), d.stderr[-2000:]
        err = c.of_type("error")[0]
        assert err["code"] == "reload_failed" and str(signs) in err["message"]
        assert len([line for line in d.stderr.splitlines() if "reload failed" in line]) == 1
        # Still the old signs: a good file again reloads and says hello with them.
        save_signs(signs, CustomSigns([sign]))
        d.signal(signal.SIGHUP)
        assert c.wait_for(lambda ev: len(c.of_type("hello")) >= 2, 30), d.stderr[-2000:]
        assert c.of_type("hello")[-1]["model"]["labels"][-1] == "wave"
        assert d.proc.poll() is None
    finally:
        assert d.stop() == 0, d.stderr[-2000:]


def _events(*args: str, timeout: float = 300) -> list[str]:
    r = run_signd("run", *args, "--fast", timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return [e["label"] for e in map(json.loads, r.stdout.splitlines()) if e["type"] == "gesture"]


def test_enroll_from_a_real_clip_then_signd_run_gives_it(tmp_path):
    """A shared clip of a sign outside the nine (drink) becomes a custom sign; `signd run` on
    the clip then gives it, a clip of hello still gives hello, and the same works from a
    keypoint recording of the clip (no MediaPipe)."""
    videos = shared_path("videos")
    out = tmp_path / "signs.json"
    p = run_signd("enroll", "drink", "--source", str(videos / "wavely-drink.mp4"), "--custom-signs", str(out),
                  timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    cfg = write_config(tmp_path / "signd.toml", model={"custom_signs": str(out)})
    rec = tmp_path / "drink.npz"
    assert _events("--config", str(cfg), "--source", str(videos / "wavely-drink.mp4"),
                   "--record-keypoints", str(rec)) == ["drink"]
    # A clip of one of the nine still gives what it gave without the new sign.
    assert _events("--config", str(cfg), "--source", str(videos / "hello.mp4")) == ["hello"]
    out2 = tmp_path / "from-recording.json"
    p = run_signd("enroll", "drink", "--source", str(rec), "--custom-signs", str(out2))
    assert p.returncode == 0, p.stderr[-2000:]
    cfg2 = write_config(tmp_path / "signd2.toml", model={"custom_signs": str(out2)})
    assert _events("--config", str(cfg2), "--source", str(rec)) == ["drink"]


def test_the_shipped_background_matches_the_descriptor():
    bg = load_background()
    assert bg.project.shape == (descriptor.SIZE, descriptor.SIZE) and bg.bank.shape[1] == descriptor.SIZE
    assert (ROOT / "models" / "default" / "enroll-background.npz").stat().st_size < 1 << 20


def test_a_model_that_cannot_say_none_of_mine_has_no_gate():
    """hello/thanks/iloveyou (the tutorial's model): its softmax is sure of one of them for
    nearly anything, so a new sign is not held back by it."""
    sign, d, mine, rest = _real("wave")
    m = CustomMatcher(CustomSigns([sign]), ["hello", "thanks", "iloveyou"], load_background().project, NOT_SIGNS)
    q = m.apply_many(np.tile(np.float32([0.95, 0.03, 0.02]), (len(d), 1)), d)
    assert (q[rest, 3] >= 0.8).mean() >= 0.6


def test_identical_examples_are_refused():
    sign, d, mine, rest = _real("wave")
    with pytest.raises(ValueError, match="all the same window"):
        fit("wave", np.repeat(d[rest[:1]], 5, axis=0), load_background())


@pytest.mark.parametrize("edit, needle", [
    (lambda s: {**s, "name": "hello"}, "one of the model's own signs"),
    (lambda s: {**s, "adapts": True}, "adapts a built-in sign, but the model"),
    (lambda s: {**s, "background": "0123456789abcdef"}, "fitted with another enroll background"),
])
def test_a_sign_that_cannot_go_with_the_model_is_one_line_at_start(tmp_path, edit, needle):
    sign, _, _ = _fitted()
    path = save_signs(tmp_path / "signs.json", CustomSigns([sign]))
    d = json.loads(path.read_text())
    d["signs"][0] = edit(d["signs"][0])
    path.write_text(json.dumps(d))
    cfg = write_config(tmp_path / "signd.toml", model={"custom_signs": str(path)})
    p = run_signd("run", "--config", str(cfg), "--source", "demo", "--fast")
    assert p.returncode == 65, p.stderr[-2000:]
    errors = [line for line in p.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and needle in errors[0] and str(path) in errors[0], p.stderr
    assert "signd enroll --remove" in errors[0]


def _camera_session(tmp_path, monkeypatch, examples: int, pause: float):
    """`signd enroll wave` from camera:0 (a faithful fake fed a real clip), serving a socket,
    run in a thread; returns (thread, outcome dict, socket path, signs file)."""
    import argparse
    import threading

    import cv2

    from signd.daemon.commands import enroll
    from signd.daemon.sources import camera

    from fakes import FakeCameraDevice

    cap = cv2.VideoCapture(str(shared_path("videos", "wavely-drink.mp4")))
    frames = []
    while (r := cap.read())[0]:
        frames.append(r[1])
    dev = FakeCameraDevice(frames)
    monkeypatch.setattr(camera.cv2, "VideoCapture", dev.factory)
    sock, out = tmp_path / "events.sock", tmp_path / "signs.json"
    cfg = write_config(tmp_path / "signd.toml", keypoints={"isolate": False})
    p = argparse.ArgumentParser()
    enroll.add_arguments(p)
    args = p.parse_args(["wave", "--source", "camera:0", "--examples", str(examples), "--pause", str(pause),
                         "--config", str(cfg), "--socket", str(sock), "--custom-signs", str(out)])
    outcome: dict = {}

    def body() -> None:
        try:
            outcome["rc"] = enroll.run(args)
        except BaseException as exc:  # shown by the test's assertion
            outcome["error"] = exc

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, outcome, sock, out


def test_enroll_from_a_camera_counts_down_on_the_socket_and_the_kiosk_page(tmp_path, monkeypatch):
    """A camera session serving the socket: a client sees the countdown and the skeleton; the
    kiosk page (headless Chromium, when installed) shows the countdown over the skeleton."""
    from kiosk_browser import Chromium, available
    from kiosk_kit import KioskProcess

    sock = tmp_path / "events.sock"
    kiosk = browser = page = None
    try:
        if available():
            kiosk = KioskProcess(str(sock))
            kiosk.wait_ready()
            browser = Chromium(tmp_path)
            page = browser.open(kiosk.url)
            page.wait_for("window.kiosk !== undefined")
        t, outcome, sock2, out = _camera_session(tmp_path, monkeypatch, examples=3, pause=2.0)
        assert sock2 == sock
        assert wait_until(lambda: sock.exists() or not t.is_alive(), 120), outcome
        assert t.is_alive(), outcome  # serving, and still counting down
        c = Client(str(sock))
        c.send({"cmd": "watch", "types": ["enroll", "keypoints"]})
        seen: set[tuple[str, str]] = set()

        def look() -> bool:
            if page is not None:
                seen.add(tuple(page.eval(
                    "[document.getElementById('sign').className, document.getElementById('score').textContent]")))
            return not t.is_alive()

        assert wait_until(look, 120, step=0.1)
        assert outcome.get("rc") == 0, outcome
        assert c.of_type("hello")[0]["model"]["name"] == "default"
        steps = [(e["example"], e["phase"]) for e in c.of_type("enroll")]
        for i in (1, 2, 3):
            assert (i, "sign") in steps, steps
        assert steps[-1] == (3, "done")
        assert c.of_type("keypoints"), "the skeleton while recording"
        assert c.of_type("bye")  # the session ended as a daemon does
        assert load_signs(out).names() == ["wave"] and len(load_signs(out).signs[0].examples) == 3
        if page is not None:
            classes = {cls for cls, _ in seen}
            assert "sign enroll phase-ready" in classes and "sign enroll phase-sign" in classes, seen
            assert ("sign enroll phase-sign", "example 2 of 3") in seen, seen
            assert page.eval("window.kiosk.summary().drawn") > 0  # the skeleton
            assert not page.problems()
    finally:
        if browser:
            browser.close()
        if kiosk:
            kiosk.stop()
