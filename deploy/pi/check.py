"""pi-check: signd on aarch64 (a Raspberry Pi 4's CPU under qemu) against x86_64, same steps.

Builds (once) an arm64 Debian bookworm root, installs the runtime dependencies as a Pi's pip
picks them and this checkout into it, then runs on both sides and compares: `signd --version`;
`signd run --source demo --fast` and the probabilities of every demo window through the shipped
model, on ai-edge-litert 2.3.0 (what a Pi installs) and 1.4.0; a model made here by `signd
convert` from a tutorial .h5, loaded and run by each interpreter; OpenCV's decode and MediaPipe
Holistic on the first frames of a video. One summary table; exit 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import compare
import numpy as np
import rootfs
import wheels
from compare import Row
from rootfs import CheckError, log

PROJECT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).resolve().parent / "probe.py"
SHARED = Path(os.environ.get("SIGND_SHARED_DATA", PROJECT.parent / "shared" / "data"))
TUTORIAL_H5 = ("models/mujster-trained.h5", "signers/mujster.npz")
STEP_TIMEOUT = 3600  # a step under emulation; a hung one must not hang CI forever
QUIET = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}


@dataclass
class Side:
    name: str
    python: list[str]
    pythonpath: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, step: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | QUIET
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        log(f"[{self.name}] {step} ...")
        t0 = time.monotonic()
        r = subprocess.run([*self.python, *args], capture_output=True, text=True, env=env,
                           timeout=STEP_TIMEOUT, cwd=PROJECT)
        self.seconds[step] = round(time.monotonic() - t0, 1)
        log(f"[{self.name}] {step}: {self.seconds[step]} s, exit {r.returncode}")
        return r

    def probe(self, step: str, out: Path, *args: str) -> dict | str:
        """Run probe.py; its info dict, or the error's last line."""
        r = self.run(step, str(PROBE), *args, str(out))
        if r.returncode != 0:
            return last_line(r)
        with np.load(out) as d:
            return json.loads(str(d["info"]))


def last_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in (r.stderr or r.stdout).splitlines() if ln.strip()]
    return lines[-1].strip() if lines else f"exit {r.returncode}"


def short(runtime: str) -> str:
    """ "ai-edge-litert 2.3.0" -> "litert 2.3.0": the table has to fit a terminal."""
    return runtime.replace("ai-edge-litert", "litert")


def gesture_labels(stdout: str) -> list[str]:
    return [e["label"] for e in map(json.loads, stdout.splitlines()) if e.get("type") == "gesture"]


def check_version(x86: Side, arm: Side) -> Row:
    r = [s.run("version", "-m", "signd.daemon.cli", "--version") for s in (x86, arm)]
    for side, res in zip((x86, arm), r, strict=True):
        if res.returncode != 0:
            return compare.failed("signd --version", side.name, last_line(res))
    return compare.versions("signd --version", r[0].stdout.strip(), r[1].stdout.strip())


def check_demo(x86: Side, arms: list[Side], work: Path) -> list[Row]:
    name = "signd run --source demo --fast"
    runs = [s.run("demo events", "-m", "signd.daemon.cli", "run", "--source", "demo", "--fast") for s in (x86, arms[0])]
    for side, res in zip((x86, arms[0]), runs, strict=True):
        if res.returncode != 0:
            return [compare.failed(name, side.name, last_line(res))]
    rows = [compare.events(name, gesture_labels(runs[0].stdout), gesture_labels(runs[1].stdout))]
    ref = x86.probe("demo windows", work / "demo-x86.npz", "demo")
    if isinstance(ref, str):
        return [*rows, compare.failed("demo windows", x86.name, ref)]
    px = np.load(work / "demo-x86.npz")["probs"]
    for i, arm in enumerate(arms):
        info = arm.probe("demo windows", work / f"demo-arm{i}.npz", "demo")
        check = f"demo windows, {short(info['runtime']) if isinstance(info, dict) else arm.name}"
        if isinstance(info, str):
            rows.append(compare.failed(check, arm.name, info))
            continue
        row = compare.probabilities(check, px, np.load(work / f"demo-arm{i}.npz")["probs"])
        if info["labels"] != ref["labels"]:
            row.ok, row.difference = False, row.difference + f"; events {info['labels']} vs {ref['labels']}"
        row.x86 += f" ({short(ref['runtime'])})"
        rows.append(row)
    return rows


