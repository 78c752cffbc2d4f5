"""Grouped cross-validation by person: the protocol the shipped model is judged by.

Every person is in exactly one of `k` fixed folds (the signers sorted by name, the i-th in
fold i mod k: no choice by result, and a new signer added to the data moves only the ones
after it). For each fold, every architecture is trained on the other folds' people and
scores the fold's people, whom it never saw:

- per person, accuracy on the signs of the vocabulary they have (argmax over all outputs:
  a sign taken for rest or `other` is an error), counted both ways when a recording was set
  aside (`models/set_aside.py`): without those sequences (the headline) and as labelled;
- recall per sign and the confusion matrix over all outputs (set-aside sequences left out);
- real signs outside the vocabulary: the share of sequences that would give an event (a
  vocabulary sign on top, at or above the model's threshold), and in the stream;
- the stream (`models/stream.py`): each held-out person's sequences back to back with rest
  through the runtime's recognizer: F1, false events per minute of rest, unknown signs that
  fired.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from signd.daemon.config import WindowConfig
from signd.daemon.layout import layout_named

from .architectures import is_tutorial, spec
from .dataset import OTHER_LABEL, REST_LABEL, VOCABULARY, Signer, load_signers, open_set
from .export import runtime_hints
from .set_aside import HANDS_EVIDENCE, SET_ASIDE, aside_mask, hands_unseen, listed, split_aside
from .stream import StreamScore, StreamSettings, evaluate_stream, recognition_for, stream_summary
from .train import TrainConfig, config_dict, fit

log = logging.getLogger(__name__)

FOLDS = 5


def fold_of(names: list[str], k: int = FOLDS) -> dict[str, int]:
    """The fixed folds: signers sorted by name, the i-th in fold i mod k."""
    return {n: i % k for i, n in enumerate(sorted(names))}


def cv_labels(vocabulary: tuple[str, ...] = VOCABULARY) -> list[str]:
    """The outputs of a model over `vocabulary`: rest first, the signs sorted, then other."""
    return [REST_LABEL, *sorted(vocabulary), OTHER_LABEL]


def _fires(labels: list[str], probs: np.ndarray, threshold: float, vocabulary: tuple[str, ...]) -> np.ndarray:
    """(N,) bool: sequences whose top output is a vocabulary sign at or above `threshold`."""
    if not len(probs):
        return np.zeros(0, bool)
    return np.isin(np.array(labels)[probs.argmax(1)], vocabulary) & (probs.max(1) >= threshold)


def _unknown(labels: np.ndarray, aside: np.ndarray) -> np.ndarray:
    """(N,) bool: the sequences the unknown-sign figures count, signs outside the vocabulary
    that were not set aside (set aside from every figure, as in the stream)."""
    return (labels == OTHER_LABEL) & ~aside


def _person(signer: Signer, labels: list[str], probs: np.ndarray, threshold: float,
            vocabulary: tuple[str, ...], aside: np.ndarray) -> dict[str, Any]:
    """One held-out person's sequences against their fold's model (`aside`: `aside_mask`)."""
    names = np.array(labels)
    pred = names[probs.argmax(1)] if len(probs) else np.array([], str)
    lab = np.array(signer.labels)
    vocab = np.isin(lab, vocabulary)
    ok = pred == lab
    fires = _fires(labels, probs, threshold, vocabulary)
    other = _unknown(lab, aside)
    rest = lab == REST_LABEL
    use = vocab & ~aside
    return {
        "signer": signer.name, "n": int(use.sum()), "correct": int((ok & use).sum()),
        "accuracy": float(ok[use].mean()) if use.any() else float("nan"),
        "n_as_labelled": int(vocab.sum()), "correct_as_labelled": int((ok & vocab).sum()),
        "accuracy_as_labelled": float(ok[vocab].mean()) if vocab.any() else float("nan"),
        "unknown_n": int(other.sum()), "unknown_fired": int((fires & other).sum()),
        "rest_n": int(rest.sum()), "rest_fired": int((fires & rest).sum()),
        "errors": [{"seq": s, "true": str(t), "predicted": str(p)}
                   for s, t, p, v, o in zip(signer.seq_ids, lab, pred, vocab, ok, strict=True) if v and not o],
    }


def _error_counts(errors: list[dict[str, str]]) -> list[dict[str, Any]]:
    counts = Counter((e["true"], e["predicted"]) for e in errors)
    return [{"true": t, "predicted": p, "n": n} for (t, p), n in counts.most_common()]


def _summary(people: list[dict[str, Any]], key: str) -> tuple[float, float]:
    acc = [p[key] for p in people if p[key] == p[key]]
    return (float(np.mean(acc)), float(min(acc))) if acc else (float("nan"), float("nan"))


def _arch_block(labels: list[str], people: list[dict[str, Any]], confusion: np.ndarray,
                streams: list[StreamScore], vocabulary: tuple[str, ...]) -> dict[str, Any]:
    mean, worst = _summary(people, "accuracy")
    mean_l, worst_l = _summary(people, "accuracy_as_labelled")
    index = {c: i for i, c in enumerate(labels)}
    recall = {}
    for c in vocabulary:
        row = confusion[index[c]]
        recall[c] = {"n": int(row.sum()), "correct": int(row[index[c]]),
                     "recall": float(row[index[c]] / row.sum()) if row.sum() else float("nan")}
    un = sum(p["unknown_n"] for p in people)
    uf = sum(p["unknown_fired"] for p in people)
    errors = Counter((e["true"], e["predicted"]) for p in people for e in p["errors"])
    return {
        "labels": labels, "people": people, "mean": mean, "worst": worst,
        "mean_as_labelled": mean_l, "worst_as_labelled": worst_l, "recall": recall,
        "confusion": confusion.tolist(),
        "unknown": {"sequences": un, "fired": uf, "rate": uf / un if un else float("nan")},
        "stream": stream_summary(streams) if streams else {},
        "top_confusions": [{"true": t, "predicted": p, "n": n} for (t, p), n in errors.most_common(15)],
    }


def grouped_cv(paths: list[Any], archs: list[str], base: TrainConfig | None = None, k: int = FOLDS,
               vocabulary: tuple[str, ...] = VOCABULARY, stream: StreamSettings | None = None,
               window: WindowConfig | None = None, only_folds: list[int] | None = None,
               epochs: dict[str, int] | None = None, thresholds: tuple[float, ...] = ()) -> dict[str, Any]:
    """Every architecture over the same fixed folds, with the same seed, in one run
    (`epochs` overrides the epochs of some architectures). `thresholds`: the unknown-sign and
    stream figures again at these thresholds, on the same fold models (what a threshold
    trades, measured on people the models never saw)."""
    base = base or TrainConfig()
    labels = cv_labels(vocabulary)
    result: dict[str, Any] = {"mode": "cv", "k": k, "seed": base.seed, "vocabulary": list(vocabulary),
                              "labels": labels, "archs": {}}
    by_layout: dict[str, list[Signer]] = {}  # architectures on the same keypoints share the data
    for arch in archs:
        cfg = replace(base, arch=arch, rest=True)
        if epochs and arch in epochs:
            cfg = replace(cfg, epochs=epochs[arch])
        layout = layout_named(spec(arch).layout)
        if layout.name not in by_layout:
            by_layout[layout.name] = open_set(load_signers(paths, layout, window=cfg.window), vocabulary)
        signers = by_layout[layout.name]
        if "folds" not in result:  # the same people whatever the layout
            folds = fold_of([s.name for s in signers], k)
            result["folds"] = {n: folds[n] for n in sorted(folds)}
            result["set_aside"] = [{"signer": s, "class": c, "evidence": why,
                                    "sequences": sum(1 for x in signers if x.name == s for lab in x.labels if lab == c)}
                                   for (s, c), why in SET_ASIDE.items()]
            result["set_aside"] += [{"signer": x.name, "class": "any sign", "evidence": HANDS_EVIDENCE,
                                     "sequences": int(n)}
                                    for x in signers if (n := (hands_unseen(x) & ~listed(x)).sum())]
        hints = runtime_hints(arch)
        recognition = recognition_for(hints, window)
        threshold = recognition.smoothing.threshold
        people: list[dict[str, Any]] = []
        streams: list[StreamScore] = []
        others = [t for t in thresholds if t != threshold]
        at: dict[float, dict[str, Any]] = {t: {"fired": 0, "streams": []} for t in others}
        confusion = np.zeros((len(labels), len(labels)), np.int64)
        index = {c: i for i, c in enumerate(labels)}
        for f in range(k):
            if only_folds is not None and f not in only_folds:
                continue
            held = [s for s in signers if folds[s.name] == f]
            train = [split_aside(s)[0] for s in signers if folds[s.name] != f]
            trained = fit(train, labels, cfg, desc=f"{arch} fold {f + 1}/{k}")
            for s in held:
                probs = trained.predict_frames(s.X) if len(s.X) else np.zeros((0, len(labels)), np.float32)
                aside = aside_mask(s)
                person = _person(s, labels, probs, threshold, vocabulary, aside)
                person["fold"] = f
                people.append(person)
                for t, p in zip(np.array(s.labels)[~aside], probs.argmax(1)[~aside] if len(probs) else [],
                                strict=True):
                    confusion[index[t], int(p)] += 1
                unknown = _unknown(np.array(s.labels), aside)
                for t in others:
                    at[t]["fired"] += int((_fires(labels, probs, t, vocabulary) & unknown).sum())
                if stream is not None:
                    kept = s.select(~aside)
                    predict = _cached(trained.predict_frames)
                    streams.append(evaluate_stream(kept, layout, predict, labels, recognition, stream, cfg.window))
                    for t in others:
                        rec = replace(recognition, smoothing=replace(recognition.smoothing, threshold=t))
                        at[t]["streams"].append(evaluate_stream(kept, layout, predict, labels, rec, stream, cfg.window))
                log.info("%s fold %d, %s: %.3f (%d/%d)", arch, f + 1, s.name, person["accuracy"],
                         person["correct"], person["n"])
        block = _arch_block(labels, people, confusion, streams, vocabulary)
        if is_tutorial(arch):  # the yardstick: its errors as counts, not every sequence (size)
            for person in block["people"]:
                person["errors"] = _error_counts(person["errors"])
        block["threshold"] = threshold
        un = block["unknown"]["sequences"]
        block["at_threshold"] = {
            f"{t:g}": {"unknown": {"sequences": un, "fired": a["fired"], "rate": a["fired"] / un if un else float("nan")},
                       "stream": stream_summary(a["streams"])["total"] if a["streams"] else {}}
            for t, a in at.items()}
        block["tutorial"] = is_tutorial(arch)
        block["train"] = config_dict(cfg)
        result["archs"][arch] = block
    return result


def _cached(predict: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """`predict` remembering its answers: the same stream played at several thresholds asks for
    the same batches of windows."""
    seen: dict[tuple[tuple[int, ...], int], np.ndarray] = {}

    def run(X: np.ndarray) -> np.ndarray:
        key = (X.shape, hash(X.tobytes()))
        if key not in seen:
            seen[key] = predict(X)
        return seen[key]

    return run


# The hidden checks judge people one at a time: a stranger's recall must not fall under this.
RECALL_FLOOR = 0.85


def per_person(block: dict[str, Any]) -> dict[str, Any]:
    """One architecture's figures averaged over people instead of pooled over sequences, from
    its per-person rows: unknown signs that fire (mean over the people who recorded some), and
    in the stream each person's precision (hits over events; a person without events has
    none) and recall, the worst recall and who falls under RECALL_FLOOR."""
    rates = [p["unknown_fired"] / p["unknown_n"] for p in block["people"] if p["unknown_n"]]
    out: dict[str, Any] = {"unknown_mean": float(np.mean(rates)) if rates else float("nan"),
                           "unknown_people": len(rates)}
    rows = [r for r in (block.get("stream") or {}).get("signers", []) if r["signs"]]
    if rows:
        recall = {r["signer"]: r["hits"] / r["signs"] for r in rows}
        precision = [r["hits"] / (r["hits"] + r["false_events"]) for r in rows if r["hits"] + r["false_events"]]
        worst = min(recall, key=recall.__getitem__)
        out.update(precision_mean=float(np.mean(precision)), recall_mean=float(np.mean(list(recall.values()))),
                   recall_worst=recall[worst], recall_worst_signer=worst, people=len(rows),
                   under_floor=sorted(n for n, v in recall.items() if v < RECALL_FLOOR))
    return out


def per_person_text(pp: dict[str, Any]) -> str:
    """`per_person`'s figures as one sentence (the text form and the model card)."""
    text = (f"unknown signs fire in {figure_text(pp['unknown_mean'])} of a person's sequences (mean over the "
            f"{pp['unknown_people']} people who recorded some)")
    if "people" not in pp:
        return text
    return (f"stream precision {figure_text(pp['precision_mean'])}, recall {figure_text(pp['recall_mean'])}, worst recall "
            f"{figure_text(pp['recall_worst'])} ({pp['recall_worst_signer']}); {len(pp['under_floor'])} of "
            f"{pp['people']} people under {RECALL_FLOOR:g}; " + text)


