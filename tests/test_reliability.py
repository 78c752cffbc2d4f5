"""What a hostile but realistic user finds: bad files at reload, half-closed clients, a FIFO for
a password, NaN in a setting, a killed keypoint process, empty or truncated input, signals
while starting. Each on a real `signd run` where the finding was one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signd.daemon.holistic import pose_model_path

from conftest import ROOT, SHARED_DATA, run_signd, signd_cmd
from daemonkit import Client, Daemon, wait_until, write_config
from modelkit import save_npz, synthetic_recording

DEFAULT_MODEL = ROOT / "models" / "default" / "default.tflite"


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (any of its threads)."""
    out = []
    for tasks in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (tasks / "children").read_text().split()]
    return out


def one_error_line(p: subprocess.CompletedProcess, code: int, needle: str) -> None:
    assert p.returncode == code, (p.returncode, p.stderr[-2000:])
    errors = [line for line in p.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and needle in errors[0], p.stderr[-2000:]
    assert "Traceback" not in p.stderr


def model_copy(tmp_path: Path, manifest_edit=None) -> Path:
    """The shipped model beside a manifest changed by `manifest_edit(dict)`."""
    tmp_path.mkdir(exist_ok=True)
    out = tmp_path / "m.tflite"
    shutil.copy(DEFAULT_MODEL, out)
    d = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    if manifest_edit:
        manifest_edit(d)
    out.with_suffix(".json").write_text(json.dumps(d))
    return out


def frames_now(c: Client) -> int:
    """Frames the daemon has processed, asked for with a `status` command."""
    ident = f"q{time.monotonic_ns()}"
    c.send({"cmd": "status", "id": ident})
    assert c.wait_for(lambda ev: any(e.get("id") == ident for e in ev), 10)
    return next(e for e in c.events if e.get("id") == ident)["frames"]


def reload_and_expect_failure(d: Daemon, c: Client, n_errors: int) -> dict:
    d.signal(signal.SIGHUP)
    assert c.wait_for(lambda ev: len([e for e in ev if e["type"] == "error"]) > n_errors, 30), d.stderr[-2000:]
    return c.of_type("error")[n_errors]


NOT_UTF8 = b'# caf\xe9: a Latin-1 comment\n[source]\nuri = "demo"\n'
DEEP = b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n"


@pytest.mark.parametrize("what, content, needle", [
    ("config", NOT_UTF8, "not UTF-8"),
    ("config", DEEP, "nested too deeply"),
    ("manifest", None, "runtime.smoothing.threshold"),
    ("manifest", b"[" * 100000 + b"]" * 100000, "nested too deeply"),
])
def test_a_bad_file_at_reload_keeps_the_daemon_and_its_clients(fuzzed, what, content, needle):
    d, c, cfg, good, model = fuzzed
    cfg.write_bytes(good.read_bytes())
    shutil.copy(DEFAULT_MODEL.with_suffix(".json"), model.with_suffix(".json"))
    if what == "config":
        cfg.write_bytes(content)
    elif content is None:
        d_ = json.loads(model.with_suffix(".json").read_text())
        d_["runtime"]["smoothing"]["threshold"] = "high"
        model.with_suffix(".json").write_text(json.dumps(d_))
    else:
        model.with_suffix(".json").write_bytes(content)
    err = reload_and_expect_failure(d, c, len(c.of_type("error")))
    assert err["code"] == "reload_failed" and needle in err["message"], err
    first = frames_now(c)
    assert wait_until(lambda: frames_now(c) > first + 5, 10)  # still recognising, frame after frame
    assert "Traceback" not in d.stderr


@pytest.mark.parametrize("content, code, needle", [
    (NOT_UTF8, 78, "not UTF-8"),
    (DEEP, 78, "nested too deeply"),
])
def test_the_same_files_at_start_are_one_line_and_the_config_exit_code(tmp_path, content, code, needle):
    (tmp_path / "c.toml").write_bytes(content)
    one_error_line(run_signd("run", "--config", str(tmp_path / "c.toml")), code, needle)


def test_a_manifest_of_the_wrong_type_at_start_is_a_data_error(tmp_path):
    model = model_copy(tmp_path, lambda d: d["runtime"]["smoothing"].update(majority="ten"))
    one_error_line(run_signd("run", "--model", str(model)), 65, "runtime.smoothing.majority")


def test_sighup_while_starting_is_a_reload_not_the_end(tmp_path, synthetic_npz, synthetic_model):
    """`systemctl reload` right after a start: the signal waits for the service."""
    proc = subprocess.Popen([*signd_cmd(), "run", "--source", str(synthetic_npz), "--model", str(synthetic_model),
                             "--repeat", "5", "--fast"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # as systemd starts it: SIGHUP's default action (the end), not inherited
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    time.sleep(0.1)  # the command line is starting: imports, the model, the replay
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "reloading the configuration" in err, err
    assert out.count('"gesture"') >= 10


def test_sigterm_while_starting_stops_cleanly(tmp_path):
    video = SHARED_DATA / "videos" / "hello.mp4"
    if not video.exists():
        pytest.skip("shared data not available")
    proc = subprocess.Popen([*signd_cmd(), "run", "--source", str(video), "--repeat", "50"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # imports done, MediaPipe's process still starting
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "stopped by SIGTERM" in err and "threads still running" not in err and "Traceback" not in err


def test_half_closed_clients_are_reaped(tmp_path, synthetic_npz, synthetic_model):
    """What `echo '{"cmd":"status"}' | socat -t0.5 - UNIX-CONNECT:...` does, 100 times."""
    sock = str(tmp_path / "events.sock")
    cfg = write_config(tmp_path / "c.toml", socket={"path": sock, "heartbeat": 0.5})
    d = Daemon(tmp_path, "--config", str(cfg), "--source", str(synthetic_npz), "--model", str(synthetic_model),
               "--repeat", "1000")
    try:
        d.wait_ready()
        conns = []
        for _ in range(100):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            s.sendall(b'{"cmd":"status"}\n')
            s.shutdown(socket.SHUT_WR)
            conns.append(s)
        time.sleep(0.5)
        for s in conns:
            s.close()
        watcher = Client(sock)

        def clients() -> int:
            statuses = watcher.of_type("status")
            return statuses[-1]["clients"] if statuses else -1

        assert wait_until(lambda: clients() == 1, 20), clients()  # only the watcher is left
        time.sleep(1.5)  # three heartbeats more: nothing is written to a dead socket
        assert clients() == 1
    finally:
        assert d.stop() == 0
    assert "socket.send() raised exception" not in d.stderr


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_password_file_that_is_not_a_file_is_refused_at_once(tmp_path, kind):
    pw = tmp_path / "pw"
    if kind == "fifo":
        os.mkfifo(pw)
    else:
        pw = Path("/dev/zero")
    cfg = write_config(tmp_path / "c.toml", mqtt={"url": "mqtt://127.0.0.1:1", "username": "u",
                                                  "password_file": str(pw)})
    for cmd in ("run", "check-config"):
        args = ["run", "--config", str(cfg)] if cmd == "run" else ["check-config", str(cfg)]
        one_error_line(run_signd(*args, timeout=60), 78, "not a regular file")


@pytest.mark.parametrize("args, key", [
    (["--cooldown", "nan"], "smoothing.cooldown"),
    (["--threshold", "inf"], "smoothing.threshold"),
    (["--window-seconds", "inf"], "window.seconds"),
    (["--reset-after", "nan"], "window.reset_after"),
])
def test_nan_and_infinity_on_the_command_line(args, key):
    one_error_line(run_signd("run", *args), 78, key)


def test_absurd_numbers_in_the_config(tmp_path):
    (tmp_path / "c.toml").write_text("[window]\nseconds = 1e308\n")
    one_error_line(run_signd("run", "--config", str(tmp_path / "c.toml")), 78, "window.seconds")
    (tmp_path / "c.toml").write_text("[smoothing]\ncooldown = nan\n")
    one_error_line(run_signd("run", "--config", str(tmp_path / "c.toml")), 78, "smoothing.cooldown")


def test_a_killed_keypoint_process_is_one_line_with_its_exit_code(tmp_path):
    video = SHARED_DATA / "videos" / "hello.mp4"
    if not video.exists():
        pytest.skip("shared data not available")
    proc = subprocess.Popen([*signd_cmd(), "run", "--source", str(video), "--repeat", "200", "--fast"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    proc.stdout.readline()  # MediaPipe is working in its process: a first event came out
    kids = children(proc.pid)
    assert len(kids) == 1
    os.kill(kids[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 70
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "keypoint process ended (exit code -9" in errors[0], err[-2000:]
    assert "Traceback" not in err and "internal error" not in err


def test_a_truncated_video_is_an_error(tmp_path):
    video = SHARED_DATA / "videos" / "hello.mp4"
    if not video.exists():
        pytest.skip("shared data not available")
    data = video.read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])
    one_error_line(run_signd("run", "--source", str(tmp_path / "half.mp4"), "--fast"), 65,
                   "frames its header announces")


def test_recordings_that_can_never_fill_a_window(tmp_path):
    rec = synthetic_recording(n_per_class=2)
    empty = tmp_path / "empty.npz"
    np.savez(empty, X=np.zeros((0, 30, 258), np.float16), y=np.zeros(0, np.int16),
             labels=np.array(rec.labels), seq_ids=np.array([], dtype=str))
    one_error_line(run_signd("run", "--source", str(empty)), 65, "no sequences")
    rec.X = rec.X[:, :5]
    short = save_npz(rec, tmp_path / "short.npz")
    one_error_line(run_signd("run", "--source", str(short)), 65, "a window needs 30")


def test_a_replay_at_its_own_rate_is_logged_so(synthetic_npz, synthetic_model, tmp_path):
    p = subprocess.Popen([*signd_cmd(), "run", "--source", str(synthetic_npz), "--model", str(synthetic_model)],
                         stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.readline()
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert "keypoints, at its own rate" in err and "as fast as possible" not in err


def test_tcp_beyond_loopback_is_warned_about(tmp_path, synthetic_npz, synthetic_model):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = run_signd("run", "--source", str(synthetic_npz), "--model", str(synthetic_model), "--fast",
                  "--tcp", f"0.0.0.0:{port}")
    assert p.returncode == 0 and "other machines can reach" in p.stderr
    p = run_signd("run", "--source", str(synthetic_npz), "--model", str(synthetic_model), "--fast",
                  "--tcp", f"127.0.0.1:{port}")
    assert p.returncode == 0 and "other machines can reach" not in p.stderr



# -- check-config and run agree -----------------------------------------------------------


def _tiny_video(path: Path) -> Path:
    import cv2

    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for i in range(40):
        out.write(np.full((48, 64, 3), i * 5 % 255, np.uint8))
    out.release()
    return path


def _bad_configs(tmp: Path) -> list[tuple[str, str, int, str]]:
    """(name, TOML, exit code, what the one error line must name)."""
    rec = synthetic_recording(n_per_class=2)
    np.savez(tmp / "empty.npz", X=np.zeros((0, 30, 258), np.float16), y=np.zeros(0, np.int16),
             labels=np.array(rec.labels), seq_ids=np.array([], dtype=str))
    rec.X = rec.X[:, :5]
    save_npz(rec, tmp / "short.npz")
    os.mkfifo(tmp / "fifo")
    (tmp / "pw").write_text("pw\n")
    bad_type = model_copy(tmp / "m1", lambda d: d["runtime"]["smoothing"].update(threshold="high"))
    bad_labels = model_copy(tmp / "m2", lambda d: d.update(labels=[{}] * 4))
    bad_key = model_copy(tmp / "m3", lambda d: d["runtime"].update(window_secs=1))
    mqtt = 'url = "mqtt://127.0.0.1:1"\nusername = "u"\n'
    video = _tiny_video(tmp / "tiny.mp4")
    heavy_missing = not Path(pose_model_path(2)).exists()
    rows = [
        ("socket group", '[socket]\ngroup = "no-such-group-signd"\n', 78, "socket.group"),
        ("password missing", f'[mqtt]\n{mqtt}password_file = "{tmp}/nope"\n', 78, "mqtt.password_file"),
        ("password fifo", f'[mqtt]\n{mqtt}password_file = "{tmp}/fifo"\n', 78, "mqtt.password_file"),
        ("password /dev/zero", f'[mqtt]\n{mqtt}password_file = "/dev/zero"\n', 78, "mqtt.password_file"),
        ("ca file missing", f'[mqtt]\nurl = "mqtts://127.0.0.1:1"\nca_file = "{tmp}/ca.pem"\n', 78, "mqtt.ca_file"),
        ("mqtt url", '[mqtt]\nurl = "ftp://broker"\n', 78, "mqtt.url"),
        ("manifest type", f'[model]\npath = "{bad_type}"\n', 65, "runtime.smoothing.threshold"),
        ("manifest labels", f'[model]\npath = "{bad_labels}"\n', 65, "labels"),
        ("manifest key", f'[model]\npath = "{bad_key}"\n', 65, "runtime.window_secs"),
        ("model missing", f'[model]\npath = "{tmp}/none.tflite"\n', 66, "none.tflite"),
        ("source missing", f'[source]\nuri = "{tmp}/none.mp4"\n', 66, "none.mp4"),
        ("no sequences", f'[source]\nuri = "{tmp}/empty.npz"\n', 65, "no sequences"),
        ("short sequences", f'[source]\nuri = "{tmp}/short.npz"\n', 65, "a window needs"),
        ("window seconds", "[window]\nseconds = 1e308\n", 78, "window.seconds"),
        ("cooldown nan", "[smoothing]\ncooldown = nan\n", 78, "smoothing.cooldown"),
        ("threshold inf", "[smoothing]\nthreshold = inf\n", 78, "smoothing.threshold"),
        ("threshold range", "[smoothing]\nthreshold = 1.5\n", 78, "threshold"),
        ("reset after", "[window]\nreset_after = -1\n", 78, "window.reset_after"),
        ("camera fps", "[source]\ncamera_fps = 0\n", 78, "source.camera_fps"),
        ("socket mode", '[socket]\nmode = "rw"\n', 78, "socket.mode"),
        ("socket tcp", '[socket]\ntcp = "nope"\n', 78, "socket.tcp"),
        ("threads", "[model]\nnum_threads = 0\n", 78, "model.num_threads"),
        ("unknown key", "[window]\nstrides = 2\n", 78, "window.strides"),
        ("not utf-8", "# caf\udce9\n", 78, "not UTF-8"),
        ("nested", "a = " + "[" * 3000 + "]" * 3000 + "\n", 78, "nested too deeply"),
    ]
    if heavy_missing:
        rows.append(("pose model", f'[source]\nuri = "{video}"\n[keypoints]\nmodel_complexity = 2\n', 66,
                     "model_complexity 2"))
    return rows


def test_check_config_and_run_agree_on_every_bad_configuration(tmp_path, capsys):
    from signd.daemon.cli import main

    rows = _bad_configs(tmp_path)
    assert len(rows) >= 20
    for name, text, code, needle in rows:
        path = tmp_path / f"{name.replace(' ', '-').replace('/', '')}.toml"
        body = text if text.lstrip().startswith("[source]") else '[source]\nuri = "demo"\nfast = true\n' + text
        path.write_bytes(body.encode("utf-8", "surrogateescape"))
        got = {}
        for cmd in (["check-config", str(path)], ["run", "--config", str(path)]):
            rc = main(cmd)
            err = capsys.readouterr().err
            lines = [line for line in err.splitlines() if ": error: " in line]
            got[cmd[0]] = (rc, len(lines) == 1 and needle in lines[0])
        assert got == {"check-config": (code, True), "run": (code, True)}, (name, got)


# -- reload, fuzzed -----------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
SECTIONS = ("source", "model", "keypoints", "window", "smoothing", "socket", "mqtt", "nonsense")
TOML_VALUE = st.integers(-10**6, 10**6) | st.floats() | st.text(max_size=15) | st.booleans() | \
    st.lists(st.integers(0, 9), max_size=3)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value > 0 else "-inf") if abs(value) == float("inf") else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


@st.composite
def toml_configs(draw) -> bytes:
    """Mostly well-formed TOML with real section names and random keys and values."""
    out = []
    for section in draw(st.lists(st.sampled_from(SECTIONS), min_size=1, max_size=3, unique=True)):
        out.append(f"[{section}]")
        keys = st.sampled_from(["uri", "path", "stride", "seconds", "threshold", "cooldown", "queue",
                                "heartbeat", "group", "url", "password_file", "majority", "x"])
        for key, value in draw(st.dictionaries(keys, TOML_VALUE, min_size=1, max_size=3)).items():
            out.append(f"{key} = {_toml(value)}")
    return ("\n".join(out) + "\n").encode()


@st.composite
def manifests(draw) -> bytes:
    """The shipped manifest with a field replaced by a random JSON value, or random JSON."""
    if draw(st.booleans()):
        return json.dumps(draw(JSON)).encode()
    d = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    key = draw(st.sampled_from(["labels", "window", "layout", "features", "runtime", "golden",
                                "verified_runtimes", "quantization", "format"]))
    d[key] = draw(JSON.filter(lambda v: v != d[key]))
    return json.dumps(d).encode()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    rec = synthetic_recording(n_per_class=3)
    npz = save_npz(rec, tmp / "replay.npz")
    model = model_copy(tmp / "model")
    sock = tmp / "events.sock"
    good = write_config(tmp / "good.toml", model={"path": str(model)}, socket={"path": str(sock)})
    cfg = tmp / "signd.toml"
    cfg.write_bytes(good.read_bytes())
    d = Daemon(tmp, "--config", str(cfg), "--source", str(npz), "--repeat", "100000")
    d.wait_ready()
    c = Client(str(sock))
    assert c.wait_for(lambda ev: any(e["type"] == "hello" for e in ev))
    yield d, c, cfg, good, model
    assert d.proc.poll() is None, d.stderr[-3000:]
    assert d.stop() == 0


def _reload(fuzzed, write) -> None:
    d, c, cfg, good, model = fuzzed
    answers = lambda: len([e for e in c.of_type("error") if e["code"] == "reload_failed"]) + len(c.of_type("hello"))  # noqa: E731
    before, hellos = answers(), len(c.of_type("hello"))
    write()
    d.signal(signal.SIGHUP)
    assert c.wait_for(lambda ev: answers() > before, 20), d.stderr[-3000:]
    assert d.proc.poll() is None, d.stderr[-3000:]
    if len(c.of_type("hello")) == hellos:  # refused: the old model still runs, its clients too
        assert c.of_type("error")[-1]["message"].startswith("reload failed, still running the previous model")


FUZZ = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(data=st.binary(max_size=300))
def test_reload_fuzz_random_bytes_as_the_config(fuzzed, data):
    _reload(fuzzed, lambda: fuzzed[2].write_bytes(data))


@FUZZ
@given(data=toml_configs())
def test_reload_fuzz_random_toml(fuzzed, data):
    _reload(fuzzed, lambda: fuzzed[2].write_bytes(fuzzed[3].read_bytes() + b"\n" + data))


@FUZZ
@given(data=manifests())
def test_reload_fuzz_random_manifests(fuzzed, data):
    d, c, cfg, good, model = fuzzed

    def write() -> None:
        cfg.write_bytes(good.read_bytes())
        model.with_suffix(".json").write_bytes(data)

    _reload(fuzzed, write)


def test_after_the_fuzz_a_good_reload_still_works(fuzzed):
    d, c, cfg, good, model = fuzzed
    shutil.copy(DEFAULT_MODEL.with_suffix(".json"), model.with_suffix(".json"))
    cfg.write_bytes(good.read_bytes())
    hellos = len(c.of_type("hello"))
    d.signal(signal.SIGHUP)
    assert c.wait_for(lambda ev: len([e for e in ev if e["type"] == "hello"]) > hellos, 20)
    first = frames_now(c)
    assert wait_until(lambda: frames_now(c) > first + 5, 10)
