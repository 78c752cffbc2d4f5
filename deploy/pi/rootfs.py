"""The aarch64 side of pi-check: a Debian bookworm arm64 root (the userland of 64-bit Raspberry
Pi OS, which is bookworm with Python 3.11) run under qemu user-mode emulation.

No chroot, no binfmt_misc, no second-stage debootstrap: `debootstrap --foreign` only fetches
the packages, `dpkg -x` unpacks each of them, and `qemu-aarch64-static -L ROOT` runs the root's
own python3.11 with the root as its library prefix. The root is built once into a temporary
folder and renamed into place when complete, so an interrupted build is never reused.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

SUITE = "bookworm"
MIRROR = os.environ.get("SIGND_PI_MIRROR", "http://deb.debian.org/debian")
# python3 for the runtime; libgl1 and libglib2.0-0 because OpenCV (from mediapipe's wheels)
# links them at import time, as on Raspberry Pi OS.
PACKAGES = ("python3", "python3-venv", "libgl1", "libglib2.0-0")
TOOLS = {"qemu-aarch64-static": "qemu-user-static", "debootstrap": "debootstrap", "dpkg": "dpkg"}
PYTHON = "usr/bin/python3.11"
# The emulated CPU is a Raspberry Pi 4's Cortex-A72 (ARMv8.0: NEON, crc32; no dotprod, no
# fp16 arithmetic), the oldest core signd supports, so a wheel that needs more fails here.
CPU = "cortex-a72"
CPU_PART = "0xd08"  # Cortex-A72 in /proc/cpuinfo


class CheckError(Exception):
    """Something pi-check cannot go on without: printed as one line, exit 1."""


def log(msg: str) -> None:
    print(f"pi-check: {msg}", file=sys.stderr, flush=True)


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "signd" / "pi-root"


def ensure_tools() -> None:
    """qemu-user-static and debootstrap: installed with apt when missing and we are root."""
    if platform.machine() != "x86_64":
        raise CheckError(f"pi-check compares aarch64 with x86_64 and runs on x86_64, not {platform.machine()}")
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise CheckError(f"needs {', '.join(missing)}: sudo apt-get install {' '.join(missing)}")
    log(f"installing {' '.join(missing)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise CheckError(f"{' '.join(cmd)} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")


def build_root(cache: Path) -> Path:
    """`cache`/root with an arm64 python3.11 in it; built on the first run, then reused."""
    root = cache / "root"
    if (root / PYTHON).exists():
        return root
    if os.geteuid() != 0:
        raise CheckError(f"building the arm64 root in {root} needs root (debootstrap): run pi-check with sudo once")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / "root.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"building the arm64 {SUITE} root in {root} (once: about 160 packages from {MIRROR})")
    cmd = ["debootstrap", "--foreign", "--arch", "arm64", "--variant=minbase",
           f"--include={','.join(PACKAGES)}", SUITE, str(tmp), MIRROR]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        raise CheckError(f"debootstrap failed ({r.returncode}): {' | '.join(tail)}")
    debs = sorted((tmp / "var/cache/apt/archives").glob("*.deb"))
    if not debs:
        raise CheckError(f"debootstrap left no packages in {tmp}/var/cache/apt/archives")
    for deb in debs:
        r = subprocess.run(["dpkg", "-x", str(deb), str(tmp)], capture_output=True, text=True)
        if r.returncode != 0:
            raise CheckError(f"dpkg -x {deb.name} failed: {r.stderr.strip()}")
        deb.unlink()  # the unpacked root is what we keep; the .debs would double it
    if not (tmp / PYTHON).exists():
        raise CheckError(f"no {PYTHON} in the unpacked root (packages: {len(debs)})")
    tmp.rename(root)
    log(f"arm64 root ready: {len(debs)} packages unpacked")
    return root


def write_cpuinfo(root: Path, cores: int | None = None) -> None:
    """A Pi 4's /proc/cpuinfo inside the root. qemu 7.2 shows an aarch64 program the host's
    x86 /proc/cpuinfo, and ai-edge-litert 2.3.0's CPU detection segfaults on it (1.4.0 and
    MediaPipe survive it). `-L ROOT` makes qemu look for every path inside ROOT first, so
    this file is what the emulated Python reads. The core count is the host's: /sys, which
    the same code reads too, stays the host's."""
    cores = cores or os.cpu_count() or 1
    block = ("processor\t: {n}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
             "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\n"
             f"CPU part\t: {CPU_PART}\nCPU revision\t: 3\n\n")
    text = "".join(block.format(n=n) for n in range(cores))
    text += "Revision\t: c03115\nModel\t\t: Raspberry Pi 4 Model B Rev 1.5 (emulated by pi-check)\n"
    (root / "proc").mkdir(exist_ok=True)
    (root / "proc" / "cpuinfo").write_text(text)


def python_cmd(root: Path) -> list[str]:
    """The command that runs the root's python3.11 under emulation, on a Pi 4's CPU."""
    qemu = shutil.which("qemu-aarch64-static") or "qemu-aarch64-static"
    return [qemu, "-cpu", CPU, "-L", str(root), str(root / PYTHON)]


def python_version(cmd: list[str]) -> str:
    r = subprocess.run([*cmd, "-c", "import platform; print(platform.python_version(), platform.machine())"],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise CheckError(f"the emulated python does not run: {r.stderr.strip().splitlines()[-1:]}")
    return r.stdout.strip()
