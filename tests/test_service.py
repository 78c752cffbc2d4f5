"""The daemon as a service, for real: a `signd run` subprocess, real Unix sockets, sd_notify
datagrams on a fake NOTIFY_SOCKET, SIGHUP and SIGTERM."""

import json
import re
import signal
import socket

import pytest

from conftest import run_signd
from daemonkit import Client, Daemon, wait_until, write_config
from modelkit import save_npz, synthetic_recording, train_tflite


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory):
    """Six clips: six seconds when played at 30 fps."""
    return save_npz(synthetic_recording(n_per_class=2, seed=1), tmp_path_factory.mktemp("d") / "small.npz")


@pytest.fixture(scope="module")
def other_model(tmp_path_factory, synthetic_rec):
    return train_tflite(synthetic_rec, tmp_path_factory.mktemp("m") / "other.tflite", epochs=40, seed=3)




def activated_socket(tmp_path):
    """A listening socket made the way signd.socket makes it, for LISTEN_FDS=1."""
    path = tmp_path / "events.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(128)
    return s, str(path)


def start_activated(tmp_path, sock, *args):
    """Start signd with `sock` as fd 3 and LISTEN_PID/LISTEN_FDS set, as systemd does."""
    import sys

    from conftest import signd_cmd

    exe = signd_cmd()[0]
    shim = (
        "import os, sys\n"
        f"os.dup2({sock.fileno()}, 3)\n"
        "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1')\n"
        "os.execv(sys.argv[1], sys.argv[1:])\n"
    )
    return Daemon(tmp_path, *args, pass_fds=(sock.fileno(),), argv=[sys.executable, "-c", shim, exe, "run"])


def test_fifty_clients_each_receive_every_event(tmp_path, small_npz, synthetic_model):
    sock = str(tmp_path / "events.sock")
    d = Daemon(tmp_path, "--source", str(small_npz), "--model", str(synthetic_model), "--socket", sock)
    try:
        d.wait_ready()
        clients = [Client(sock) for _ in range(50)]
        assert wait_until(lambda: all(c.of_type("hello") for c in clients), 10)
        assert d.wait(60) == 0  # the replay ends by itself after six clips
    finally:
        d.stop()
    stdout = d.gestures()
    assert len(stdout) >= 4  # six clips; a small model may be unsure of one or two
    for c in clients:
        assert c.closed.wait(5)
        got = c.of_type("gesture")
        # connected within the first second; the first event comes after one 30-frame clip
        assert got == stdout, (len(got), len(stdout))
        assert c.events[0]["type"] == "hello" and c.events[-1] == {"v": 1, "type": "bye", "reason": "shutdown"}
        hello = c.events[0]
        assert hello["protocol"] == 1 and hello["model"]["labels"] == ["hello", "iloveyou", "thanks"]
        assert len(hello["model"]["sha256"]) == 64


def test_a_client_that_never_reads_delays_nobody(tmp_path, synthetic_npz, synthetic_model):
    cfg = write_config(tmp_path / "signd.toml", socket={"queue": 16, "stall_timeout": 1.0, "heartbeat": 0.5})
    lsock, path = activated_socket(tmp_path)
    stuck = Client(path, read=False)  # connects, never reads a byte
    reader = Client(path)
    d = start_activated(tmp_path, lsock, "--config", str(cfg), "--source", str(synthetic_npz),
                        "--model", str(synthetic_model), "--fast", "--repeat", "150")
    lsock.close()
    try:
        assert d.wait(180) == 0, d.stderr
    finally:
        d.stop()
    total = 150 * 30
    got = [e["seq"] for e in reader.of_type("gesture")]
    assert got == list(range(got[0], total + 1)) and got[0] <= 2  # every event, in order
    # recognition lost nothing; the summary says which sink did (the stuck client's socket)
    assert re.search(r"frames 135000 \(dropped 0\), windows 4500, events 4500 \(dropped (\d+): socket \1\)",
                     d.stderr), d.stderr[-600:]
    assert "disconnecting a client that stopped reading" in d.stderr
    status = reader.of_type("status")
    assert max(s["dropped_events"] for s in status) > 0  # the stuck client's losses are counted
    assert status[-1]["clients"] == 1  # ... and it was let go
    assert wait_until(stuck.closed.is_set, 1) or True
    stuck.close()


