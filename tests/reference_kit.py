"""The events `signd run` prints with the shipped model, and a way to compare.

`tests/data/reference-events.json` was first written by `python tests/reference_kit.py --write`
on commit 013e0d7, before the daemon and the evaluations shared one `Recognizer` (issue 20: a
refactor that keeps behaviour gives the same labels, frames, scores, top probabilities,
sentences and sequence numbers on every source listed here; time stamps and latencies are left
out, they differ from run to run). A new shipped model decides differently by design, so it is
re-recorded with the model (issue 18: the nine-sign model); between models it guards the
runtime against unintended change.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "data" / "reference-events.json"
KEPT = ("label", "frame", "score", "top", "sentence", "seq")


def sources(shared: Path) -> dict[str, list[str]]:
    """Name -> `signd run` arguments, for each source of the reference (paths relative to the
    shared data folder, so the file does not depend on where the checkout is)."""
    out = {"demo": ["--source", "demo"], "mujster.npz": ["--source", "signers/mujster.npz"]}
    for clip in sorted((shared / "videos").glob("*.mp4")):
        out[clip.name] = ["--source", f"videos/{clip.name}"]
    return out


def run_events(signd: list[str], args: list[str], shared: Path, timeout: float = 300) -> list[dict]:
    """The gesture events of one `signd run --fast` (paths resolved against `shared`)."""
    args = [str(shared / a) if i and args[i - 1] == "--source" and a != "demo" else a
            for i, a in enumerate(args)]
    proc = subprocess.run([*signd, "run", "--fast", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"signd run {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return [{k: e[k] for k in KEPT} for e in events]


if __name__ == "__main__":
    shared = Path(sys.argv[sys.argv.index("--shared") + 1]) if "--shared" in sys.argv else HERE.parents[1] / "shared" / "data"
    signd = [str(Path(sys.executable).parent / "signd")]
    ref = {name: run_events(signd, args, shared) for name, args in sources(shared).items()}
    if "--write" in sys.argv:
        REFERENCE.write_text(json.dumps(ref, indent=1) + "\n")
    for name, evs in ref.items():
        print(f"{name}: {[e['label'] for e in evs]}")
