"""deploy/: the units pass systemd-analyze, and install.sh refuses what cannot work before
touching anything."""

import os
import subprocess

import pytest

from conftest import ROOT
from deploykit import exposure, needs_analyze, verify_units

DEPLOY = ROOT / "deploy"


@needs_analyze
def test_units_verify_clean(tmp_path):
    r = verify_units(tmp_path, [DEPLOY / "signd.service", DEPLOY / "signd.socket"],
                     ["/opt/signd/venv/bin/signd", "/bin/kill"])
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r.stderr


@needs_analyze
def test_service_exposure_at_most_2():
    assert exposure(DEPLOY / "signd.service") <= 2.0


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