def test_a_client_that_pauses_is_told_what_it_missed(tmp_path, synthetic_npz, synthetic_model):
    # no heartbeats: the gap in gesture numbers is then exactly what was dropped
    cfg = write_config(tmp_path / "signd.toml", socket={"queue": 16, "stall_timeout": 60.0, "heartbeat": 3600.0})
    lsock, path = activated_socket(tmp_path)
    slow = Client(path, read=False)
    reader = Client(path)
    d = start_activated(tmp_path, lsock, "--config", str(cfg), "--source", str(synthetic_npz),
                        "--model", str(synthetic_model), "--fast", "--repeat", "100")
    lsock.close()
    try:
        assert wait_until(lambda: len(reader.of_type("gesture")) >= 2500, 120)
        slow.paused.clear()  # resume reading
        assert d.wait(180) == 0
    finally:
        d.stop()
    assert slow.closed.wait(10)
    dropped = slow.of_type("dropped")
    assert len(dropped) >= 1 and dropped[0]["count"] > 0
    i = slow.events.index(dropped[0])
    before, after = slow.events[i - 1]["seq"], slow.events[i + 1]["seq"]
    assert after - before - 1 == dropped[0]["count"]  # the gap is exactly what it was told
    assert slow.events[-1]["type"] == "bye"


def test_malformed_commands_get_an_error_and_the_connection_stays(tmp_path, small_npz, synthetic_model):
    sock = str(tmp_path / "events.sock")
    d = Daemon(tmp_path, "--source", str(small_npz), "--model", str(synthetic_model), "--socket", sock, "--repeat", "20")
    try:
        d.wait_ready()
        c = Client(sock)
        bad = [b"hello\n", b"[1, 2]\n", b'{"cmd": "nope"}\n', b'{"cmd": "watch", "types": ["bogus"]}\n',
               b'{"cmd": "watch", "min_score": 2}\n', b'{"cmd": "ping", "extra": 1}\n',
               b'{"cmd": "ping", "id": {"a": 1}}\n', b"x" * 5000 + b"\n", b"\xff\xfe\n"]
        for line in bad:
            c.send(line)
        c.send({"cmd": "ping", "id": 42})
        assert c.wait_for(lambda ev: any(e["type"] == "pong" for e in ev))
        codes = [e["code"] for e in c.of_type("error")]
        assert codes == ["bad_json", "bad_command", "unknown_command", "bad_command", "bad_command",
                         "bad_command", "bad_command", "line_too_long", "bad_json"]
        assert c.of_type("pong") == [{"v": 1, "type": "pong", "id": 42}]
        c.send({"cmd": "describe", "id": "d"})
        c.send({"cmd": "status", "id": "s"})
        assert c.wait_for(lambda ev: any(e["type"] == "status" and e.get("id") == "s" for e in ev))
        desc = c.of_type("describe")[0]
        assert desc["id"] == "d" and desc["model"]["labels"] == ["hello", "iloveyou", "thanks"]
        assert desc["config"]["socket"]["path"] == sock
        # watch: only status from now on
        c.send({"cmd": "watch", "types": ["status"], "id": 1})
        assert c.wait_for(lambda ev: any(e["type"] == "watching" for e in ev))
        n = len(c.events)
        assert wait_until(lambda: len(d.gestures()) >= 2 + len(c.of_type("gesture")), 30)
        assert all(e["type"] != "gesture" for e in c.events[n:])
        # min_score above anything: a gesture watcher sees nothing either
        c2 = Client(sock)
        c2.send({"cmd": "watch", "types": ["gesture"], "min_score": 1.0})
        assert c2.wait_for(lambda ev: any(e["type"] == "watching" for e in ev))
        k = len(d.gestures())
        assert wait_until(lambda: len(d.gestures()) >= k + 2, 30)
        assert not c2.of_type("gesture") and not c2.of_type("status")
    finally:
        assert d.stop() == 0


