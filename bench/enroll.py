"""Custom signs on the shared recordings: enroll from 10 examples of one person, then count.

For every sign outside the model's vocabulary that at least three people recorded (13 or more
sequences each), and each such person: 10 of their sequences (drawn with a fixed seed) are
enrolled; the background (the projection distances are taken in, and the bank that sets the
threshold) is learnt from the *other half* of the people (alternate names), so that the figures
are on people the background never saw:
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
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from signd.daemon.classifier import Classifier
from signd.daemon.config import default_model_path
from signd.daemon.custom import descriptor
from signd.daemon.custom.background import background_of
from signd.daemon.custom.matcher import CustomMatcher, fit
from signd.daemon.custom.store import CustomSigns
from signd.daemon.layout import MIN_HAND_FRAMES, POSE_HANDS_258
from signd.models.dataset import load_signers

REST = ("blank",)
NOT_SIGNS = ("blank", "other")


def simulate(data: Path, examples: int, seed: int) -> dict:
    clf = Classifier.load(default_model_path())
    own = clf.model_labels
    signers = load_signers(sorted(data.glob("*.npz")), POSE_HANDS_258)
    frames = np.concatenate([s.X for s in signers])
    lab_of = np.array([lab for s in signers for lab in s.labels])
    who = np.array([s.name for s in signers for _ in s.labels])
    keep = POSE_HANDS_258.hand_frames(frames) >= MIN_HAND_FRAMES
    frames, lab_of, who = frames[keep], lab_of[keep], who[keep]
    desc = descriptor.describe(frames, POSE_HANDS_258)
    probs = np.stack([clf.model.predict(clf.inputs(x, POSE_HANDS_258)) for x in frames])
    names = sorted(set(who))
    half = {n: i % 2 for i, n in enumerate(names)}
    side = np.array([half[p] for p in who])
    signers_of: dict[str, set[str]] = defaultdict(set)
    for p, lab in zip(who, lab_of, strict=True):
        signers_of[lab].add(p)
    nine = np.isin(lab_of, [lab for lab in own if lab not in NOT_SIGNS])
    # Each half's background (projection and bank) is learnt from that half alone.
    backgrounds = [background_of(desc[side == h], lab_of[side == h], seed=seed) for h in (0, 1)]
    rng = np.random.default_rng(seed)
    rows = []
    for sign in sorted(lab for lab, ps in signers_of.items() if lab not in own and len(ps) >= 3):
        for person in sorted(signers_of[sign]):
            mine = np.flatnonzero((who == person) & (sign == lab_of))
            if len(mine) < examples + 3:
                continue
            ex = rng.choice(mine, examples, replace=False)
            rest = np.setdiff1d(mine, ex)
            bank_half = 1 - half[person]
            bg = backgrounds[bank_half]
            t0 = time.perf_counter()
            cs = fit(sign, desc[ex], bg)
            fit_s = time.perf_counter() - t0
            m = CustomMatcher(CustomSigns([cs]), own, bg.project, NOT_SIGNS)
            q = m.apply_many(probs, desc)
            fires = q[:, -1] >= 0.8
            evaluated = (side != bank_half) | (who == person)
            else_ = evaluated & (sign != lab_of)
            others = (sign == lab_of) & (person != who)
            n9 = evaluated & nine
            truth = np.array([own.index(lab) if lab in own else -1 for lab in lab_of[n9]])
            before = float((probs[n9].argmax(1) == truth).mean())
            after = float((q[n9].argmax(1) == truth).mean())
            # What gives events: the right sign at the smoother's threshold (0.8).
            sure_before = float((probs[n9][np.arange(len(truth)), truth] >= 0.8).mean())
            sure_after = float((q[n9][np.arange(len(truth)), truth] >= 0.8).mean())
            kinds = {k: float(fires[else_ & sel].mean()) for k, sel in
                     (("nine", nine), ("rest", np.isin(lab_of, REST)), ("other", ~nine & ~np.isin(lab_of, REST)))}
            rows.append({"sign": sign, "person": person, "recall_own": float(fires[rest].mean()),
                         "own_tested": int(len(rest)), "recall_others": float(fires[others].mean()),
                         "fires_else": float(fires[else_].mean()), "fires_by_kind": kinds,
                         "nine_before": before, "nine_after": after,
                         "nine_sure_before": sure_before, "nine_sure_after": sure_after, "fit_s": fit_s})
    adapt = _adaptations(clf, desc, probs, lab_of, who, side, backgrounds, examples, rng)
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
    return {"summary": summary, "pairs": rows, "adapt": adapt}


# The two-form signs of docs/models.md: people whose way of a built-in sign the model hears as
# another sign.
ADAPT_CASES = (("no", "g4cio"), ("no", "shreebandal"), ("no", "ad-codex"), ("please", "himadrir"),
               ("sorry", "shivanagalla"))


def _adaptations(clf, desc, probs, lab_of, who, side, backgrounds, examples, rng) -> list[dict]:
    """`--adapt` on the two-form signs: the person's other sequences of the sign, right at 0.8
    before and after; how often anyone else's sequence of another sign newly gets it."""
    own = clf.model_labels
    out = []
    for sign, person in ADAPT_CASES:
        mine = np.flatnonzero((who == person) & (lab_of == sign))
        if len(mine) < examples + 3:
            continue
        ex = rng.choice(mine, examples, replace=False)
        rest = np.setdiff1d(mine, ex)
        bank_half = 1 - side[who == person][0]
        bg = backgrounds[bank_half]
        m = CustomMatcher(CustomSigns([fit(sign, desc[ex], bg, adapts=True)]), own, bg.project, NOT_SIGNS)
        q = m.apply_many(probs, desc)
        k = own.index(sign)
        evaluated = (side != bank_half) | (who == person)
        else_ = evaluated & (lab_of != sign)
        out.append({"sign": sign, "person": person, "tested": int(len(rest)),
                    "right_before": float((probs[rest, k] >= 0.8).mean()),
                    "right_after": float((q[rest, k] >= 0.8).mean()),
                    "newly_fires_else": float(((q[else_, k] >= 0.8) & (probs[else_, k] < 0.8)).mean())})
    return out


