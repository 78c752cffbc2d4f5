"""Test helpers that make data and models the project owns: synthetic keypoint recordings and
small models trained on them (or on a shared signer), converted to TFLite with a manifest."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from signd.daemon.layout import POSE_HANDS_258, TUTORIAL_1662, Layout, convert_layout
from signd.daemon.recordings import Recording

LABELS = ["hello", "iloveyou", "thanks"]


def synthetic_recording(
    n_per_class: int = 10, layout: Layout = POSE_HANDS_258, seed: int = 0, frames: int = 30
) -> Recording:
    """Sequences where one hand moves along a class-specific path: up, right, or a circle."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    t = np.linspace(0, 1, frames)
    paths = {
        0: np.stack([0.25 + 0 * t, 0.8 - 0.5 * t], 1),  # hello: up, on the left
        1: np.stack([0.3 + 0.4 * t, 0.25 + 0 * t], 1),  # iloveyou: right, high
        2: np.stack([0.7 + 0.15 * np.cos(2 * np.pi * t), 0.7 + 0.15 * np.sin(2 * np.pi * t)], 1),
    }
    for c in range(3):
        for _ in range(n_per_class):
            seq = np.zeros((frames, layout.size), np.float32)
            pose = rng.normal(0.5, 0.02, (33, 4)).astype(np.float32)
            pose[:, 3] = 1.0
            seq[:, layout.pose] = pose.reshape(-1)
            wrist = paths[c] + rng.normal(0, 0.01, (frames, 2))
            hand = np.zeros((frames, 21, 3), np.float32)
            hand[:, :, :2] = wrist[:, None, :] + rng.normal(0, 0.005, (frames, 21, 2))
            seq[:, layout.right_hand] = hand.reshape(frames, -1)
            X.append(seq)
            y.append(c)
    return Recording("synthetic.npz", np.stack(X), np.asarray(y), list(LABELS),
                     [f"{LABELS[c]}/{i}" for i, c in enumerate(y)], layout)


def save_npz(rec: Recording, path: Path) -> Path:
    np.savez(path, X=rec.X.astype(np.float16), y=rec.y.astype(np.int16),
             labels=np.array(rec.labels), seq_ids=np.array(rec.seq_ids))
    return path


def save_mp_data(rec: Recording, root: Path) -> Path:
    """The tutorial's MP_Data layout: root/<action>/<sequence>/<frame>.npy."""
    counters: dict[str, int] = {}
    for i in range(len(rec.y)):
        label = rec.label_of(i)
        n = counters.get(label, 0)
        counters[label] = n + 1
        d = root / label / str(n)
        d.mkdir(parents=True)
        for j, frame in enumerate(rec.X[i]):
            np.save(d / f"{j}.npy", frame)
    return root


def train_tflite(
    rec: Recording, out: Path, layout: Layout = POSE_HANDS_258, epochs: int = 150,
    quantize: str = "float32", seed: int = 0,
) -> Path:
    """A small Conv1D over raw keypoints, fit to `rec`, converted to `out` with a manifest."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras as K

    from signd.convert.tflite import keras_to_tflite
    from signd.models.manifest import Manifest, write_manifest

    X = convert_layout(rec.X, rec.layout, layout) if rec.layout != layout else rec.X
    K.utils.set_random_seed(seed)
    model = K.Sequential([
        K.Input((X.shape[1], layout.size)),
        K.layers.Conv1D(32, 3, activation="relu"),
        K.layers.GlobalAveragePooling1D(),
        K.layers.Dense(len(rec.labels), activation="softmax"),
    ])
    model.compile(K.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(X, rec.y, epochs=epochs, batch_size=16, verbose=0)
    out.write_bytes(keras_to_tflite(model, quantize, representative=list(X[:32])))
    write_manifest(out, Manifest(labels=list(rec.labels), window=X.shape[1], layout=layout.name,
                                 name=out.stem, quantization=quantize))
    return out


def tutorial_sized_tflite(out: Path, dim: int = TUTORIAL_1662.size, labels: list[str] = LABELS) -> Path:
    """The tutorial's network (LSTM 64/128/64 relu, Dense 64/32/softmax), untrained: for shape,
    size and speed checks only."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras as K

    from signd.convert.tflite import keras_to_tflite
    from signd.models.manifest import Manifest, write_manifest

    K.utils.set_random_seed(0)
    model = K.Sequential([
        K.Input((30, dim)),
        K.layers.LSTM(64, return_sequences=True, activation="relu"),
        K.layers.LSTM(128, return_sequences=True, activation="relu"),
        K.layers.LSTM(64, return_sequences=False, activation="relu"),
        K.layers.Dense(64, activation="relu"),
        K.layers.Dense(32, activation="relu"),
        K.layers.Dense(len(labels), activation="softmax"),
    ])
    out.write_bytes(keras_to_tflite(model))
    layout = TUTORIAL_1662 if dim == TUTORIAL_1662.size else POSE_HANDS_258
    write_manifest(out, Manifest(labels=list(labels), layout=layout.name, name=out.stem))
    return out
