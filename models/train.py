"""Training: signers in, a fitted Keras model out (and, with `export`, a TFLite model with its
manifest). Imports TensorFlow lazily: `signd` commands that do not train never load it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from signd.daemon.layout import layout_named

from . import augment as aug
from .architectures import (
    build_default,
    build_tutorial,
    is_tutorial,
    member_trainer,
    set_rest_penalty,
    spec,
)
from .dataset import OTHER_LABEL, REST_LABEL, Signer, stack
from .features import compute_features, hand_seen_column

log = logging.getLogger(__name__)


OTHER_SHAPES = True
OTHER_WEIGHT = 1.0
HOLD_FRACTION = 1 / 6
# (epochs, early-stopping patience) per network. The tutorial stops early on a random tenth of
# its sequences, as the seed did. The default trains a fixed number of epochs: a same-signer
# split says little about new signers. 20: on the first fold of the grouped cross-validation,
# 35 epochs gave no better person or sign figures than 20 (docs/models.md).
STOPPING = {"default": (20, 0), "tutorial": (120, 15)}


@dataclass
class TrainConfig:
    """How to train; every field is recorded in the manifest of the model it made."""

    arch: str = "default"
    seed: int = 0
    epochs: int | None = None  # None: the architecture's own (STOPPING)
    patience: int | None = None  # early stopping patience; 0 trains exactly `epochs`
    batch_size: int = 64
    val_fraction: float = 0.1
    copies: int = 2  # augmented variants of every training sequence (default arch)
    rare_boost: int = 3  # up to this many times the copies for signs with few sequences
    rest: bool = True  # add a rest class (default arch): real blank + sequences without hands
    other_shapes: bool = OTHER_SHAPES  # rest also holds the signs' movements made with other hand shapes
    other_fraction: float = 1 / 3  # share of the training sequences also made with other hand shapes
    rest_weight: float = 1.0  # class weight of rest against the balanced weight of a sign
    # Class weight of `other` against the balanced weight of a sign (default network). Higher
    # trades recall for silence on unknown signs; over the grouped cross-validation 3 moved
    # unknown firing 27% -> 21% of sequences for mean per person 0.866 -> 0.846 and help
    # recall 0.82 -> 0.56, about what a higher threshold trades (docs/models.md), so 1 stays.
    other_weight: float = OTHER_WEIGHT
    # Share of the signs' sequences (times 1 + copies) also given held still as `other`
    # (augment.hold): a hand shape shown is not a sign; I-love-you, a held shape, is left out.
    hold_fraction: float = HOLD_FRACTION
    hands_gone: float = 0.05  # per side: share of augmented sequences whose hand is never detected
    # After training: the rest logit is lowered by this x the share of frames with a hand
    # (architectures.set_rest_penalty). Rest means hands down or absent; most signs the model
    # missed on new signers were taken for rest with hands in every frame.
    rest_penalty: float = 8.0
    window: int = 30

    @property
    def max_epochs(self) -> int:
        return self.epochs if self.epochs is not None else STOPPING[spec(self.arch).network][0]

    @property
    def stop_patience(self) -> int:
        return self.patience if self.patience is not None else STOPPING[spec(self.arch).network][1]

    @property
    def layout(self) -> str:
        return spec(self.arch).layout

    @property
    def features(self) -> str:
        return spec(self.arch).features


@dataclass
class Trained:
    """A fitted network and what it needs to be used."""

    model: Any  # tf_keras.Model
    labels: list[str]
    config: TrainConfig
    history: dict[str, list[float]] = field(default_factory=dict)
    signers: list[str] = field(default_factory=list)

    def predict_frames(self, X: np.ndarray) -> np.ndarray:
        """Probabilities (N, K) for keypoint sequences (N, T, layout.size)."""
        feats = compute_features(X, self.config.layout, self.config.features)
        return predict(self.model, feats)


def set_seeds(seed: int) -> None:
    """Python, numpy and TensorFlow seeds, and deterministic ops, so a run repeats."""
    import tensorflow as tf

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    with contextlib.suppress(AttributeError, RuntimeError):
        tf.config.experimental.enable_op_determinism()


def predict(model: Any, feats: np.ndarray, batch: int = 512) -> np.ndarray:
    """Batched inference without Keras' per-call overhead."""
    if len(feats) == 0:
        return np.zeros((0, int(model.outputs[0].shape[-1])), np.float32)
    out = [model(feats[i : i + batch], training=False).numpy() for i in range(0, len(feats), batch)]
    return np.concatenate(out).astype(np.float32)


