"""Custom signs on the shared recordings: enroll from 10 examples of one person, then count.

For every sign outside the model's vocabulary that at least three people recorded (13 or more
sequences each), and each such person: 10 of their sequences (drawn with a fixed seed) are
enrolled; the background that sets the threshold is built from the *other half* of the people
(alternate names), so that the figures are on people the background never saw:
  - recall on that person's remaining sequences of the sign, and on other people's;
  - the share of everything else (the nine signs, other signs, rest) of the people outside the
    background in which the custom sign takes the window (score >= 0.8);
  - the nine signs' accuracy (argmax over the model's labels, with the custom sign's column)
    before and after, on those people;
  - the time `fit` takes.
With --cost: per-window latency of the classifier without and with 20 custom signs, side by
side in this process, and the growth of the process's memory for 20 signs.

    python bench/enroll.py --data ../shared/data/signers [--examples 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from signd.daemon.classifier import Classifier
from signd.daemon.config import default_model_path
from signd.daemon.custom import descriptor
from signd.daemon.custom.background import MIN_HAND_FRAMES, Background
from signd.daemon.custom.matcher import CustomMatcher, fit
from signd.daemon.custom.store import CustomSigns
from signd.daemon.layout import POSE_HANDS_258
from signd.models.dataset import load_signers

REST = ("blank",)
NOT_SIGNS = ("blank", "other")


def _background(D: np.ndarray, labels: np.ndarray, rows: np.ndarray, scale: np.ndarray, rng) -> Background:
    pick = rng.choice(rows, min(1500, len(rows)), replace=False)
    return Background(scale, D[pick], labels[pick])


def simulate(data: Path, examples: int, seed: int) -> dict:
    clf = Classifier.load(default_model_path())
    own = clf.model_labels
    signers = load_signers(sorted(data.glob("*.npz")), POSE_HANDS_258)
    X = np.concatenate([s.X for s in signers])
    L = np.array([lab for s in signers for lab in s.labels])
    P = np.array([s.name for s in signers for _ in s.labels])
    keep = descriptor.hand_frames(X, POSE_HANDS_258) >= MIN_HAND_FRAMES
    X, L, P = X[keep], L[keep], P[keep]
    D = descriptor.describe(X, POSE_HANDS_258)
    probs = np.stack([clf.model.predict(clf.inputs(x, POSE_HANDS_258)) for x in X])
    scale = D.std(axis=0) + 1e-3
    names = sorted(set(P))
    half = {n: i % 2 for i, n in enumerate(names)}
    H = np.array([half[p] for p in P])
    signers_of: dict[str, set[str]] = defaultdict(set)
    for p, lab in zip(P, L, strict=True):
        signers_of[lab].add(p)
    nine = np.isin(L, [lab for lab in own if lab not in NOT_SIGNS])
    rng = np.random.default_rng(seed)
    rows = []
    for sign in sorted(lab for lab, ps in signers_of.items() if lab not in own and len(ps) >= 3):
        for person in sorted(signers_of[sign]):
            mine = np.flatnonzero((person == P) & (sign == L))
            if len(mine) < examples + 3:
                continue
            ex = rng.choice(mine, examples, replace=False)
            rest = np.setdiff1d(mine, ex)
            bank_half = 1 - half[person]
            bg = _background(D, L, np.flatnonzero((bank_half == H) & (person != P)), scale, rng)
            t0 = time.perf_counter()
            cs = fit(sign, D[ex], bg)
            fit_s = time.perf_counter() - t0
            m = CustomMatcher(CustomSigns([cs]), own, scale, NOT_SIGNS)
            q = m.apply_many(probs, D)
            fires = q[:, -1] >= 0.8
            evaluated = (bank_half != H) | (person == P)
            else_ = evaluated & (sign != L)
            others = (sign == L) & (person != P)
            n9 = evaluated & nine
            truth = np.array([own.index(lab) if lab in own else -1 for lab in L[n9]])
            before = float((probs[n9].argmax(1) == truth).mean())
            after = float((q[n9].argmax(1) == truth).mean())
            # What gives events: the right sign at the smoother's threshold (0.8).
            sure_before = float((probs[n9][np.arange(len(truth)), truth] >= 0.8).mean())
            sure_after = float((q[n9][np.arange(len(truth)), truth] >= 0.8).mean())
            kinds = {k: float(fires[else_ & sel].mean()) for k, sel in
                     (("nine", nine), ("rest", np.isin(L, REST)), ("other", ~nine & ~np.isin(L, REST)))}
            rows.append({"sign": sign, "person": person, "recall_own": float(fires[rest].mean()),
                         "own_tested": int(len(rest)), "recall_others": float(fires[others].mean()),
                         "fires_else": float(fires[else_].mean()), "fires_by_kind": kinds,
                         "nine_before": before, "nine_after": after,
                         "nine_sure_before": sure_before, "nine_sure_after": sure_after, "fit_s": fit_s})
    r = rows
    summary = {
        "pairs": len(r), "examples": examples,
        "recall_own_mean": float(np.mean([x["recall_own"] for x in r])),
        "recall_own_min": float(np.min([x["recall_own"] for x in r])),
        "pairs_recall_own_ge_090": sum(x["recall_own"] >= 0.9 for x in r),
        "recall_others_mean": float(np.mean([x["recall_others"] for x in r])),
        "fires_else_mean": float(np.mean([x["fires_else"] for x in r])),
        "fires_else_max": float(np.max([x["fires_else"] for x in r])),
        "pairs_fires_else_le_001": sum(x["fires_else"] <= 0.01 for x in r),
        "nine_accuracy_change_points_max": float(100 * np.max([abs(x["nine_after"] - x["nine_before"]) for x in r])),
        "nine_sure_change_points_max": float(100 * np.max([abs(x["nine_sure_after"] - x["nine_sure_before"]) for x in r])),
        "fit_seconds_max": float(np.max([x["fit_s"] for x in r])),
    }
    return {"summary": summary, "pairs": rows}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cost(data: Path, runs: int = 2000) -> dict:
    from signd.daemon.custom.background import load_background

    bg = load_background()
    clf = Classifier.load(default_model_path())
    s = load_signers([sorted(data.glob("*.npz"))[0]], POSE_HANDS_258)[0]
    rng = np.random.default_rng(0)
    rss0 = _rss_mb()
    signs = CustomSigns([fit(f"sign{i}", descriptor.describe(s.X[rng.choice(len(s.X), 10, replace=False)], POSE_HANDS_258), bg)
                         for i in range(20)])
    matcher = CustomMatcher(signs, clf.model_labels, bg.scale, NOT_SIGNS)
    rss1 = _rss_mb()
    windows = s.X[rng.integers(0, len(s.X), runs)]
    times: dict[str, list[float]] = {"model only": [], "with 20 custom signs": []}
    for i, w in enumerate(windows):  # interleaved, so both meet the same machine
        for name, m in (("model only", None), ("with 20 custom signs", matcher)) if i % 2 else \
                (("with 20 custom signs", matcher), ("model only", None)):
            clf.use_custom(m)
            t0 = time.perf_counter()
            clf.predict(w, POSE_HANDS_258)
            times[name].append((time.perf_counter() - t0) * 1e3)
    p50 = {k: float(np.median(v)) for k, v in times.items()}
    return {"p50_ms": p50, "ratio": p50["with 20 custom signs"] / p50["model only"],
            "rss_growth_mb_20_signs": rss1 - rss0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/signers"))
    ap.add_argument("--examples", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cost", action="store_true", help="also latency and memory, side by side")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    out = simulate(args.data, args.examples, args.seed)
    for x in out["pairs"]:
        print(f"{x['sign']:8s} {x['person']:20s} own {x['recall_own']:.2f} (of {x['own_tested']}) "
              f"others {x['recall_others']:.2f}  fires on everything else {100 * x['fires_else']:.2f}%  "
              f"nine {100 * x['nine_before']:.2f} -> {100 * x['nine_after']:.2f}")
    print(json.dumps(out["summary"], indent=1))
    if args.cost:
        out["cost"] = cost(args.data)
        print(json.dumps(out["cost"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