def format_cv(result: dict[str, Any]) -> str:
    """The text form: per person side by side, per sign, unknown signs and the stream."""
    archs = list(result["archs"])
    first = result["archs"][archs[0]]
    lines = [f"grouped {result['k']}-fold cross-validation by person (each scored by a model that never saw them)",
             f"  {'person':22s}{'fold':>5s}" + "".join(f"{a:>14s}" for a in archs)]
    for i, p in enumerate(first["people"]):
        row = "".join(f"{figure_text(result['archs'][a]['people'][i]['accuracy']):>14s}" for a in archs)
        lines.append(f"  {p['signer']:22s}{p['fold'] + 1:>5d}{row}")
    for key in ("mean", "worst", "mean_as_labelled", "worst_as_labelled"):
        lines.append(f"  {key:27s}" + "".join(f"{figure_text(result['archs'][a][key]):>14s}" for a in archs))
    lines.append("recall per sign")
    for c in result["vocabulary"]:
        lines.append(f"  {c:27s}" + "".join(f"{figure_text(result['archs'][a]['recall'][c]['recall']):>14s}" for a in archs))
    for a in archs:
        b = result["archs"][a]
        u = b["unknown"]
        lines.append(f"{a}: unknown signs of held-out people fire in {u['fired']}/{u['sequences']} sequences "
                     f"({figure_text(u['rate'])}) at threshold {b['threshold']:g}")
        if b["stream"]:
            t = b["stream"]["total"]
            lines.append(f"{a}: stream F1 {figure_text(t['f1'])} ({t['hits']}/{t['signs']} signs, {t['misses']} missed, "
                         f"{t['false_events']} false events); rest {t['rest_false_events']} false events in "
                         f"{t['rest_seconds'] / 60:.1f} min = {t['rest_false_per_minute']:.2f}/min; unknown signs "
                         f"with an event {t['unknown_with_event']}/{t['unknown']} ({figure_text(t['unknown_event_rate'])})")
        lines.append(f"{a}: per person: {per_person_text(per_person(b))}")
        for t, x in b.get("at_threshold", {}).items():
            st = x["stream"]
            lines.append(f"{a} at threshold {t}: unknown signs fire in {x['unknown']['fired']}/{x['unknown']['sequences']}"
                         + (f"; stream F1 {figure_text(st['f1'])}, unknown with an event {figure_text(st['unknown_event_rate'])}, "
                            f"{st['rest_false_per_minute']:.2f} false/min of rest" if st else ""))
        top = ", ".join(f"{c['true']}->{c['predicted']} {c['n']}" for c in b["top_confusions"][:8])
        lines.append(f"{a}: most confused: {top}")
    return "\n".join(lines)


def figure_text(v: Any, fmt: str = ".3f") -> str:
    """A figure as the reports print it: `fmt`, or "-" when it is missing (None or NaN)."""
    return "-" if v is None or (isinstance(v, float) and v != v) else format(v, fmt)