# VmHWM, not ru_maxrss: a child's ru_maxrss starts from its parent's size at fork, exec or not.
_PEAK_RSS = ("import sys; from signd.daemon.cli import main; rc = main(sys.argv[1:]); "
             "hwm = [x for x in open('/proc/self/status') if x.startswith('VmHWM:')][0].split()[1]; "
             "print('PEAK_RSS_KB', hwm, file=sys.stderr); sys.exit(rc)")


def _peak_rss_mb(signs: str, folder: Path, rounds: int = 3) -> float:
    """Peak RSS (MB) of a real `signd run` on the demo with `signs` as its custom signs."""
    import subprocess
    import sys

    cfg = folder / "signd.toml"
    cfg.write_text(f"[model]\ncustom_signs = {json.dumps(signs)}\n")
    out = subprocess.run([sys.executable, "-c", _PEAK_RSS, "run", "--config", str(cfg), "--source", "demo",
                          "--fast", "--repeat", str(rounds)], capture_output=True, text=True, check=True)
    kb = next(line.split()[1] for line in out.stderr.splitlines() if line.startswith("PEAK_RSS_KB"))
    return int(kb) / 1024


def _paced(video: Path, signs: str, rounds: int) -> dict[str, dict[str, float]]:
    """A real clip at its own frame rate through the whole daemon (MediaPipe included), without
    and with `signs`, alternating rounds: p50 of each window's cost after MediaPipe (keypoints
    ready -> window classified and smoothed) and of capture -> event."""
    from dataclasses import replace

    from signd.daemon.bench import NO_CUSTOM_SIGNS, DevNullPublisher
    from signd.daemon.config import load_config
    from signd.daemon.service import Service

    base = load_config(None, {"source": {"uri": str(video)}})
    got: dict[str, dict[str, list[float]]] = {}
    for _ in range(rounds):
        for name, path in (("none", NO_CUSTOM_SIGNS), ("20 custom signs", signs)):
            service = Service(replace(base, model=replace(base.model, custom_signs=path)), sinks=[DevNullPublisher()])
            service.run()
            assert service.pipeline is not None
            t = service.pipeline.stats.snapshot()["timings_ms"]
            for stage in ("post_extraction", "latency"):
                got.setdefault(name, {}).setdefault(stage, []).append(t[stage].get("p50", float("nan")))
    return {name: {f"{stage}_p50_ms": float(np.median(v)) for stage, v in stages.items()}
            for name, stages in got.items()}


def cost(data: Path, runs: int = 2000, rounds: int = 3, video: Path | None = None) -> dict:
    """Per-window latency and memory without and with 20 custom signs, side by side."""
    import tempfile

    from signd.daemon.bench import NO_CUSTOM_SIGNS, bench
    from signd.daemon.config import load_config
    from signd.daemon.custom.background import load_background
    from signd.daemon.custom.store import save_signs

    bg = load_background()
    clf = Classifier.load(default_model_path())
    s = load_signers([sorted(data.glob("*.npz"))[0]], POSE_HANDS_258)[0]
    rng = np.random.default_rng(0)
    signs = CustomSigns([fit(f"sign{i}", descriptor.describe(s.X[rng.choice(len(s.X), 10, replace=False)], POSE_HANDS_258), bg)
                         for i in range(20)])
    matcher = CustomMatcher(signs, clf.model_labels, bg.project, NOT_SIGNS)
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
    with tempfile.TemporaryDirectory() as tmp:
        path = str(save_signs(Path(tmp) / "signs.json", signs))
        report = bench(load_config(None, {"source": {"uri": "demo", "repeat": 3}}), [None], rounds=rounds,
                       baseline=False, custom_signs=path)
        daemon = {m["model"].rsplit("/", 1)[-1]: {"inference_p50_ms": m["timings_ms"]["inference"]["p50"],
                                                  "post_extraction_p50_ms": m["timings_ms"]["post_extraction"]["p50"],
                                                  "fps_median": m["fps_median"], "events": m["events"]}
                  for m in report["models"]}
        paced = _paced(video, path, rounds) if video is not None and video.exists() else None
        rss: dict[str, list[float]] = {"none": [], "20 custom signs": []}
        for _ in range(rounds):
            rss["none"].append(_peak_rss_mb(NO_CUSTOM_SIGNS, Path(tmp)))
            rss["20 custom signs"].append(_peak_rss_mb(path, Path(tmp)))
    peak = {k: float(np.median(v)) for k, v in rss.items()}
    return {"classifier_p50_ms": p50, "classifier_ratio": p50["with 20 custom signs"] / p50["model only"],
            "daemon_on_demo": daemon, "daemon_on_a_clip_at_its_own_rate": paced, "signd_run_peak_rss_mb": peak,
            "rss_growth_mb_20_signs": peak["20 custom signs"] - peak["none"]}


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
    for x in out["adapt"]:
        print(f"--adapt {x['sign']:7s} {x['person']:14s} their other {x['tested']:3d}: right at 0.8 "
              f"{x['right_before']:.2f} -> {x['right_after']:.2f}; newly on everything else {100 * x['newly_fires_else']:.2f}%")
    if args.cost:
        out["cost"] = cost(args.data, video=args.data.parent / "videos" / "sharkawy-demo.mp4")
        print(json.dumps(out["cost"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