def check_convert(x86: Side, arms: list[Side], work: Path) -> list[Row]:
    h5, data = (SHARED / p for p in TUTORIAL_H5)
    if not h5.exists() or not data.exists():
        return [compare.skipped("signd convert model", f"shared data not available: {h5.parent.parent}")]
    model = work / "tutorial.tflite"
    r = x86.run("convert", "-m", "signd.daemon.cli", "convert", str(h5), "-o", str(model),
                "--labels", "hello,thanks,iloveyou", "--data", str(data))
    if r.returncode != 0:
        return [compare.failed("signd convert model", x86.name, last_line(r))]
    args = ("model", str(model), "--data", str(data), "--windows", "8")
    ref = x86.probe("converted model", work / "model-x86.npz", *args)
    if isinstance(ref, str):
        return [compare.failed("signd convert model", x86.name, ref)]
    out_x86 = np.load(work / "model-x86.npz")["outputs"]
    rows = []
    for i, arm in enumerate(arms):
        info = arm.probe("converted model", work / f"model-arm{i}.npz", *args)
        if isinstance(info, str):
            rows.append(compare.failed(f"signd convert {h5.stem}, {arm.name}", arm.name, info))
            continue
        check = f"signd convert {h5.stem}: {ref['quantization']}, {short(info['runtime'])}"
        row = compare.probabilities(check, out_x86, np.load(work / f"model-arm{i}.npz")["outputs"], "windows")
        row.x86 += f" ({short(ref['runtime'])})"
        row.note = (f"{ref['golden']} golden pairs of the manifest + 8 windows of {data.name}; "
                    f"aarch64 off the manifest's golden outputs by {info['golden_max_diff']:.2g}")
        rows.append(row)
    return rows


def check_holistic(x86: Side, arm: Side, work: Path, video: Path, frames: int) -> list[Row]:
    if not video.exists():
        return [compare.skipped("Holistic", f"video not available: {video}")]
    n = str(frames)
    hx, ha, ho = work / "holistic-x86.npz", work / "holistic-arm.npz", work / "holistic-x86-armdecode.npz"
    for side, out, extra in ((x86, hx, ()), (arm, ha, ("--pixels", str(hx))), (x86, ho, ("--pixels", str(ha)))):
        info = side.probe("holistic", out, "holistic", str(video), n, *extra)
        if isinstance(info, str):
            return [compare.failed("Holistic", side.name, info)]
    a, b, o = np.load(hx), np.load(ha), np.load(ho)
    rows = [compare.pixels(f"OpenCV decode, {video.name}", a["pixels"], b["pixels"])]
    rows.append(compare.keypoints("Holistic 1662 vectors, same pixels", a["vectors"], b["vectors"], o["vectors"]))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="pi-check", description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=rootfs.default_cache(),
                    help="where the arm64 root and the aarch64 wheels are kept (default %(default)s)")
    ap.add_argument("--video", type=Path, default=SHARED / "videos" / "hello.mp4")
    ap.add_argument("--frames", type=int, default=3, help="video frames for Holistic (default 3)")
    ap.add_argument("--report", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        import signd.daemon

        here = Path(signd.daemon.__file__).resolve()
        if PROJECT not in here.parents:
            raise CheckError(f"{sys.executable} imports signd from {here.parent}, not this checkout "
                             f"{PROJECT}: run pi-check with this checkout's venv")
        rootfs.ensure_tools()
        root = rootfs.build_root(args.cache)
        rootfs.write_cpuinfo(root)
        deps = wheels.install_dependencies(args.cache, wheels.runtime_requirements(PROJECT), wheels.platform_tags())
        old = wheels.install_old_litert(args.cache)
        site = wheels.install_project(args.cache, PROJECT)
        py = rootfs.python_cmd(root)
        log(f"emulated python: {rootfs.python_version(py)}, CPU {rootfs.CPU}")
    except CheckError as exc:
        print(f"pi-check: error: {exc}", file=sys.stderr)
        return 1
    x86 = Side("x86_64", [sys.executable])
    arm = Side("aarch64", py, f"{site}{os.pathsep}{deps}")
    arm_old = Side("aarch64 litert 1.4.0", py, os.pathsep.join(map(str, (site, old, deps))))
    versions = wheels.installed_versions(deps, ["mediapipe", "numpy", "protobuf", "ai-edge-litert",
                                                "opencv-contrib-python", "paho-mqtt"])
    with tempfile.TemporaryDirectory(prefix="signd-pi-check-") as tmp:
        work = Path(tmp)
        rows = [check_version(x86, arm)]
        rows += check_demo(x86, [arm, arm_old], work)
        rows += check_convert(x86, [arm, arm_old], work)
        rows += check_holistic(x86, arm, work, args.video, args.frames)
    minutes = (time.monotonic() - t0) / 60
    print(compare.table(rows, f"aarch64 (qemu {rootfs.CPU}, Python {rootfs.python_version(py).split()[0]})"))
    print("\naarch64 wheels: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    emulated = sum(arm.seconds.values()) + sum(arm_old.seconds.values())
    print(f"time: {minutes:.1f} min in all; steps on x86_64 {sum(x86.seconds.values()):.0f} s, "
          f"under emulation {emulated:.0f} s; arm64 root and wheels cached in {args.cache}")
    bad = [r for r in rows if r.ok is False]
    skipped = sum(r.ok is None for r in rows)
    if bad:
        kinds = ", ".join(f"{sum(r.result == k for r in bad)} {k}" for k in ("MISMATCH", "ERROR") if any(r.result == k for r in bad))
        summary = f"{len(bad)} of {len(rows)} checks failed ({kinds})"
    else:
        summary = f"all {len(rows) - skipped} checks match"
    print(f"pi-check: {summary}" + (f", {skipped} skipped" if skipped else ""))
    if args.report:
        args.report.write_text(json.dumps({"rows": [r.to_dict() for r in rows], "minutes": round(minutes, 2),
                                           "seconds": {s.name: s.seconds for s in (x86, arm, arm_old)},
                                           "aarch64_wheels": versions}, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
