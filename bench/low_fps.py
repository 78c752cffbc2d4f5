"""What a slow camera does to recognition, and what a window in seconds gives back.

The embedded demo (30 fps, three signs with rest between) is thinned to what a slower camera
would deliver (every k-th frame, times kept), then run through the runtime's own window,
shipped model and smoother, once with the tutorial's window of the last 30 frames and once
with windows covering a fixed time (`[window] seconds`). Prints the signs found per rate.

    python bench/low_fps.py [--model M] [--rates 30,15,10,5,3]
"""

from __future__ import annotations

import argparse

import numpy as np

from signd.daemon.classifier import Classifier
from signd.daemon.config import SmoothingOverrides, default_model_path, smoothing_for
from signd.daemon.layout import layout_named
from signd.daemon.smoothing import Smoother
from signd.daemon.sources.replay import demo_path
from signd.daemon.window import TimedWindowBuffer, WindowBuffer


def signs_found(frames: np.ndarray, times: np.ndarray, layout, c: Classifier, span: float | None) -> list[str]:
    w = WindowBuffer(c.window, layout.size) if span is None else TimedWindowBuffer(c.window, layout.size, span)
    s = Smoother(c.labels, smoothing_for(c.manifest.extra, SmoothingOverrides()))
    out = []
    for i, (kp, t) in enumerate(zip(frames, times, strict=True)):
        if w.absent_too_long(bool(layout.hands(kp)), t):
            if d := s.end_segment():
                out.append(d.label)
            w.reset()
        if (win := w.push(kp, i, t, t)) is not None and (d := s.update(c.predict(win.frames, layout), i, t, t)):
            out.append(d.label)
    if d := s.end_segment():
        out.append(d.label)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(default_model_path()))
    ap.add_argument("--rates", default="30,15,10,5,3")
    ap.add_argument("--spans", default="1.0,1.5")
    args = ap.parse_args()
    d = np.load(demo_path())
    frames, layout, fps = d["frames"].astype(np.float32), layout_named(str(d["layout"])), float(d["fps"])
    truth = [str(x) for x in d["signs"]]
    c = Classifier.load(args.model)
    spans = [None] + [float(x) for x in args.spans.split(",")]
    print(f"demo: {', '.join(truth)} at {fps:g} fps; signs found per camera rate")
    print(f"{'fps':>5}  " + "  ".join(f"{('30 frames' if s is None else f'{s:g} s'):<28}" for s in spans))
    for rate in (float(r) for r in args.rates.split(",")):
        idx = np.unique(np.round(np.arange(0, len(frames), fps / rate)).astype(int))
        idx = idx[idx < len(frames)]
        found = [signs_found(frames[idx], idx / fps, layout, c, s) for s in spans]
        print(f"{rate:>5g}  " + "  ".join(f"{(','.join(f) or '-'):<28}" for f in found))


if __name__ == "__main__":
    main()
