"""What a Raspberry Pi's pip installs, installed here for the emulated aarch64 Python.

The wheels are chosen on the x86 side with `pip install --target --platform ...`, for the
platform tags that pip accepts on 64-bit Raspberry Pi OS Bookworm: CPython 3.11 and glibc 2.36
(manylinux_2_17 up to manylinux_2_36). The tags matter: with `--platform manylinux2014_aarch64`
alone pip sees no ai-edge-litert 2.x wheel (they are manylinux_2_27) and falls back to 1.4.0,
which is not what a Pi gets; pi-check runs both, so either one working is proven.

The dependency set is cached under a hash of the requirements and tags; the project itself is
reinstalled on every run (it is what changes).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib
from rootfs import CheckError, log

PYTHON_VERSION = "3.11"
GLIBC = (2, 36)  # Debian bookworm, hence Raspberry Pi OS Bookworm
OLD_LITERT = "ai-edge-litert==1.4.0"


def platform_tags(glibc: tuple[int, int] = GLIBC) -> list[str]:
    """Every manylinux tag pip accepts for aarch64 on this glibc, newest first."""
    major, minor = glibc
    return [f"manylinux_{major}_{m}_aarch64" for m in range(minor, 16, -1)] + ["manylinux2014_aarch64"]


def runtime_requirements(project: Path) -> list[str]:
    """The runtime dependencies from pyproject.toml (no extras: the Pi installs none)."""
    with open(project / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def _pip_target(target: Path, args: list[str], what: str) -> None:
    """`pip install --target` into a temporary folder, renamed into place when complete."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
           "--target", str(tmp), *args]
    log(f"installing {what} into {target}")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("ERROR")] or r.stderr.splitlines()[-2:]
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckError(f"pip could not install {what} for aarch64: {' | '.join(errors)}")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def _aarch64_args(tags: list[str]) -> list[str]:
    args = ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp",
            "--abi", "cp" + PYTHON_VERSION.replace(".", "")]
    for t in tags:
        args += ["--platform", t]
    return args


def install_dependencies(cache: Path, requirements: list[str], tags: list[str]) -> Path:
    """The runtime dependencies for aarch64, in a folder reused while they do not change."""
    key = hashlib.sha256(json.dumps([requirements, tags]).encode()).hexdigest()[:12]
    target = cache / f"site-deps-{key}"
    if not target.exists():
        for old in cache.glob("site-deps-*"):
            shutil.rmtree(old, ignore_errors=True)
        _pip_target(target, [*_aarch64_args(tags), *requirements], "the runtime dependencies")
    return target


def install_old_litert(cache: Path) -> Path:
    """ai-edge-litert 1.4.0 alone, put before the dependency set to run the older runtime.
    Its own dependencies (numpy, flatbuffers, tqdm, backports.strenum, typing-extensions)
    come from the main set."""
    target = cache / "site-litert-1.4.0"
    if not target.exists():
        _pip_target(target, [*_aarch64_args(platform_tags()), "--no-deps", OLD_LITERT], OLD_LITERT)
    return target


def install_project(cache: Path, project: Path) -> Path:
    """This checkout, as pip installs it (pure Python: the wheel is the same on every machine)."""
    target = cache / "site-signd"
    _pip_target(target, ["--no-deps", str(project)], f"signd from {project}")
    return target


def installed_versions(site: Path, names: list[str]) -> dict[str, str]:
    """Versions of the named distributions in a --target folder, from their .dist-info."""
    out: dict[str, str] = {}
    for info in site.glob("*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        norm = name.lower().replace("_", "-")
        if norm in names:
            out[norm] = version
    return out
