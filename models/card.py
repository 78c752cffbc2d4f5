"""The model card (`models/<name>/README.md`), written from the model's manifest, the stored
evaluation (`evaluation.json`, from `signd evaluate --cv ... --card DIR` and `signd evaluate
--videos ... --card DIR`) and a latency
benchmark run here, side by side on every installed runtime."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from signd.daemon.errors import InputError
from signd.daemon.smoothing import SmoothingConfig
from signd.models.manifest import read_manifest

from .crossval import figure_text as _f
from .crossval import per_person, per_person_text
from .features import compute_features


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a shipped file is for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def benchmark(model_path: Path, runs: int = 400) -> dict[str, Any]:
    """p50/p90 per window (ms, one thread) of the model on each installed runtime, and of the
    feature function, measured one after the other in this process."""
    from signd.daemon.errors import SigndError
    from signd.daemon.interpreter import RUNTIME_NAMES, TFLiteModel, load_runtime

    manifest = read_manifest(model_path)
    assert manifest is not None
    rng = np.random.default_rng(0)
    from signd.daemon.layout import layout_named

    lay = layout_named(manifest.layout)
    frames = rng.uniform(0.2, 0.8, (manifest.window, lay.size)).astype(np.float32)
    x = compute_features(frames, lay, manifest.features)
    out: dict[str, Any] = {"runs": runs, "machine": platform.machine(), "runtimes": {}}
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        compute_features(frames, lay, manifest.features)
        t.append((time.perf_counter() - t0) * 1e3)
    out["features_ms"] = {"p50": float(np.percentile(t, 50)), "p90": float(np.percentile(t, 90))}
    for name in RUNTIME_NAMES:
        if name == "tensorflow":
            continue
        try:
            m = TFLiteModel(model_path, num_threads=1, runtime=load_runtime(name))
        except SigndError as exc:
            out["runtimes"][name] = {"loads": False, "error": str(exc)}
            continue
        m.warm_up()
        t = []
        for _ in range(runs):
            t0 = time.perf_counter()
            m.predict(x)
            t.append((time.perf_counter() - t0) * 1e3)
        out["runtimes"][name] = {"loads": True, "version": m.runtime.version,
                                 "p50_ms": float(np.percentile(t, 50)), "p90_ms": float(np.percentile(t, 90))}
    # What the daemon pays per window: keypoint frames in, probabilities out.
    from signd.daemon.classifier import Classifier

    clf = Classifier.load(model_path)
    clf.model.warm_up()
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        clf.predict(frames, lay)
        t.append((time.perf_counter() - t0) * 1e3)
    out["predict_ms"] = {"p50": float(np.percentile(t, 50)), "p90": float(np.percentile(t, 90)),
                         "runtime": clf.model.runtime.name}
    return out


def render(name: str, manifest: Any, size: int, evaluation: dict[str, Any], bench: dict[str, Any]) -> str:
    """The card's markdown."""
    train = manifest.extra.get("training", {})
    quiet = manifest.runtime.smoothing.apply(SmoothingConfig()).rest_labels
    signs = [x for x in manifest.labels if x not in quiet]
    L = [f"# `{name}`: signd's default sign model", ""]
    L += [
        f"Recognises **{', '.join(signs)}**. Two more outputs never fire an event: `blank` (rest: "
        "nobody signing) and `other` (a real sign that is not one of these nine). Made for people "
        f"it has never seen: trained on all {len(train.get('signers', []))} signers of "
        "`../shared/data/signers` (see its README); judged by grouped cross-validation by person, "
        "and on real video through the whole pipeline (below).",
        "",
        *_model_section(name, manifest, size, train),
        *_cv_section(evaluation.get("cv", {})),
        *_videos_section(evaluation.get("videos", {})),
        *_notes_section(evaluation),
        *_speed_section(manifest, bench),
        "## Rebuild", "", "```sh",
        "D=../shared/data/signers",
        "signd train $D/*.npz --vocabulary -o models/default --demo",
        "signd evaluate --cv default,tutorial-258 --cv-epochs tutorial-258=20 $D/*.npz --stream \\",
        "    --thresholds 0.6,0.7 --card models/default",
        "signd evaluate --videos ../shared/data/videos/MANIFEST.tsv --card models/default",
        "```", "",
    ]
    return "\n".join(L)


