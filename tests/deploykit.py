"""Test helpers for systemd units: `systemd-analyze verify` in a throwaway root, and the
exposure score of `systemd-analyze security`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

analyze = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(analyze is None, reason="systemd-analyze not installed (.ci/run installs systemd)")


def verify_units(tmp_path: Path, units: list[Path], executables: list[str]) -> subprocess.CompletedProcess:
    """Verify `units` in a root holding systemd's own units and stand-ins for `executables`,
    so verify checks our files, not whether /opt/signd exists on this machine."""
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for exe in executables:
        p = root / exe.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("#!/bin/sh\n")
        p.chmod(0o755)
    for unit in units:
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    return subprocess.run([analyze, "verify", f"--root={root}", *(f"/etc/systemd/system/{u.name}" for u in units)],
                          capture_output=True, text=True)


def exposure(unit: Path) -> float:
    """The overall exposure level `systemd-analyze security` gives `unit` (0 best, 10 worst)."""
    r = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(unit)], capture_output=True, text=True)
    m = re.search(rf"Overall exposure level for {re.escape(unit.name)}: ([\d.]+)", r.stdout)
    assert m, r.stdout + r.stderr
    return float(m.group(1))
