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
from .architectures import build_default, build_tutorial, spec
from .dataset import REST_LABEL, Signer, stack
from .features import compute_features

log = logging.getLogger(__name__)


OTHER_SHAPES = True


@dataclass
class TrainConfig:
    """How to train; every field is recorded in the manifest of the model it made."""

    arch: str = "default"
    seed: int = 0
    epochs: int = 120
    patience: int = 15
    batch_size: int = 64
    val_fraction: float = 0.1
    copies: int = 8  # augmented variants of every training sequence (default arch)
    rest: bool = True  # add a rest class (default arch): real blank + sequences without hands
    other_shapes: bool = OTHER_SHAPES  # rest also holds the signs' movements made with other hand shapes
    window: int = 30

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
            self.bar.set_postfix(loss=f"{logs.get('loss', 0):.3f}",
                                 val=f"{logs.get('val_categorical_accuracy', 0):.3f}")
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
    if cfg.arch == "tutorial":
        return X, y
    xs, ys = [X], [y]
    for _ in range(cfg.copies):
        a = aug.augment(X, layout, rng)
        moved = rng.random(len(a)) < 0.1
        k = rng.integers(1, 9, len(a)) * rng.choice([-1, 1], len(a))
        if moved.any():
            a[moved] = aug.shift_in_time(a[moved], layout, k[moved],
                                         aug.arms_down(a[moved], layout, rng))
        xs.append(a)
        ys.append(y)
    if cfg.rest and REST_LABEL in labels:
        r = labels.index(REST_LABEL)
        signs = y != r
        base = aug.augment(X[signs], layout, rng)
        empty = np.zeros_like(base[: max(1, len(base) // 8)])  # nobody in view at all
        down = aug.arms_down(base, layout, rng)
        # No "arms up, hands unseen" rest: signers whose hands the detector misses still sign.
        parts = [aug.without_hands(down, layout), aug.hands_down(down, layout, rng), empty]
        if cfg.other_shapes and len(base) >= 3:
            parts.append(aug.refold(base[: len(base) // 3], layout, rng))
        k = rng.integers(24, 30, len(base)) * rng.choice([-1, 1], len(base))
        # Before and after a sign the arms are down: rest never has arms up without hands,
        # because the detector misses the hands of people who are signing.
        parts.append(aug.shift_in_time(base, layout, k, down))
        for p in parts:
            xs.append(p.astype(np.float32))
            ys.append(np.full(len(p), r, np.int64))
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
    n_val = max(1, int(round(len(X) * cfg.val_fraction)))
    val, tr = order[:n_val], order[n_val:]
    Xtr, ytr = training_set(X[tr], y[tr], labels, cfg, rng)
    ftr = compute_features(Xtr, cfg.layout, cfg.features)
    fval = compute_features(X[val], cfg.layout, cfg.features)
    K = len(labels)
    if cfg.arch == "tutorial":
        model = build_tutorial(cfg.window, ftr.shape[-1], K)
    else:
        mean = ftr.reshape(-1, ftr.shape[-1]).mean(0)
        std = ftr.reshape(-1, ftr.shape[-1]).std(0) + 1e-3
        model = build_default(cfg.window, ftr.shape[-1], K, mean, std)
    counts = np.bincount(ytr, minlength=K).astype(np.float64)
    weights = {i: float(len(ytr) / (K * c)) if c else 1.0 for i, c in enumerate(counts)}
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience,
                                         restore_best_weights=True)
    hist = model.fit(
        ftr, np.eye(K, dtype=np.float32)[ytr], validation_data=(fval, np.eye(K, dtype=np.float32)[y[val]]),
        epochs=cfg.epochs, batch_size=cfg.batch_size, shuffle=True, verbose=0,
        class_weight=weights, callbacks=[stop, _progress(cfg.epochs, desc)],
    )
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    log.info("%s: %s on %d sequences (%d after augmentation), %d epochs, val acc %.3f", desc,
             cfg.arch, len(tr), len(Xtr), len(history["loss"]),
             max(history.get("val_categorical_accuracy", [0])))
    return Trained(model, list(labels), cfg, history, [s.name for s in signers])


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    return {**asdict(cfg), "layout": cfg.layout, "features": cfg.features}