def _model_section(name: str, manifest: Any, size: int, train: dict[str, Any]) -> list[str]:
    return [
        "## Model", "",
        f"- file: `{name}.tflite`, {size / 1024:.1f} KiB ({size:,} bytes), {manifest.quantization} weights "
        f"(dequantized to float32 at load); input [1, {manifest.window}, {_dim(manifest)}] "
        f"(`{manifest.features}` features of `{manifest.layout}` keypoints), output "
        f"{len(manifest.labels)} probabilities in the order {', '.join(manifest.labels)}.",
        "- features (`signd.models.features`, the function the runtime calls on every window): "
        "the busier hand mirrored to one side; origin between the shoulders, shoulder width as "
        "unit; upper body points and visibilities; per hand: seen, wrist, palm normal, finger "
        "direction, finger stretch, the 20 landmarks relative to the wrist in hand-size units; "
        "velocities.",
        "- network (`signd.models.architectures.build_default`): standardise -> per-frame Dense "
        "-> mean and max over the window and each half -> Dense -> softmax, "
        f"{train.get('members', 3)} members, each trained with its own loss, averaged; builtin ops only, no recurrence. After "
        f"training, `blank` is lowered by {_f(train.get('rest_penalty'), 'g')} x the share of "
        "frames with a hand (rest means hands down or absent).",
        f"- training (`signd train`, seed {train.get('seed')}): the nine signs; every other real "
        "sign of the data (86 of them: letters, good, eat, i, you, ...) as `other`; recorded "
        f"`blank` and synthetic rest; {train.get('copies')} augmented copies of every sequence "
        f"(up to {train.get('rare_boost')}x for signs with few sequences), the signs' movements "
        "made with other hand shapes as `other`, "
        f"{_f(train.get('hold_fraction', 0.0), '.2f')} x (1 + copies) of the signs' sequences held "
        "still at one frame as `other` (a hand shape shown is not a sign; I-love-you left out); "
        "class-balanced, `other` weighing "
        f"{_f(train.get('other_weight', 1.0), 'g')} x one sign; {train.get('epochs')} epochs.",
        f"- how it is run (manifest `runtime`): `{json.dumps(manifest.runtime.to_dict())}`.", "",
    ]


def _cv_section(cv: dict[str, Any]) -> list[str]:
    if not cv:
        return []
    archs = list(cv["archs"])
    d = cv["archs"].get("default") or cv["archs"][archs[0]]
    L = [f"## Grouped {cv['k']}-fold cross-validation by person", "",
         f"Protocol (`signd.models.crossval`): the {len(cv['folds'])} signers sorted by name, the i-th "
         f"in fold i mod {cv['k']} (fixed, not chosen by result); for each fold every architecture "
         "is trained on the other folds' people, with the same seed, and scores the fold's "
         "people, whom it never saw. Accuracy per person is over the nine signs they have "
         "(argmax over all outputs: a sign taken for `blank` or `other` is an error). "
         "`tutorial-258` is the tutorial's LSTM on the same pose + hands keypoints, same folds, "
         "same labels, no augmentation.", "",
         "| person | fold | sequences | " + " | ".join(archs) + " |", "|---|---|---|" + "---|" * len(archs)]
    for i, p in enumerate(d["people"]):
        if not p["n_as_labelled"]:
            continue
        cells = " | ".join(_f(cv["archs"][a]["people"][i]["accuracy"]) for a in archs)
        L.append(f"| {p['signer']} | {p['fold'] + 1} | {p['n']} | {cells} |")
    for key, text in (("mean", "mean"), ("worst", "worst"), ("mean_as_labelled", "mean, set-aside counted as labelled"),
                      ("worst_as_labelled", "worst, set-aside counted as labelled")):
        L.append(f"| **{text}** | | | " + " | ".join(f"**{_f(cv['archs'][a][key])}**" for a in archs) + " |")
    L += ["", "Recall per sign (sequences of held-out people):", "",
          "| sign | sequences | " + " | ".join(archs) + " |", "|---|---|" + "---|" * len(archs)]
    for c in cv["vocabulary"]:
        L.append(f"| {c} | {d['recall'][c]['n']} | " + " | ".join(_f(cv['archs'][a]['recall'][c]['recall']) for a in archs) + " |")
    L += ["", "Signs outside the vocabulary, of held-out people (a vocabulary sign on top at or above "
          "the threshold would give an event):", ""]
    for a in archs:
        u = cv["archs"][a]["unknown"]
        L.append(f"- {a}: {u['fired']} of {u['sequences']} sequences ({_f(u['rate'])}) at threshold "
                 f"{cv['archs'][a]['threshold']:g}")
    if any(cv["archs"][a]["stream"] for a in archs):
        L += ["", "Stream: each held-out person's sequences back to back, 2 s of rest before each (their "
              "recorded `blank` where they have it, else their body with arms down and no hands), 30 "
              "fps, through the runtime's recognizer with the model's own settings:", "",
              "| architecture | event F1 | signs hit | missed | false events | false events per minute of rest "
              "| unknown signs with an event |", "|---|---|---|---|---|---|---|"]
        for a in archs:
            t = cv["archs"][a]["stream"].get("total")
            if t:
                L.append(f"| {a} | {_f(t['f1'])} | {t['hits']}/{t['signs']} | {t['misses']} | {t['false_events']} | "
                         f"{_f(t['rest_false_per_minute'], '.2f')} ({t['rest_false_events']} in "
                         f"{t['rest_seconds'] / 60:.1f} min) | {t['unknown_with_event']}/{t['unknown']} "
                         f"({_f(t['unknown_event_rate'])}) |")
        L += ["", "The same per person (each held-out person's own figures, then their mean):", ""]
        for a in archs:
            pp = per_person(cv["archs"][a])
            if "people" in pp:
                L.append(f"- {a}: {per_person_text(pp)}")
    L += ["", f"Confusion ({archs[0] if 'default' not in archs else 'default'}; rows true, columns "
          f"predicted; {', '.join(d['labels'])}): `{d['confusion']}`", "",
          "Most frequent confusions: " + ", ".join(f"{c['true']} -> {c['predicted']} ({c['n']})"
                                                    for c in d["top_confusions"][:10]) + ".", ""]
    aside = cv.get("set_aside", [])
    if aside:
        L += ["Set aside (kept out of training; in the table above counted both ways: out of the "
              "headline figure, and as labelled in the `as labelled` rows), each on evidence from the "
              "numbers:", ""]
        for a in aside:
            L.append(f"- {a['signer']} `{a['class']}` ({a['sequences']} sequences): {a['evidence']}.")
        L.append("")
    return L


