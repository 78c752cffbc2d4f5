"""What pi-check calls a match between x86_64 and aarch64, one function per check, and the
summary table. Pure functions over the probes' outputs, so they are tested without emulation.

Tolerances and why:
- probabilities: 1e-3, the golden tolerance `signd run` itself applies to a model at load
  (runtimes and kernels differ in the last bits; a wrong model is off by far more);
- decoded pixels: 8 levels of 255. OpenCV's YUV->RGB conversion rounds differently in its x86
  and NEON code (a few levels here), which nobody can see;
- keypoints: 0.02 in MediaPipe's normalised coordinates (13 px across a 640 px frame), or
  more where x86 itself moves more between the two decodes of the same frame. A part found on
  one side only is a mismatch unless x86 too finds it on one decode and not on the other: the
  detection then sits on MediaPipe's threshold, and Holistic tracks from one frame to the next,
  so such a frame also moves the frames after it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

PROB_TOL = 1e-3
PIXEL_TOL = 8
KEYPOINT_TOL = 0.02

# The tutorial's 1662 layout (signd.daemon.layout.TUTORIAL_1662), by part.
PARTS_1662 = {"pose": slice(0, 132), "face": slice(132, 1536), "left hand": slice(1536, 1599),
              "right hand": slice(1599, 1662)}


@dataclass
class Row:
    check: str
    x86: str
    arm: str
    difference: str
    ok: bool | None  # None: skipped
    note: str = ""

    @property
    def result(self) -> str:
        if self.ok is None:
            return "skipped"
        if self.ok:
            return "ok"
        return "ERROR" if "error" in (self.x86, self.arm) else "MISMATCH"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"result": self.result}


def failed(check: str, side: str, message: str) -> Row:
    """A step that did not run to the end on `side` ("x86_64" or "aarch64")."""
    x86, arm = ("error", "not compared") if side == "x86_64" else ("ran", "error")
    return Row(check, x86, arm, f"{side}: {message}", False)


def skipped(check: str, reason: str) -> Row:
    return Row(check, "-", "-", reason, None)


def versions(check: str, x86: str, arm: str) -> Row:
    return Row(check, x86, arm, "identical" if x86 == arm else "differ", x86 == arm)


def events(check: str, x86: list[str], arm: list[str]) -> Row:
    """Gesture events: the same labels in the same order."""
    same = x86 == arm
    if same:
        diff = "same labels, same order"
    else:
        i = next((k for k, (a, b) in enumerate(zip(x86, arm, strict=False)) if a != b), min(len(x86), len(arm)))
        diff = f"differ from event {i + 1}: {x86[i:i + 3]} vs {arm[i:i + 3]}"
    return Row(check, f"{len(x86)} events", f"{len(arm)} events", diff, same, " ".join(x86))


def probabilities(check: str, x86: np.ndarray, arm: np.ndarray, what: str = "windows") -> Row:
    """Per-window probabilities: the same number of windows, same argmax, within PROB_TOL."""
    if x86.shape != arm.shape:
        return Row(check, f"{x86.shape}", f"{arm.shape}", "different shapes", False)
    if x86.size == 0:
        return Row(check, f"0 {what}", f"0 {what}", "nothing to compare", False)
    worst = float(np.max(np.abs(x86 - arm)))
    flips = int(np.sum(x86.argmax(-1) != arm.argmax(-1)))
    ok = worst <= PROB_TOL and flips == 0
    diff = f"max|dp| {worst:.2g}" + (f", argmax differs in {flips}" if flips else ", same argmax")
    return Row(check, f"{len(x86)} {what}", f"{len(arm)} {what}", diff, ok)


def pixels(check: str, x86: np.ndarray, arm: np.ndarray) -> Row:
    """The frames each side decoded from the same video."""
    shape = "x".join(str(v) for v in x86.shape[1:3][::-1])
    if x86.shape != arm.shape:
        return Row(check, f"{x86.shape}", f"{arm.shape}", "different sizes", False)
    d = np.abs(x86.astype(np.int16) - arm.astype(np.int16))
    worst = int(d.max()) if d.size else 0
    diff = f"max {worst} levels, mean {float(d.mean()):.2f}, {float(np.mean(d > 0)):.0%} of values differ"
    return Row(check, f"{len(x86)} x {shape}", f"{len(arm)} x {shape}", diff, worst <= PIXEL_TOL)


def _found(v: np.ndarray) -> dict[str, list[bool]]:
    return {p: [bool(row[s].any()) for row in v] for p, s in PARTS_1662.items()}


def _found_text(v: np.ndarray) -> str:
    """Frames in which each part was found, e.g. "pose 3 face 3 hands L1 R0 /3"."""
    f = {p: sum(found) for p, found in _found(v).items()}
    return f"pose {f['pose']} face {f['face']} hands L{f['left hand']} R{f['right hand']} /{len(v)}"


def keypoints(check: str, x86: np.ndarray, arm: np.ndarray, x86_other_decode: np.ndarray | None) -> Row:
    """Holistic vectors (N, 1662) of both sides on the same pixels. `x86_other_decode` is x86 on
    aarch64's decode of the same frames: how far x86 itself moves when the input changes by a
    few invisible levels. Per frame and part, aarch64 may differ from x86 by KEYPOINT_TOL or by
    that much, whichever is larger; it may find a part x86 misses (or the reverse) only where
    x86 itself finds it on one decode and not on the other (MediaPipe's threshold)."""
    if x86.shape != arm.shape:
        return Row(check, f"{x86.shape}", f"{arm.shape}", "different shapes", False)
    fx, fa = _found(x86), _found(arm)
    other = x86_other_decode
    fo = _found(other) if other is not None else None
    worst, bad, sensitive = 0.0, [], []
    for part, s in PARTS_1662.items():
        for i in range(len(x86)):
            where = f"{part} in frame {i}"
            if fx[part][i] != fa[part][i]:
                side = "x86_64" if fx[part][i] else "aarch64"
                if fo is not None and fo[part][i] != fx[part][i]:
                    sensitive.append(f"{where} found by {side} only, as x86_64 finds it on one decode only")
                else:
                    bad.append(f"{where} found by {side} only")
                continue
            if not fx[part][i]:
                continue
            d = float(np.max(np.abs(x86[i, s] - arm[i, s])))
            if d <= KEYPOINT_TOL:
                worst = max(worst, d)
                continue
            if fo is None or not fo[part][i]:
                if fo is not None:  # x86 lost the part on the other decode: it sits on the threshold
                    sensitive.append(f"{where} differs by {d:.2g}; x86_64 loses it on the other decode")
                else:
                    bad.append(f"{where} differs by {d:.2g}")
                continue
            own = float(np.max(np.abs(x86[i, s] - other[i, s])))
            if d <= own:
                sensitive.append(f"{where} differs by {d:.2g}, x86_64 by {own:.2g} between decodes")
            else:
                bad.append(f"{where} differs by {d:.2g} (x86_64 between decodes: {own:.2g})")
    diff = f"max|d| {worst:.2g}"
    if sensitive:
        diff += f" ({len(sensitive)} frame-part{'s' if len(sensitive) > 1 else ''} on MediaPipe's threshold aside)"
    if bad:
        diff += "; " + "; ".join(bad)
    note = "; ".join(sensitive)
    return Row(check, _found_text(x86), _found_text(arm), diff, not bad, note)


def table(rows: list[Row], arm_title: str) -> str:
    heads = ("check", "x86_64", arm_title, "difference", "result")
    cells = [(r.check, r.x86, r.arm, r.difference, r.result) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    line = "  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)) for cell in cells]
    notes = [f"  {r.check}: {r.note}" for r in rows if r.note]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)