def test_notify_datagrams_arrive_in_order(tmp_path, small_npz, synthetic_model):
    sock = str(tmp_path / "events.sock")
    at_ready = {}

    def on_notify(fields):
        if "READY=1" in fields and "socket" not in at_ready:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                c.connect(sock)  # READY means the socket already listens
                at_ready["socket"] = True
            except OSError as exc:
                at_ready["socket"] = exc
            finally:
                c.close()

    d = Daemon(tmp_path, "--source", str(small_npz), "--model", str(synthetic_model), "--socket", sock,
               "--repeat", "20", env={"WATCHDOG_USEC": "400000"}, on_notify=on_notify)
    try:
        d.wait_ready()
        assert wait_until(lambda: d.notify.fields().count("WATCHDOG=1") >= 3, 20)
        d.signal(signal.SIGHUP)
        assert wait_until(lambda: d.notify.fields().count("READY=1") >= 2, 30)
        d.signal(signal.SIGTERM)
        assert d.wait(20) == 0
    finally:
        d.stop()
    assert at_ready["socket"] is True
    keys = [k.split("=")[0] + ("=1" if k.endswith("=1") else "") for k in d.notify.fields()]
    compact = [k for i, k in enumerate(keys) if k != "WATCHDOG=1" or keys[i - 1] != "WATCHDOG=1"]
    assert compact[0] == "STATUS"
    first_ready = compact.index("READY=1")
    assert "WATCHDOG=1" not in compact[:first_ready]  # no watchdog before ready
    reloading = compact.index("RELOADING=1")
    assert first_ready < compact.index("WATCHDOG=1") < reloading
    assert compact[reloading + 1] == "MONOTONIC_USEC" and "READY=1" in compact[reloading:]
    assert compact[-2:] == ["STOPPING=1", "STATUS"]
    statuses = [k for k in d.notify.fields() if k.startswith("STATUS=")]
    assert statuses[0].startswith("STATUS=starting") and any(s.startswith("STATUS=running:") for s in statuses)


def test_sighup_reload(tmp_path, small_npz, synthetic_model, other_model):
    import shutil

    model = tmp_path / "current.tflite"
    shutil.copy(synthetic_model, model)
    shutil.copy(synthetic_model.with_suffix(".json"), model.with_suffix(".json"))
    cfg = write_config(tmp_path / "signd.toml", model={"path": str(model)},
                       socket={"path": str(tmp_path / "events.sock")})
    d = Daemon(tmp_path, "--config", str(cfg), "--source", str(small_npz), "--repeat", "50")
    try:
        d.wait_ready()
        c = Client(str(tmp_path / "events.sock"))
        assert c.wait_for(lambda ev: len([e for e in ev if e["type"] == "gesture"]) >= 1)
        old_sha = c.of_type("hello")[0]["model"]["sha256"]
        # 1. a corrupt model: refused, the old one keeps running
        model.write_bytes(model.read_bytes()[:20000])
        d.signal(signal.SIGHUP)
        assert c.wait_for(lambda ev: any(e["type"] == "error" for e in ev))
        err = c.of_type("error")[0]
        assert err["code"] == "reload_failed" and "current.tflite" in err["message"] and "truncated" in err["message"]
        n = len(c.of_type("gesture"))
        assert c.wait_for(lambda ev: len([e for e in ev if e["type"] == "gesture"]) >= n + 2)
        assert len(c.of_type("hello")) == 1
        assert "reload failed, still running the previous model" in d.stderr
        # 2. a model whose golden outputs no longer match its manifest: refused too
        import numpy as np

        from signd.models.manifest import GoldenPair, read_manifest, write_manifest

        shutil.copy(other_model, model)
        m = read_manifest(other_model)
        m.golden = [GoldenPair(np.zeros((30, 258), np.float32), np.array([1.0, 0.0, 0.0], np.float32))]
        write_manifest(model, m)
        d.signal(signal.SIGHUP)
        assert c.wait_for(lambda ev: len([e for e in ev if e["type"] == "error"]) >= 2)
        assert "golden input 0" in c.of_type("error")[1]["message"]
        # 3. a good new model: swapped in, everyone is told
        shutil.copy(other_model.with_suffix(".json"), model.with_suffix(".json"))
        d.signal(signal.SIGHUP)
        assert c.wait_for(lambda ev: len([e for e in ev if e["type"] == "hello"]) >= 2)
        new = c.of_type("hello")[1]["model"]
        assert new["sha256"] != old_sha and new["name"] == "other"
        k = len(c.of_type("gesture"))
        assert c.wait_for(lambda ev: len([e for e in ev if e["type"] == "gesture"]) >= k + 1)
        # 4. the window's settings take effect at a reload too (a new recognizer is built)
        write_config(tmp_path / "signd.toml", model={"path": str(model)},
                     socket={"path": str(tmp_path / "events.sock")}, window={"seconds": 1.0})
        d.signal(signal.SIGHUP)
        assert wait_until(lambda: "window: 30 rows over 1 s" in d.stderr, 30), d.stderr[-800:]
        k = len(c.of_type("gesture"))
        assert c.wait_for(lambda ev: len([e for e in ev if e["type"] == "gesture"]) >= k + 1)
    finally:
        assert d.stop() == 0


