"""What a slow camera does to recognition, and what a window in seconds gives back.

A 30 fps keypoint stream is thinned to what a slower camera would deliver (every k-th frame,
times kept), then run through the runtime's own window, model and smoother, once with the
tutorial's window of the last 30 frames and once with windows covering a fixed time
(`[window] seconds`). The stream is the embedded demo, or with --signer a recording's clips
(the model's classes only, shuffled, at most --clips) each after one second of rest (that
signer's body with the hands gone). Prints the signs found, in order, per rate.

    python bench/low_fps.py [--model M] [--rates 30,15,10,5,3] [--signer ilkerdemir.npz]
"""

from __future__ import annotations

import argparse

import numpy as np

from signd.daemon.classifier import Classifier
from signd.daemon.config import WindowConfig, default_model_path
from signd.daemon.keypoints import Keypoints
from signd.daemon.layout import Layout, layout_named
from signd.daemon.recognizer import Recognition, Recognizer
from signd.daemon.smoothing import SmoothingOverrides
from signd.daemon.sources.replay import demo_path


def signs_found(frames: np.ndarray, times: np.ndarray, layout: Layout, c: Classifier,
                span: float | None) -> list[str]:
    """The runtime's recognizer over frames taken at `times`: the model's own settings, but
    the window in frames (`span` None) or over `span` seconds."""
    rec = Recognition.resolve(WindowConfig(seconds=span or 0.0), SmoothingOverrides(), c.manifest.runtime)
    recognizer = Recognizer(c.labels, c.window, layout, rec, lambda w: c.predict(w, layout))
    hands = layout.hands(frames)
    stream = (Keypoints(kp, i, t, t, bool(h)) for i, (kp, t, h) in enumerate(zip(frames, times, hands, strict=True)))
    return [d.label for d in recognizer.run(stream)]


def signer_stream(path: str, labels: list[str], clips: int) -> tuple[np.ndarray, list[str], object]:
    from signd.daemon.recordings import load_recording

    rec = load_recording(path)
    keep = [i for i in range(len(rec.y)) if rec.label_of(i) in labels]
    np.random.default_rng(0).shuffle(keep)
    parts, truth = [], []
    for i in keep[:clips]:
        rest = rec.X[i, :1].repeat(rec.X.shape[1], 0).copy()
        rest[:, rec.layout.left_hand] = 0
        rest[:, rec.layout.right_hand] = 0
        parts += [rest, rec.X[i]]
        truth.append(rec.label_of(i))
    return np.concatenate(parts), truth, rec.layout


def in_order(truth: list[str], found: list[str]) -> int:
    """Signs found in the right order: the longest common subsequence."""
    L = [[0] * (len(found) + 1) for _ in range(len(truth) + 1)]
    for a, t in enumerate(truth):
        for b, f in enumerate(found):
            L[a + 1][b + 1] = L[a][b] + 1 if t == f else max(L[a][b + 1], L[a + 1][b])
    return L[-1][-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(default_model_path()))
    ap.add_argument("--rates", default="30,15,10,5,3")
    ap.add_argument("--spans", default="1.0,1.5")
    ap.add_argument("--signer", help="a signer .npz or MP_Data folder instead of the demo")
    ap.add_argument("--clips", type=int, default=20)
    args = ap.parse_args()
    c = Classifier.load(args.model)
    fps = 30.0
    if args.signer:
        frames, truth, layout = signer_stream(args.signer, c.labels, args.clips)
        name = f"{args.signer}: {len(truth)} clips"
    else:
        d = np.load(demo_path())
        frames, layout, fps = d["frames"].astype(np.float32), layout_named(str(d["layout"])), float(d["fps"])
        truth = [str(x) for x in d["signs"]]
        name = f"demo: {', '.join(truth)}"
    spans = [None] + [float(x) for x in args.spans.split(",")]
    print(f"{name} at {fps:g} fps; signs found in order (events) per camera rate")
    print(f"{'fps':>5}  " + "  ".join(f"{('30 frames' if s is None else f'{s:g} s'):<28}" for s in spans))
    for rate in (float(r) for r in args.rates.split(",")):
        idx = np.unique(np.round(np.arange(0, len(frames), fps / rate)).astype(int))
        idx = idx[idx < len(frames)]
        found = [signs_found(frames[idx], idx / fps, layout, c, s) for s in spans]
        print(f"{rate:>5g}  " + "  ".join(f"{f'{in_order(truth, f)}/{len(truth)} ({len(f)})':<28}" for f in found))


if __name__ == "__main__":
    main()
