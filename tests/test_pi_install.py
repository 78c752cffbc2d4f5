"""deploy/install.sh on what a Raspberry Pi really looks like: 32-bit Raspberry Pi OS on a 64-bit
kernel, Pythons outside mediapipe's range, a Pi whose picamera2 does not import, and the plan on
a Pi. Each refusal is one line, a non-zero exit, and nothing written under the install root."""

import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

INSTALL = ROOT / "deploy" / "install.sh"


def fake_python(tmp_path: Path, version: str = "3.11", bits: int = 64, picamera2: bool = True) -> Path:
    """A python3 that answers install.sh's questions the way a given system's would."""
    exe = tmp_path / "bin" / "python3"
    exe.parent.mkdir(exist_ok=True)
    camera = "exit 0" if picamera2 else (
        "echo 'Traceback (most recent call last):' >&2; "
        "echo \"ModuleNotFoundError: No module named 'picamera2'\" >&2; exit 1")
    exe.write_text(f"""#!/bin/sh
case "$2" in
  *picamera2*) {camera} ;;
  *) echo "{version} {bits}" ;;
esac
""")
    exe.chmod(0o755)
    return exe


def install(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    e = dict(os.environ, SIGND_ROOT=str(root), **env)
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, env=e, timeout=60)


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def make_pi(root: Path, how: str) -> None:
    if how == "rpi-issue":
        (root / "etc").mkdir(parents=True)
        (root / "etc" / "rpi-issue").write_text("Raspberry Pi reference 2024-11-19\n")
    else:  # any OS on a Pi: the board's name in the device tree (NUL-terminated)
        (root / "proc" / "device-tree").mkdir(parents=True)
        (root / "proc" / "device-tree" / "model").write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\0")


def test_32_bit_userland_on_a_64_bit_kernel_is_refused(tmp_path):
    # 32-bit Raspberry Pi OS on a Pi 4/5 boots a 64-bit kernel: uname -m says aarch64.
    root = tmp_path / "root"
    r = install(root, SIGND_ARCH="aarch64", SIGND_PYTHON=str(fake_python(tmp_path, bits=32)))
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"install.sh: this is a 32-bit system (aarch64 kernel, 32-bit {tmp_path}/bin/python3): mediapipe "
        "and ai-edge-litert publish no wheels for it; install Raspberry Pi OS (64-bit) and run this again"]
    assert r.stdout == ""
    assert not root.exists()


@pytest.mark.parametrize("arch", ["armv7l", "armv6l", "armhf"])
def test_32_bit_kernel_is_refused_before_python_is_asked(tmp_path, arch):
    root = tmp_path / "root"
    r = install(root, SIGND_ARCH=arch, SIGND_PYTHON=str(tmp_path / "no-such-python"))
    assert r.returncode == 1
    assert len(r.stderr.splitlines()) == 1 and f"this is a 32-bit system ({arch})" in r.stderr
    assert not root.exists()


@pytest.mark.parametrize("version", ["3.8", "3.13", "3.14"])
def test_python_outside_mediapipes_range_is_refused(tmp_path, version):
    root = tmp_path / "root"
    r = install(root, SIGND_ARCH="aarch64", SIGND_PYTHON=str(fake_python(tmp_path, version)))
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"install.sh: Python {version} is outside mediapipe 0.10.18's range (3.9 to 3.12): use "
        "Raspberry Pi OS Bookworm (Python 3.11)"]
    assert not root.exists()


@pytest.mark.parametrize("how", ["rpi-issue", "device-tree"])
def test_pi_without_picamera2_stops_before_writing_anything(tmp_path, how):
    root = tmp_path / "root"
    make_pi(root, how)
    before = files_under(root)
    r = install(root, SIGND_ARCH="aarch64", SIGND_PYTHON=str(fake_python(tmp_path, picamera2=False)))
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"install.sh: picamera2 does not import in {tmp_path}/bin/python3 (ModuleNotFoundError: No module "
        "named 'picamera2'): sudo apt install python3-picamera2, and use Raspberry Pi OS's own python3"]
    assert files_under(root) == before  # no venv, no config, no units


def test_plan_on_a_pi(tmp_path):
    root = tmp_path / "root"
    make_pi(root, "rpi-issue")
    r = install(root, SIGND_ARCH="aarch64", SIGND_DRY_RUN="1", SIGND_PYTHON=str(fake_python(tmp_path)))
    assert r.returncode == 0, r.stderr
    plan = r.stdout.splitlines()
    apt = next(line for line in plan if "apt-get install" in line)
    assert apt.split()[-5:] == ["python3-venv", "python3-pip", "libgl1", "libglib2.0-0", "python3-picamera2"]

    def at(text: str) -> int:
        return next(i for i, line in enumerate(plan) if text in line)

    # apt first, then picamera2 from the very Python the venv is made from, then the venv that
    # sees apt's packages, then picamera2 again inside the venv, and only then the switch.
    assert at("apt-get install") < at("-c 'import picamera2'") < at("-m venv --system-site-packages")
    assert at("-m venv --system-site-packages") < at('-c import picamera2') < at("venv.tmp")
    assert any("signd.toml (source picamera2)" in line for line in plan)
    assert files_under(root) == {"etc", "etc/rpi-issue"}  # a dry run writes nothing


def test_plan_off_a_pi_has_no_picamera2(tmp_path):
    r = install(tmp_path / "root", SIGND_ARCH="x86_64", SIGND_DRY_RUN="1", SIGND_PYTHON=str(fake_python(tmp_path)))
    assert r.returncode == 0, r.stderr
    assert "picamera2" not in r.stdout
    assert "signd.toml (source camera:0)" in r.stdout