def test_sigterm_says_bye_and_exits_zero(tmp_path, small_npz, synthetic_model):
    sock = str(tmp_path / "events.sock")
    d = Daemon(tmp_path, "--source", str(small_npz), "--model", str(synthetic_model), "--socket", sock, "--repeat", "50")
    d.wait_ready()
    c = Client(sock)
    assert c.wait_for(lambda ev: ev and ev[0]["type"] == "hello")
    d.signal(signal.SIGTERM)
    assert d.wait(20) == 0
    assert c.closed.wait(5) and c.events[-1] == {"v": 1, "type": "bye", "reason": "shutdown"}
    assert "stopped by SIGTERM" in d.stderr and "threads still running" not in d.stderr
    import os

    assert not os.path.exists(sock)  # the socket file is removed
    d.notify.close()


def test_listen_reconnects_until_the_daemon_is_there(tmp_path, small_npz, synthetic_model):
    import subprocess

    from conftest import signd_cmd

    sock = str(tmp_path / "events.sock")
    listener = subprocess.Popen([*signd_cmd(), "listen", sock, "--count", "2"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: False, 1.5) is False  # let it fail to connect a few times
    d = Daemon(tmp_path, "--source", str(small_npz), "--model", str(synthetic_model), "--socket", sock, "--repeat", "5")
    try:
        out, err = listener.communicate(timeout=60)
    finally:
        d.stop()
    assert listener.returncode == 0, err
    types = [json.loads(line)["type"] for line in out.splitlines()]
    assert types[0] == "hello" and types.count("gesture") == 2
    assert "cannot connect" in err and "connected to" in err


def test_tcp_only_when_asked(tmp_path, small_npz, synthetic_model):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d = Daemon(tmp_path, "--source", str(small_npz), "--model", str(synthetic_model), "--tcp", f"127.0.0.1:{port}", "--repeat", "5")
    try:
        d.wait_ready()
        c = Client(f"tcp://127.0.0.1:{port}")
        c.send({"cmd": "ping", "id": 1})
        assert c.wait_for(lambda ev: any(e["type"] == "pong" for e in ev))
        assert f"tcp://127.0.0.1:{port}" in d.stderr
    finally:
        assert d.stop() == 0


def test_socket_file_mode_and_group(tmp_path, small_npz, synthetic_model):
    import grp
    import os
    import stat

    group = grp.getgrgid(os.getgid()).gr_name
    sock = str(tmp_path / "events.sock")
    d = Daemon(tmp_path, "--source", str(small_npz), "--model", str(synthetic_model), "--socket", sock,
               "--socket-group", group, "--repeat", "5")
    try:
        d.wait_ready()
        st = os.stat(sock)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
        assert st.st_gid == grp.getgrnam(group).gr_gid
    finally:
        assert d.stop() == 0


def test_unknown_socket_group_is_a_config_error(tmp_path, small_npz, synthetic_model):
    p = run_signd("run", "--source", str(small_npz), "--model", str(synthetic_model),
                  "--socket", str(tmp_path / "e.sock"), "--socket-group", "no-such-group-x")
    assert p.returncode == 78 and "socket.group: no such group 'no-such-group-x'" in p.stderr


def test_the_integrator_example_in_the_docs_works(tmp_path, small_npz, synthetic_model):
    """docs/protocol.md's 20-line client, run as written against a real daemon."""
    import re
    import threading

    from conftest import ROOT

    text = (ROOT / "docs" / "protocol.md").read_text()
    code = re.search(r"## A Python integrator in 20 lines\n\n```python\n(.*?)```", text, re.S).group(1)
    assert len(code.strip().splitlines()) <= 20
    sock = str(tmp_path / "events.sock")
    code = code.replace('SOCKET = "/run/signd/events.sock"', f"SOCKET = {sock!r}")
    code = code.replace("min_score\": 0.8", "min_score\": 0.0")
    got = []
    code = code.replace('    print(e["label"], e["score"])', "    got.append(e)\n    break")
    d = Daemon(tmp_path, "--source", str(small_npz), "--model", str(synthetic_model), "--socket", sock, "--repeat", "5")
    try:
        d.wait_ready()
        t = threading.Thread(target=exec, args=(code, {"got": got}), daemon=True)
        t.start()
        t.join(60)
    finally:
        assert d.stop() == 0
    assert got and got[0]["type"] == "gesture" and got[0]["label"] in ("hello", "iloveyou", "thanks")
