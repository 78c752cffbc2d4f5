"""Honest measurement: accuracy per signer with a confusion matrix, and leave-one-signer-out
cross-validation of an architecture (every fold trains on all signers but one and tests on
the one it never saw).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .architectures import is_tutorial
from .dataset import REST_LABEL, Signer
from .train import TrainConfig, Trained, fit

log = logging.getLogger(__name__)

# The protocol of shared/data/README.md: these signs, these seven signers.
LOSO_CLASSES = ("hello", "iloveyou", "thanks")
LOSO_SIGNERS = ("mujster", "jonathanroddy", "melicom", "devharsh", "kush", "bhavyagokhroo",
                "dim3ns10n-with-blank")

Predictor = Callable[[np.ndarray], np.ndarray]  # keypoint sequences (N, T, F) -> probs (N, K)


@dataclass
class SignerScore:
    """One signer's sequences against a model: accuracy and confusion matrix."""

    signer: str
    n: int
    correct: int
    confusion: list[list[int]]  # rows: true label, columns: predicted label (model's labels)
    rest_n: int = 0  # rest sequences of this signer (scored separately)
    rest_correct: int = 0  # of those, predicted as rest
    errors: list[dict[str, str]] = field(default_factory=list)  # {"seq", "true", "predicted"}

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")


@dataclass
class Report:
    """Scores of one model (or one architecture's LOSO folds) over several signers."""

    labels: list[str]
    signers: list[SignerScore] = field(default_factory=list)

    @property
    def overall(self) -> float:
        n = sum(s.n for s in self.signers)
        return sum(s.correct for s in self.signers) / n if n else float("nan")

    @property
    def mean(self) -> float:
        return float(np.mean([s.accuracy for s in self.signers])) if self.signers else float("nan")

    @property
    def worst(self) -> float:
        return float(min(s.accuracy for s in self.signers)) if self.signers else float("nan")

    @property
    def confusion(self) -> np.ndarray:
        K = len(self.labels)
        total = np.zeros((K, K), np.int64)
        for s in self.signers:
            total += np.asarray(s.confusion, np.int64).reshape(K, K)
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": self.labels, "overall": self.overall, "mean": self.mean, "worst": self.worst,
            "confusion": self.confusion.tolist(),
            "signers": [{"signer": s.signer, "n": s.n, "correct": s.correct, "accuracy": s.accuracy,
                         "rest_n": s.rest_n, "rest_correct": s.rest_correct,
                         "confusion": s.confusion, "errors": s.errors} for s in self.signers],
        }


def score_signer(signer: Signer, labels: list[str], probs: np.ndarray) -> SignerScore:
    """Sequences whose label the model knows are scored on argmax over all its outputs (a
    sign taken for rest is an error); rest sequences are counted apart."""
    K = len(labels)
    index = {c: i for i, c in enumerate(labels)}
    conf = np.zeros((K, K), np.int64)
    n = correct = rest_n = rest_ok = 0
    errors: list[dict[str, str]] = []
    for lab, seq, p in zip(signer.labels, signer.seq_ids, probs, strict=True):
        if lab not in index:
            continue
        pred = int(np.argmax(p))
        conf[index[lab], pred] += 1
        if pred != index[lab]:
            errors.append({"seq": str(seq), "true": lab, "predicted": labels[pred]})
        if lab == REST_LABEL:
            rest_n += 1
            rest_ok += int(pred == index[lab])
        else:
            n += 1
            correct += int(pred == index[lab])
    return SignerScore(signer.name, n, correct, conf.tolist(), rest_n, rest_ok, errors)


def evaluate(predict: Predictor, labels: list[str], signers: list[Signer]) -> Report:
    """Every signer's sequences through `predict`."""
    report = Report(list(labels))
    for s in signers:
        report.signers.append(score_signer(s, labels, predict(s.X) if len(s.X) else np.zeros((0, len(labels)))))
    return report


@dataclass
class LosoRun:
    """LOSO results of several architectures over the same folds, in one run."""

    reports: dict[str, Report]
    models: dict[str, dict[str, Trained]]  # arch -> held-out signer -> the fold's model
    histories: dict[str, dict[str, dict[str, list[float]]]]

    def to_dict(self) -> dict[str, Any]:
        return {arch: rep.to_dict() for arch, rep in self.reports.items()}


def loso_labels(arch: str, cfg: TrainConfig, classes: tuple[str, ...] = LOSO_CLASSES) -> list[str]:
    """Output labels of a LOSO fold model: the protocol's classes, plus rest where the
    architecture has a rest class."""
    return ([REST_LABEL] if cfg.rest and not is_tutorial(arch) else []) + list(classes)


def loso(signers: list[Signer], archs: list[str], base: TrainConfig | None = None,
         classes: tuple[str, ...] = LOSO_CLASSES, keep_models: bool = False,
         folds: list[str] | None = None) -> LosoRun:
    """Leave each signer out in turn (or only those in `folds`); train every architecture on
    the rest with the same seed; score the held-out signer."""
    base = base or TrainConfig()
    reports: dict[str, Report] = {}
    models: dict[str, dict[str, Trained]] = {a: {} for a in archs}
    histories: dict[str, dict[str, dict[str, list[float]]]] = {a: {} for a in archs}
    for arch in archs:
        cfg = replace(base, arch=arch)
        labels = loso_labels(arch, cfg, classes)
        reports[arch] = Report(labels)
    for held in signers:
        if folds and held.name not in folds:
            continue
        train = [s for s in signers if s is not held]
        for arch in archs:
            cfg = replace(base, arch=arch)
            labels = reports[arch].labels
            trained = fit(train, labels, cfg, desc=f"{arch} without {held.name}")
            probs = trained.predict_frames(held.X) if len(held.X) else np.zeros((0, len(labels)))
            score = score_signer(held, labels, probs)
            reports[arch].signers.append(score)
            histories[arch][held.name] = trained.history
            log.info("LOSO %s, held out %s: %.3f (%d/%d)", arch, held.name, score.accuracy,
                     score.correct, score.n)
            if keep_models:
                models[arch][held.name] = trained
    return LosoRun(reports, models, histories)