def _progress(total: int, desc: str) -> Any:
    """A Keras callback drawing one tqdm bar over epochs (quiet when stderr is not a terminal)."""
    import tf_keras as keras
    from tqdm import tqdm

    class Bar(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            self.bar = tqdm(total=total, desc=desc, unit="epoch", leave=False,
                            disable=not sys.stderr.isatty())

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = logs or {}
            post = {"loss": f"{logs.get('loss', 0):.3f}"}
            if "val_categorical_accuracy" in logs:
                post["val"] = f"{logs['val_categorical_accuracy']:.3f}"
            self.bar.set_postfix(post)
            self.bar.update(1)

        def on_train_end(self, logs: Any = None) -> None:
            self.bar.close()

    return Bar()


def training_set(X: np.ndarray, y: np.ndarray, labels: list[str], cfg: TrainConfig,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint sequences and labels to learn from (the default arch's augmentation and rest).

    Every sequence is kept once as it is and `copies` times augmented. A tenth of the
    augmented windows are moved in time by up to 8 frames (a stream window that caught most
    of a sign keeps its label). With a rest class, rest is added: the same sequences with arms
    down and no hands, with hands held low and still, nobody in view, and windows that caught
    no more than 6 frames of a sign.
    """
    layout = layout_named(cfg.layout)
    if is_tutorial(cfg.arch):
        return X, y
    xs, ys = [X], [y]
    # A sign with few sequences gets up to `rare_boost` x the copies: more variety of the few
    # people who made it, where its class weight alone only repeats them.
    counts = np.bincount(y, minlength=len(labels)).astype(np.float64)
    sign_classes = [i for i, c in enumerate(labels) if c not in (REST_LABEL, OTHER_LABEL) and counts[i]]
    factor = np.ones(len(labels), np.int64)
    if sign_classes and cfg.rare_boost > 1:
        typical = float(np.median(counts[sign_classes]))
        factor[sign_classes] = np.clip(np.round(typical / counts[sign_classes]), 1, cfg.rare_boost).astype(np.int64)
    for n in range(cfg.copies * int(factor.max())):
        pick = factor[y] * cfg.copies > n
        src, lab = (X, y) if pick.all() else (X[pick], y[pick])
        a = aug.augment(src, layout, rng, hands_gone=cfg.hands_gone)
        moved = rng.random(len(a)) < 0.1
        k = rng.integers(1, 9, len(a)) * rng.choice([-1, 1], len(a))
        if moved.any():
            a[moved] = aug.shift_in_time(a[moved], layout, k[moved],
                                         aug.arms_down(a[moved], layout, rng))
        xs.append(a)
        ys.append(lab)
    if cfg.rest and REST_LABEL in labels:
        r = labels.index(REST_LABEL)
        signs = y != r
        base = aug.augment(X[signs], layout, rng)
        empty = np.zeros_like(base[: max(1, len(base) // 8)])  # nobody in view at all
        down = aug.arms_down(base, layout, rng)
        # No "arms up, hands unseen" rest: signers whose hands the detector misses still sign.
        parts = [(aug.without_hands(down, layout), r), (aug.hands_down(down, layout, rng), r), (empty, r)]
        n_other = int(round(len(base) * cfg.other_fraction))
        if cfg.other_shapes and n_other >= 1:
            # A sign's movement with another hand shape is a sign, just not this one: `other`
            # where the model has that class, else rest (it must not fire either way).
            o = labels.index(OTHER_LABEL) if OTHER_LABEL in labels else r
            parts.append((aug.refold(base[:n_other], layout, rng), o))
        k = rng.integers(24, 30, len(base)) * rng.choice([-1, 1], len(base))
        # Before and after a sign the arms are down: rest never has arms up without hands,
        # because the detector misses the hands of people who are signing.
        parts.append((aug.shift_in_time(base, layout, k, down), r))
        for p, label in parts:
            xs.append(p.astype(np.float32))
            ys.append(np.full(len(p), label, np.int64))
    if cfg.hold_fraction and OTHER_LABEL in labels:
        shown = [i for i, c in enumerate(labels) if c not in (REST_LABEL, OTHER_LABEL, *aug.HELD_SIGNS)]
        idx = np.nonzero(np.isin(y, shown))[0]
        n_held = int(len(idx) * cfg.hold_fraction * (1 + cfg.copies))
        if n_held:
            idx = rng.choice(idx, n_held, replace=True)
            held, ok = aug.hold(aug.augment(X[idx], layout, rng), layout, rng)
            xs.append(held[ok])
            ys.append(np.full(int(ok.sum()), labels.index(OTHER_LABEL), np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def fit(signers: list[Signer], labels: list[str], cfg: TrainConfig, desc: str = "train") -> Trained:
    """Train `cfg.arch` on `signers` for classes `labels` (sequences of other classes ignored)."""
    import tf_keras as keras

    set_seeds(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    X, y, _ = stack(signers, labels)
    if cfg.window != X.shape[1]:
        raise ValueError(f"sequences have {X.shape[1]} frames; the model window is {cfg.window}")
    # Early stopping watches a same-signer split of unaugmented sequences: there is no other
    # signer to hold out without taking one from training.
    order = rng.permutation(len(X))
    n_val = max(1, int(round(len(X) * cfg.val_fraction))) if cfg.stop_patience > 0 else 0
    val, tr = order[:n_val], order[n_val:]
    Xtr, ytr = training_set(X[tr], y[tr], labels, cfg, rng)
    ftr = compute_features(Xtr, cfg.layout, cfg.features)
    fval = compute_features(X[val], cfg.layout, cfg.features) if n_val else None
    K = len(labels)
    if is_tutorial(cfg.arch):
        model = build_tutorial(cfg.window, ftr.shape[-1], K)
    else:
        mean = ftr.reshape(-1, ftr.shape[-1]).mean(0)
        std = ftr.reshape(-1, ftr.shape[-1]).std(0) + 1e-3
        hand = hand_seen_column(cfg.features) if REST_LABEL in labels else None
        model = build_default(cfg.window, ftr.shape[-1], K, mean, std, hand_column=hand)
    weights = class_weights(ytr, labels, cfg)
    callbacks = [_progress(cfg.max_epochs, desc)]
    validation = None
    if n_val:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.stop_patience,
                                                       restore_best_weights=True))
        validation = (fval, np.eye(K, dtype=np.float32)[y[val]])
    target = np.eye(K, dtype=np.float32)[ytr]
    trainer = model if is_tutorial(cfg.arch) else member_trainer(model)
    if trainer is model:
        hist = model.fit(ftr, target, validation_data=validation, epochs=cfg.max_epochs,
                         batch_size=cfg.batch_size, shuffle=True, verbose=0, class_weight=weights,
                         callbacks=callbacks)
    else:  # one loss per member (Keras takes class weights for one output only)
        n = len(trainer.outputs)
        sample = np.array([weights[c] for c in range(K)], np.float32)[ytr]
        if validation is not None:
            validation = (validation[0], [validation[1]] * n)
        hist = trainer.fit(ftr, [target] * n, sample_weight=[sample] * n, validation_data=validation,
                           epochs=cfg.max_epochs, batch_size=cfg.batch_size, shuffle=True, verbose=0,
                           callbacks=callbacks)
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    if not is_tutorial(cfg.arch) and REST_LABEL in labels and cfg.rest_penalty:
        set_rest_penalty(model, labels.index(REST_LABEL), cfg.rest_penalty)
    log.info("%s: %s on %d sequences (%d after augmentation), %d epochs%s", desc,
             cfg.arch, len(tr), len(Xtr), len(history["loss"]),
             f", best val acc {max(history['val_categorical_accuracy']):.3f}"
             if "val_categorical_accuracy" in history else "")
    return Trained(model, list(labels), cfg, history, [s.name for s in signers])


def class_weights(y: np.ndarray, labels: list[str], cfg: TrainConfig) -> dict[int, float]:
    """Balanced class weights (every class weighs the same in all), then rest x `rest_weight`
    and, in the default network, `other` x `other_weight`."""
    K = len(labels)
    counts = np.bincount(y, minlength=K).astype(np.float64)
    weights = {i: float(len(y) / (K * c)) if c else 1.0 for i, c in enumerate(counts)}
    if REST_LABEL in labels:
        weights[labels.index(REST_LABEL)] *= cfg.rest_weight
    if OTHER_LABEL in labels and not is_tutorial(cfg.arch):  # the yardstick stays the seed's
        weights[labels.index(OTHER_LABEL)] *= cfg.other_weight
    return weights


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    return {**asdict(cfg), "epochs": cfg.max_epochs, "patience": cfg.stop_patience,
            "layout": cfg.layout, "features": cfg.features}
