"""deploy/kiosk/: the page service passes systemd-analyze, the browser launcher waits for the
page and starts Chromium in kiosk mode on it, and install.sh puts each piece in its place."""

import configparser
import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import ROOT
from deploykit import exposure, needs_analyze, verify_units
from kiosk_kit import KioskProcess

KIOSK = ROOT / "deploy" / "kiosk"


@needs_analyze
def test_service_verifies_clean(tmp_path):
    r = verify_units(tmp_path, [KIOSK / "signd-kiosk.service"], ["/opt/signd/venv/bin/signd"])
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r.stderr


@needs_analyze
def test_service_exposure_at_most_2():
    assert exposure(KIOSK / "signd-kiosk.service") <= 2.0


def test_units_and_autostart_entry_agree():
    service = (KIOSK / "signd-kiosk.service").read_text()
    assert "ExecStart=/opt/signd/venv/bin/signd kiosk --socket /run/signd/events.sock --port 8765" in service
    for line in ("Type=notify", "DynamicUser=yes", "SupplementaryGroups=signd", "IPAddressAllow=localhost"):
        assert line in service
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str
    desktop.read(KIOSK / "signd-kiosk-browser.desktop")
    entry = desktop["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"] == "/usr/local/bin/signd-kiosk-browser --respawn http://127.0.0.1:8765/"
    user_unit = (KIOSK / "signd-kiosk-browser.service").read_text()
    assert "ExecStart=/usr/local/bin/signd-kiosk-browser http://127.0.0.1:8765/" in user_unit
    assert "WantedBy=graphical-session.target" in user_unit


def fake_browser(tmp_path):
    """Stands in for Chromium: records its arguments and whether the page answered then."""
    out = tmp_path / "browser.txt"
    exe = tmp_path / "chromium"
    exe.write_text(f"""#!{sys.executable}
import json, sys, urllib.request
try:
    status = urllib.request.urlopen(sys.argv[-1], timeout=5).status
except OSError as exc:
    status = repr(exc)
with open({str(out)!r}, "a") as f:
    f.write(json.dumps([status, sys.argv[1:]]) + "\\n")
""")
    exe.chmod(0o755)
    return exe, out


def test_launcher_waits_for_the_page_then_opens_it_in_kiosk_mode(tmp_path):
    exe, out = fake_browser(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    env = dict(os.environ, SIGND_KIOSK_BROWSER=str(exe), XDG_RUNTIME_DIR=str(tmp_path), SIGND_KIOSK_WAIT="60")
    launcher = subprocess.Popen(["sh", str(KIOSK / "signd-kiosk-browser"), url], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kiosk = KioskProcess(str(tmp_path / "absent.sock"), port)  # the page comes up after the browser's launcher
    try:
        kiosk.wait_ready()
        assert launcher.wait(60) == 0, launcher.stderr.read()
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait(5)
        kiosk.stop()
    ((status, argv),) = [json.loads(line) for line in out.read_text().splitlines()]
    assert status == 200  # it opened the page only once the page answered
    assert argv[-1] == url and "--kiosk" in argv and "--noerrdialogs" in argv
    assert f"--user-data-dir={tmp_path}/signd-kiosk-chromium" in argv  # a fresh profile in RAM


def test_launcher_without_chromium_says_so(tmp_path):
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}  # no chromium on this PATH
    r = subprocess.run(["/bin/sh", str(KIOSK / "signd-kiosk-browser")], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.strip() == "signd-kiosk-browser: Chromium not found: sudo apt install chromium (chromium-browser on Bookworm)"


def install(tmp_path, *args, signd=True):
    root = tmp_path / "root"
    if signd:
        exe = root / "opt/signd/venv/bin/signd"
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    env = dict(os.environ, SIGND_ROOT=str(root))
    return root, subprocess.run(["bash", str(KIOSK / "install.sh"), *args], capture_output=True, text=True, env=env, timeout=60)


def test_install_places_each_piece_on_the_chosen_port(tmp_path):
    root, r = install(tmp_path, "--user", "pi", "--port", "9001")
    assert r.returncode == 0, r.stderr
    unit = (root / "etc/systemd/system/signd-kiosk.service").read_text()
    assert "signd kiosk --socket /run/signd/events.sock --port 9001" in unit and "8765" not in unit
    launcher = root / "usr/local/bin/signd-kiosk-browser"
    assert os.access(launcher, os.X_OK) and "http://127.0.0.1:9001/" in launcher.read_text()
    entry = (root / "home/pi/.config/autostart/signd-kiosk-browser.desktop").read_text()
    assert "Exec=/usr/local/bin/signd-kiosk-browser --respawn http://127.0.0.1:9001/" in entry
    assert not list(root.rglob("*.tmp"))  # nothing half-written
    _, r = install(tmp_path, "--uninstall", "--user", "pi")
    assert r.returncode == 0, r.stderr
    assert not (root / "etc/systemd/system/signd-kiosk.service").exists()
    assert not (root / "home/pi/.config/autostart/signd-kiosk-browser.desktop").exists()


@pytest.mark.parametrize("args, message", [
    (["--user", "pi", "--port", "80x"], "install.sh: --port: expected a number 1..65535, got '80x'"),
    (["--port", "9001"], "install.sh: name the desktop user whose screen shows the kiosk: --user NAME"),
])
def test_install_refuses_bad_options(tmp_path, args, message, monkeypatch):
    monkeypatch.delenv("SUDO_USER", raising=False)
    root, r = install(tmp_path, *args)
    assert r.returncode != 0 and r.stderr.strip() == message
    assert not (root / "etc").exists()


def test_install_needs_signd_first(tmp_path):
    root, r = install(tmp_path, "--user", "pi", signd=False)
    assert r.returncode != 0
    assert r.stderr.strip().endswith("run sudo deploy/install.sh first")
    assert not (root / "etc").exists()
