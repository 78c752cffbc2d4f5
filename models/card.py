"""The model card (`models/<name>/README.md`), written from the model's manifest, the stored
evaluation (`evaluation.json`, from `signd evaluate --loso ... --card DIR`) and a latency
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
from signd.models.manifest import read_manifest

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


def _f(v: Any, fmt: str = ".3f") -> str:
    return "-" if v is None or (isinstance(v, float) and v != v) else format(v, fmt)


def render(name: str, manifest: Any, size: int, evaluation: dict[str, Any], bench: dict[str, Any]) -> str:
    """The card's markdown."""
    extra = manifest.extra
    train = extra.get("training", {})
    conv = extra.get("convert", {})
    acc = evaluation.get("accuracy", {})
    archs = list(acc)
    L = [f"# `{name}`: signd's default sign model", ""]
    L += [
        f"Recognises **{', '.join(x for x in manifest.labels if x != 'blank')}**, plus `blank` (rest: "
        "nobody signing; it never fires an event). Made for people it has never seen: trained on "
        f"{len(train.get('signers', []))} signers ({', '.join(train.get('signers', []))}) of "
        "`../shared/data/signers` (see its README), tested on signers left out.",
        "",
        "## Model",
        "",
        f"- file: `{name}.tflite`, {size / 1024:.1f} KiB ({size:,} bytes), {manifest.quantization} weights "
        f"(float16 halves the file and dequantizes to float32 at load); input [1, {manifest.window}, "
        f"{_dim(manifest)}] (`{manifest.features}` features of `{manifest.layout}` keypoints), output "
        f"{len(manifest.labels)} probabilities in the order {', '.join(manifest.labels)}.",
        "- features (`signd.models.features`, the function the runtime calls on every window): "
        "windows whose left hand is seen more often than the right are mirrored (busier hand "
        "always in the same place); origin between the shoulders and the shoulder width as unit "
        "(window means); nose, shoulders, elbows, wrists; visibility of elbows and wrists; per "
        "hand (left, right, and the main hand: whichever is seen, the higher of two, mirrored "
        "to one side, which survives the detector swapping left and right): seen or not, wrist position, palm normal, finger direction, how far each finger "
        "is stretched, the 20 landmarks relative to the wrist in hand-size units; velocities of "
        "the body points and wrists.",
        "- network (`signd.models.architectures.build_default`): standardise -> per-frame Dense "
        "-> mean and max over the window and over each half -> Dense -> logits -> softmax, three "
        "such members averaged; builtin ops only, no recurrence. A fixed rule after training: "
        f"every member's `blank` logit is lowered by {_f(train.get('rest_penalty'), 'g')} x the share "
        "of the window's frames in which a hand was seen, so rest (hands down or absent) needs "
        "a far stronger case when hands are in view; windows without hands are judged as trained.",
        f"- training (`signd train`, seed {train.get('seed')}): {train.get('copies')} augmented "
        "copies of every sequence (mirror with hands swapped, scale, rotation, shift, aspect, "
        "hands moved, time warp, dropped frames and hands, noise, windows shifted in time), "
        "rest from recorded `blank` sequences and synthetic rest (the same sequences with arms "
        "down and no hands, hands held low, nobody in view, windows catching at most 6 frames "
        "of a sign) and, for signs it must not know, the training signs' movements made with "
        "other hand shapes (fist, V, middle and ring: fingers folded into the palm; "
        f"{_f(train.get('other_fraction'), '.0%')} of the sequences), also labelled `blank`; "
        f"class-balanced; a fixed {train.get('epochs')} epochs (the median epoch that early stopping on "
        "a same-signer split picked over the seven LOSO folds: it looked only at training "
        "signers, never at the held-out one).",
        f"- how it is run (manifest `runtime`): `{json.dumps(manifest.runtime.to_dict())}`.",
        "",
    ]
    if acc:
        L += ["## Leave-one-signer-out (one run, same folds and seed for both architectures)", "",
              f"Classes {', '.join(evaluation.get('classes', []))}; each signer's accuracy is measured "
              "on a model that never saw them; a sign taken for `blank` counts as an error.", "",
              "| held-out signer | " + " | ".join(archs) + " |",
              "|---|" + "---|" * len(archs)]
        rows = [s["signer"] for s in acc[archs[0]]["signers"]]
        for i, s in enumerate(rows):
            L.append(f"| {s} | " + " | ".join(_f(acc[a]["signers"][i]["accuracy"]) for a in archs) + " |")
        for key in ("mean", "worst"):
            L.append(f"| **{key}** | " + " | ".join(f"**{_f(acc[a][key])}**" for a in archs) + " |")
        L.append("")
        for a in archs:
            L.append(f"Confusion, {a} (rows true, columns predicted; {', '.join(acc[a]['labels'])}): "
                     f"`{acc[a]['confusion']}`")
        L.append("")
    stream = evaluation.get("stream", {})
    if stream:
        L += ["## Stream (every LOSO signer, each on its own fold's model)", "",
              "Each signer's sequences played back to back with 2 s of rest before each (the "
              "signer's recorded `blank` where there is one, else their body with arms down and no hands), "
              "at 30 fps, through the runtime's recognizer (`signd evaluate "
              "--loso ... --stream`).", "",
              "| architecture | event F1 | signs hit | missed | false events | false events per minute of rest |",
              "|---|---|---|---|---|---|"]
        for a, b in stream.items():
            t = b["total"]
            L.append(f"| {a} | {_f(t['f1'])} | {t['hits']}/{t['signs']} | {t['misses']} | "
                     f"{t['false_events']} | {_f(t['rest_false_per_minute'], '.2f')} "
                     f"({t['rest_false_events']} in {t['rest_seconds'] / 60:.1f} min) |")
        L.append("")
    unknown = evaluation.get("unknown", {})
    if unknown:
        L += ["## Unknown signs", "",
              "Signs the model was not trained on, from signers left out of training "
              "(`love` of melicom: its LOSO fold; `seeyoulater` of ilkerdemir: held out of every "
              "fold). Share of their sequences that gave an event in the stream:", ""]
        for a, u in unknown.items():
            per = ", ".join(f"{k} {v['with_event']}/{v['sequences']}" for k, v in u.get("signers", {}).items())
            L.append(f"- {a}: {u['with_event']} of {u['sequences']} ({u['rate']:.0%}){': ' + per if per else ''}")
        L.append("")
    held = evaluation.get("held_out", {})
    if held:
        L += ["## Signers held out of every fold", ""]
        for a, b in held.items():
            per = ", ".join(f"{s['signer']} {_f(s['accuracy'])} ({s['correct']}/{s['n']})"
                            for s in b["accuracy"]["signers"])
            L.append(f"- {a} trained on all LOSO signers: {per}")
        L.append("")
    L += _errors_section(evaluation)
    L += ["## Conversion, size and speed", "",
          f"- converted by `signd convert` for target {conv.get('target', '-')}: argmax agreement "
          f"with the Keras model {_f(conv.get('agreement'), '.2%') if conv.get('agreement') is not None else '-'} "
          f"on {conv.get('windows', '-')} windows of {', '.join(conv.get('data', []))}; largest "
          f"probability difference {_f(conv.get('max_prob_diff'), '.2g')}.",
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
    L += ["", "## Rebuild", "", "```sh",
          "D=../shared/data/signers",
          "LOSO=\"$D/mujster.npz $D/jonathanroddy.npz $D/melicom.npz $D/devharsh.npz $D/kush.npz "
          "$D/bhavyagokhroo.npz $D/dim3ns10n-with-blank.npz\"",
          "signd train $LOSO -o models/default --demo     # melicom's `love` is dropped with a warning",
          "signd evaluate --loso default,tutorial $LOSO --held-out $D/ilkerdemir.npz --stream "
          "--card models/default --plots out/plots",
          "```", ""]
    return "\n".join(L)


def _errors_section(evaluation: dict[str, Any]) -> list[str]:
    """Every LOSO error of the default architecture, the sequences whose label the recording
    does not show (with the evidence), and the figure with them relabelled, kept apart."""
    from .evaluate import LABEL_CORRECTIONS

    acc = evaluation.get("accuracy", {}).get("default")
    if not acc:
        return []
    L = ["## What the remaining errors are", "",
         "Every LOSO sequence the default architecture got wrong (signer: sequence, label -> answer):", ""]
    for s in acc["signers"]:
        errs = s.get("errors", [])
        if errs:
            L.append(f"- {s['signer']}: " + "; ".join(f"{e['seq']} {e['true']} -> {e['predicted']}" for e in errs))
    L += ["", "Recordings that do not show their label (they stay errors in the table above):", ""]
    for (signer, seq), (new, why) in LABEL_CORRECTIONS.items():
        L.append(f"- {signer} {seq}: shows {'rest' if new == 'blank' else new}: {why}.")
    L.append("")
    corr = evaluation.get("corrected", {})
    if corr:
        L += ["With those sequences relabelled (a rest sequence leaves the count), same run, same models:", "",
              "| | " + " | ".join(corr) + " |", "|---|" + "---|" * len(corr)]
        for key in ("mean", "worst"):
            L.append(f"| {key} | " + " | ".join(_f(c[key]) for c in corr.values()) + " |")
        L.append("")
    L += ["How much of this is the seed (development runs of the default architecture, LOSO of the "
          "seven, separate from the run above):", "",
          "- this configuration with seed 1: mean 0.987, worst 0.967 (bhavyagokhroo, the same three "
          "sequences; mujster also 0.967), stream F1 0.982, 0 false events in rest, melicom's `love` 0/30. A mean of "
          "0.99 is within the spread of seeds (about +-0.003), not clear of it.",
          "- the rule for rest with hands in view, on the same trained folds: never lowered accuracy "
          "in six sets of folds; raised the mean by 0.000-0.005 and stream F1 by 0.001-0.005; "
          "melicom's `love` gave events in 0-5 of 30 sequences with it (0-2 without). It was set "
          "to 8 looking at those LOSO figures, one value for every fold.",
          "- width 30 and a fixed 40 epochs against width 32 and early stopping on a same-signer "
          "split (seed 0, before the rule): mean 0.989 against 0.986, within the seed spread.",
          "- fewer and lighter other-hand-shape negatives (a fifth of the sequences, rest class "
          "weight halved): means 0.987-0.991 in three runs: no clear gain, so the unknown-sign "
          "rejection was kept as it was.", ""]
    return L


def _dim(manifest: Any) -> int:
    from .features import feature_dim

    return feature_dim(manifest.layout, manifest.features)


def write_card(model_dir: Path, evaluation: dict[str, Any] | None = None) -> Path:
    """Store `evaluation` (when given) beside the model and rewrite the card."""
    model_dir = Path(model_dir)
    name = model_dir.name
    model = model_dir / f"{name}.tflite"
    manifest = read_manifest(model)
    if manifest is None or not model.exists():
        raise InputError(f"no model {model} with its manifest: train it first (signd train ... -o {model_dir})")
    ev_path = model_dir / "evaluation.json"
    if evaluation is not None:
        _atomic_write(ev_path, json.dumps(evaluation, indent=1) + "\n")
    evaluation = json.loads(ev_path.read_text()) if ev_path.exists() else {}
    bench = benchmark(model)
    text = render(name, manifest, model.stat().st_size, evaluation, bench)
    card = model_dir / "README.md"
    _atomic_write(card, text)
    return card
