"""deploy/pi-check: what it calls a match (fast, on made-up probe outputs), and the real run
under aarch64 emulation (slow: only with SIGND_PI_CHECK=1)."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, shared_path

PI = ROOT / "deploy" / "pi"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"pi_{name}", PI / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    sys.path.insert(0, str(PI))  # check.py and wheels.py import their siblings by name
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(PI))
    return mod


compare = _load("compare")


def frames(n: int = 3, hands: tuple[bool, ...] = (False, True, True), seed: int = 0) -> np.ndarray:
    """Holistic-like vectors: pose and face in every frame, a left hand where asked."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.2, 0.8, (n, 1662)).astype(np.float32)
    v[:, 1599:] = 0  # no right hand
    for i, h in enumerate(hands):
        if not h:
            v[i, 1536:1599] = 0
    return v


def test_same_keypoints_match():
    v = frames()
    arm = np.where(v != 0, v + 0.005, 0).astype(np.float32)
    row = compare.keypoints("k", v, arm, v)
    assert row.ok and row.difference == "max|d| 0.005" and row.note == ""
    assert row.x86 == "pose 3 face 3 hands L2 R0 /3"


def test_keypoints_off_by_more_than_the_tolerance_mismatch():
    v = frames()
    arm = v.copy()
    arm[0, 0] += 0.05  # pose x of frame 0
    row = compare.keypoints("k", v, arm, v)
    assert row.ok is False and "pose in frame 0 differs by 0.05" in row.difference


def test_a_hand_only_one_side_finds_is_a_mismatch_when_x86_is_steady():
    v = frames(hands=(False, False, True))
    arm = frames(hands=(False, True, True))
    row = compare.keypoints("k", v, arm, v)  # x86 on the other decode: still no hand in frame 1
    assert row.ok is False and "left hand in frame 1 found by aarch64 only" in row.difference


def test_a_hand_on_mediapipes_threshold_is_not_blamed_on_the_architecture():
    # What pi-check met on hello.mp4: x86 misses the left hand in frame 1 on its own decode and
    # finds it on the aarch64 decode; aarch64 finds it on x86's pixels; frame 2 then differs by
    # about as much as x86 moves between the two decodes.
    x86 = frames(hands=(False, False, True))
    arm = frames(hands=(False, True, True))
    other = frames(hands=(False, True, True))
    arm[2, 1536:1599] += 0.026
    other[2, 1536:1599] += 0.027
    row = compare.keypoints("k", x86, arm, other)
    assert row.ok is True
    assert "2 frame-parts on MediaPipe's threshold aside" in row.difference
    assert "left hand in frame 1 found by aarch64 only" in row.note
    # ...but not when aarch64 moves further than x86 itself does between decodes
    arm[2, 1536:1599] += 0.02
    assert compare.keypoints("k", x86, arm, other).ok is False


def test_pixels_within_a_few_levels_match_and_a_different_picture_does_not():
    a = np.full((3, 360, 640, 3), 100, np.uint8)
    b = a.copy()
    b[:, ::2] += 3
    assert compare.pixels("p", a, b).ok
    b[0, :10] = 200
    assert compare.pixels("p", a, b).ok is False
    assert compare.pixels("p", a, a[:, :, :320]).ok is False


def test_probabilities_and_events():
    p = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1]], np.float32)
    assert compare.probabilities("d", p, p + 2e-4).ok
    assert compare.probabilities("d", p, p + 2e-3).ok is False  # above the golden tolerance
    flipped = p[:, [1, 0, 2]]
    assert "argmax differs in 2" in compare.probabilities("d", p, flipped).difference
    assert compare.probabilities("d", p, p[:1]).ok is False
    assert compare.events("e", ["hello", "thanks"], ["hello", "thanks"]).ok
    row = compare.events("e", ["hello", "thanks"], ["hello", "iloveyou"])
    assert row.ok is False and "differ from event 2" in row.difference
    assert compare.events("e", ["hello"], ["hello", "thanks"]).ok is False


def test_table_marks_each_row():
    rows = [compare.versions("v", "signd 0.1.0", "signd 0.1.0"), compare.versions("w", "a", "b"),
            compare.skipped("s", "no data"), compare.failed("f", "aarch64", "Segmentation fault")]
    text = compare.table(rows, "aarch64")
    lines = text.splitlines()
    assert lines[0].split() == ["check", "x86_64", "aarch64", "difference", "result"]
    assert [line.split()[-1] for line in lines[2:6]] == ["ok", "MISMATCH", "skipped", "ERROR"]


def test_aarch64_wheels_are_chosen_for_bookworms_glibc():
    wheels = _load("wheels")
    tags = wheels.platform_tags()
    # A Pi's pip takes manylinux_2_17 .. 2_36; ai-edge-litert 2.x is manylinux_2_27 only, which
    # `--platform manylinux2014_aarch64` alone would never see.
    assert tags[0] == "manylinux_2_36_aarch64" and "manylinux_2_27_aarch64" in tags
    assert "manylinux_2_17_aarch64" in tags and "manylinux2014_aarch64" in tags
    assert wheels.runtime_requirements(ROOT)[0].startswith("mediapipe==")


def test_cpuinfo_is_a_pi_4s(tmp_path):
    rootfs = _load("rootfs")
    rootfs.write_cpuinfo(tmp_path, cores=4)
    text = (tmp_path / "proc" / "cpuinfo").read_text()
    assert text.count("CPU part\t: 0xd08") == 4 and "Features\t: fp asimd evtstrm crc32 cpuid" in text


@pytest.mark.slow
@pytest.mark.timeout(7200)
@pytest.mark.skipif(os.environ.get("SIGND_PI_CHECK") != "1",
                    reason="aarch64 emulation takes minutes: run with SIGND_PI_CHECK=1 (deploy/pi-check)")
def test_pi_check_passes(tmp_path):
    shared_path("videos", "hello.mp4")
    report = tmp_path / "report.json"
    # pi-check runs the x86 side with this test's Python, so both compare this checkout.
    env = dict(os.environ, SIGND_PI_PYTHON=sys.executable)
    r = subprocess.run([str(ROOT / "deploy" / "pi-check"), "--report", str(report)],
                       capture_output=True, text=True, timeout=7000, env=env)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    rows = json.loads(report.read_text())["rows"]
    assert [row["ok"] for row in rows] == [True] * len(rows), rows
    checks = " ".join(row["check"] for row in rows)
    for what in ("signd --version", "signd run --source demo", "demo windows, litert 2.3.0",
                 "demo windows, litert 1.4.0", "signd convert", "OpenCV decode", "Holistic 1662 vectors"):
        assert what in checks
