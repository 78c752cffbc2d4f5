"""Configuration: TOML with CLI overrides, unknown keys rejected by their path, exit 78."""

import pytest

from signd.daemon.config import RunConfig, load_config
from signd.daemon.errors import ConfigError

from conftest import ROOT, run_signd


def test_defaults_without_a_file():
    assert load_config(None) == RunConfig()


def test_example_config_is_valid():
    cfg = load_config(ROOT / "deploy" / "signd.toml")
    assert cfg.source.uri == "camera:0" and cfg.socket.path == "/run/signd/events.sock"
    assert cfg.socket.group == "signd" and cfg.socket.mode == "0660"


def test_cli_overrides_the_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[source]\nuri = "camera:1"\nfast = true\n[smoothing]\nthreshold = 0.6\n')
    cfg = load_config(p, {"source": {"uri": "demo"}, "smoothing": {"cooldown": 2}})
    assert cfg.source.uri == "demo" and cfg.source.fast is True
    assert cfg.smoothing.threshold == 0.6 and cfg.smoothing.cooldown == 2.0


@pytest.mark.parametrize("text, message", [
    ('[socket]\ngrup = "video"\n', "socket.grup: unknown key"),
    ('[sauce]\nuri = "x"\n', "sauce: unknown key"),
    ('log_leve = "info"\n', "log_leve: unknown key"),
    ('[window]\nstride = "two"\n', "window.stride: expected an integer, got 'two'"),
    ('[window]\nstride = 1.5\n', "window.stride: expected an integer, got 1.5"),
    ('[source]\nfast = 1\n', "source.fast: expected true or false, got 1"),
    ('[model]\nlabels = "hello"\n', "model.labels: expected a list"),
    ('[model]\nlabels = ["a", 2]\n', r"model.labels\[1\]: expected a string"),
    ('source = "camera:0"\n', "source: expected a table"),
    ('[window]\nstride = 0\n', "window.stride: must be within 1..1000"),
    ('[smoothing]\nthreshold = 1.5\n', "smoothing: threshold must be within 0..1"),
    ('[socket]\nmode = "rw"\n', "socket.mode: expected an octal mode"),
    ('[socket]\ntcp = "localhost"\n', "socket.tcp: expected HOST:PORT"),
    ('[keypoints]\nmodel_complexity = 3\n', "keypoints.model_complexity: must be 0, 1 or 2"),
    ('[keypoints]\nniceness = 20\n', "keypoints.niceness: must be 0-19"),
    ('[keypoints]\nniceness = -1\n', "keypoints.niceness: must be 0-19"),
    ("[source\n", "not valid TOML"),
])
def test_bad_config_names_the_key(tmp_path, text, message):
    import re

    p = tmp_path / "signd.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert str(exc.value).startswith(f"{p}: ")
    assert re.search(message, str(exc.value)), str(exc.value)


def test_check_config_ok(tmp_path, synthetic_model):
    p = tmp_path / "signd.toml"
    p.write_text(f'[model]\npath = "{synthetic_model}"\n[source]\nuri = "camera:0"\n')
    r = run_signd("check-config", str(p))
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_check_config_bad_exits_78(tmp_path):
    p = tmp_path / "signd.toml"
    p.write_text("[socket]\ngrup = 'x'\n")
    r = run_signd("check-config", str(p))
    assert r.returncode == 78
    assert r.stderr.strip().splitlines()[-1].endswith("socket.grup: unknown key (known: group, heartbeat, mode, path, queue, stall_timeout, tcp)")


def test_run_with_invalid_config_exits_78(tmp_path):
    p = tmp_path / "signd.toml"
    p.write_text("[window]\nstride = -1\n")
    r = run_signd("run", "--config", str(p))
    assert r.returncode == 78 and "window.stride: must be within 1..1000" in r.stderr and r.stdout == ""


def test_missing_config_file_exits_78(tmp_path):
    r = run_signd("run", "--config", str(tmp_path / "none.toml"))
    assert r.returncode == 78 and "config file not found" in r.stderr


def test_journald_priorities_when_stderr_is_the_journal(tmp_path, synthetic_npz, synthetic_model):
    import os
    import subprocess

    from conftest import signd_cmd

    log = tmp_path / "stderr.log"
    with open(log, "w") as f:
        st = os.fstat(f.fileno())
        env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        subprocess.run([*signd_cmd(), "run", "--source", str(synthetic_npz), "--model", str(synthetic_model), "--fast"],
                       stdout=subprocess.DEVNULL, stderr=f, env=env, timeout=120, check=True)
    ours = [line for line in log.read_text().splitlines() if "signd." in line]
    assert ours and all(line.startswith("<6>signd.") for line in ours)
