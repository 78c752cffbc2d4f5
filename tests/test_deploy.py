"""deploy/: the units pass systemd-analyze, and install.sh refuses what cannot work before
touching anything."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

DEPLOY = ROOT / "deploy"
analyze = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(analyze is None, reason="systemd-analyze not installed (.ci/run installs systemd)")


@needs_analyze
def test_units_verify_clean(tmp_path):
    # A root with the units and the binaries they name, so verify checks our files, not
    # whether /opt/signd exists on this machine.
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for exe in ("opt/signd/venv/bin/signd", "bin/kill"):
        p = root / exe
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("#!/bin/sh\n")
        p.chmod(0o755)
    for unit in ("signd.service", "signd.socket"):
        shutil.copy(DEPLOY / unit, root / "etc/systemd/system" / unit)
    r = subprocess.run([analyze, "verify", f"--root={root}", "/etc/systemd/system/signd.service",
                        "/etc/systemd/system/signd.socket"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r.stderr


@needs_analyze
def test_service_exposure_at_most_2():
    r = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(DEPLOY / "signd.service")],
                       capture_output=True, text=True)
    m = re.search(r"Overall exposure level for signd\.service: ([\d.]+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.0, r.stdout


def test_service_unit_essentials():
    text = (DEPLOY / "signd.service").read_text()
    for line in ("Type=notify", "User=signd", "SupplementaryGroups=video", "ProtectSystem=strict",
                 "DeviceAllow=char-video4linux rw", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in text
    assert "/dev/video" not in text  # camera access by device group, not by path glob


def install(tmp_path, *args, **env):
    e = dict(os.environ, SIGND_ROOT=str(tmp_path / "root"), **env)
    return subprocess.run(["bash", str(DEPLOY / "install.sh"), *args], capture_output=True, text=True, env=e, timeout=60)


@pytest.mark.parametrize("arch", ["armv7l", "armv6l"])
def test_install_refuses_32_bit(tmp_path, arch):
    r = install(tmp_path, SIGND_ARCH=arch)
    assert r.returncode != 0
    assert r.stderr.strip() == (f"install.sh: this is a 32-bit system ({arch}): mediapipe and ai-edge-litert "
                                "publish no wheels for it; install Raspberry Pi OS (64-bit) and run this again")
    assert not (tmp_path / "root").exists()  # nothing half-installed


def test_install_refuses_python_outside_mediapipes_range(tmp_path):
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho 3.13\n")
    fake.chmod(0o755)
    r = install(tmp_path, SIGND_ARCH="aarch64", SIGND_PYTHON=str(fake))
    assert r.returncode != 0
    assert r.stderr.strip().startswith("install.sh: Python 3.13 is outside mediapipe 0.10.18's range (3.9 to 3.12)")
    assert not (tmp_path / "root").exists()


def test_install_dry_run_plan(tmp_path):
    r = install(tmp_path, SIGND_ARCH="aarch64", SIGND_DRY_RUN="1")
    assert r.returncode == 0, r.stderr
    plan = r.stdout
    assert "-m venv --system-site-packages" in plan and f"pip install -q {ROOT}" in plan
    assert "signd.toml.example" in plan and "check-config" in plan
    assert plan.index("pip install") < plan.index("venv.tmp")  # switch only after a complete install


def test_unknown_option(tmp_path):
    r = install(tmp_path, "--frobnicate")
    assert r.returncode == 2 and "unknown option --frobnicate" in r.stderr