def _videos_section(v: dict[str, Any]) -> list[str]:
    if not v:
        return []
    L = ["## Real video through the whole pipeline", "",
         "`signd evaluate --videos ../shared/data/videos/MANIFEST.tsv`: MediaPipe Holistic, the window, "
         "this model and the smoother, as `signd run --fast`:", "",
         "| clip | signs | events | verdict |", "|---|---|---|---|"]
    for c in v.get("clips", []):
        verdict = c.get("verdict", "")
        if c.get("distance") is not None and len(c.get("signs", [])) > 1:
            verdict += f" (edit distance {c['distance']})"
        L.append(f"| {c['file']} | {' '.join(c.get('signs', []))} | {' '.join(e['label'] for e in c.get('events', [])) or '-'} | {verdict} |")
    L.append("")
    return L


def _notes_section(evaluation: dict[str, Any]) -> list[str]:
    notes = evaluation.get("notes", [])
    return ["## Remaining failures and how the design was chosen", "", *[f"- {n}" for n in notes], ""] if notes else []


def _speed_section(manifest: Any, bench: dict[str, Any]) -> list[str]:
    conv = manifest.extra.get("convert", {})
    L = ["## Conversion, size and speed", "",
         f"- converted by `signd convert` for target {conv.get('target', '-')}: argmax agreement "
         f"with the Keras model {_f(conv.get('agreement'), '.2%') if conv.get('agreement') is not None else '-'} "
         f"on {conv.get('windows', '-')} windows; largest probability difference "
         f"{_f(conv.get('max_prob_diff'), '.2g')}.",
         "- verified runtimes (golden outputs within 1e-3): "
         + ", ".join(f"{r['name']} {r['version']}" for r in manifest.verified_runtimes) + ".",
         f"- latency per window, one thread, median of {bench.get('runs')} runs on this machine "
         f"({bench.get('machine')}), measured one after the other in one process:"]
    for rt, r in bench.get("runtimes", {}).items():
        if r.get("loads"):
            L.append(f"  - {rt} {r['version']}: p50 {r['p50_ms']:.3f} ms, p90 {r['p90_ms']:.3f} ms")
        else:
            L.append(f"  - {rt}: does not load ({r.get('error')})")
    fm = bench.get("features_ms", {})
    L.append(f"  - feature function (numpy): p50 {_f(fm.get('p50'))} ms, p90 {_f(fm.get('p90'))} ms")
    if pm := bench.get("predict_ms"):
        L.append(f"  - the whole window as the daemon classifies it (features + {pm['runtime']}): "
                 f"p50 {_f(pm.get('p50'))} ms, p90 {_f(pm.get('p90'))} ms")
    L.append("")
    return L


def _dim(manifest: Any) -> int:
    from .features import feature_dim

    return feature_dim(manifest.layout, manifest.features)


def write_card(model_dir: Path, evaluation: dict[str, Any] | None = None) -> Path:
    """Store `evaluation` (when given: {"cv": ...} or {"videos": ...}, each replacing its own
    part of what is stored) beside the model and rewrite the card."""
    model_dir = Path(model_dir)
    name = model_dir.name
    model = model_dir / f"{name}.tflite"
    manifest = read_manifest(model)
    if manifest is None or not model.exists():
        raise InputError(f"no model {model} with its manifest: train it first (signd train ... -o {model_dir})")
    ev_path = model_dir / "evaluation.json"
    stored = json.loads(ev_path.read_text()) if ev_path.exists() else {}
    if evaluation is not None:
        stored = {**stored, **evaluation}
        _atomic_write(ev_path, json.dumps(stored, indent=None, separators=(",", ":")) + "\n")
    evaluation = stored
    bench = benchmark(model)
    text = render(name, manifest, model.stat().st_size, evaluation, bench)
    card = model_dir / "README.md"
    _atomic_write(card, text)
    return card
