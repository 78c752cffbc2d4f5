"""Small Keras files for the convert tests, written with h5py alone (no TensorFlow in the test process).

They follow the layout Keras 2.x `model.save("x.h5")` writes (the same as the shared tutorial
files): a `model_config` JSON attribute and `model_weights/<layer>/<weight name>` datasets
listed in each layer's `weight_names`.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np


def write_keras2_h5(path: Path, input_shape: list[int | None], layers: list[dict], weights: dict[str, list[tuple[str, np.ndarray]]]) -> Path:
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_input_shape": input_shape, "dtype": "float32",
                                                        "sparse": False, "ragged": False, "name": "input"}},
                *layers,
            ],
        },
    }
    with h5py.File(path, "w") as h:
        h.attrs["model_config"] = json.dumps(config)
        h.attrs["keras_version"] = "2.8.0"
        h.attrs["backend"] = "tensorflow"
        g = h.create_group("model_weights")
        g.attrs["layer_names"] = [name.encode() for name in weights]
        g.attrs["backend"] = "tensorflow"
        g.attrs["keras_version"] = "2.8.0"
        for layer, values in weights.items():
            lg = g.create_group(layer)
            lg.attrs["weight_names"] = [f"{layer}/{n}".encode() for n, _ in values]
            for n, v in values:
                lg.create_dataset(f"{layer}/{n}", data=v.astype(np.float32))
    return path


def _dense(name: str, units: int, activation: str) -> dict:
    return {"class_name": "Dense", "config": {"name": name, "trainable": True, "dtype": "float32",
                                              "units": units, "activation": activation, "use_bias": True}}


def tiny_sequence_model(
    path: Path, frames: int = 30, values: int = 258, classes: int = 3, hidden: int = 0, seed: int = 0
) -> Path:
    """(None, frames, values) -> mean over time -> [Dense relu] -> Dense softmax: a valid sequence classifier.

    With `hidden` >= 4 the first kernel has over 1024 weights, so dynamic range quantizes it.
    """
    rng = np.random.default_rng(seed)
    layers = [{"class_name": "GlobalAveragePooling1D", "config": {"name": "pool", "trainable": True, "dtype": "float32",
                                                                  "data_format": "channels_last", "keepdims": False}}]
    weights = {}
    width = values
    if hidden:
        layers.append(_dense("hidden", hidden, "relu"))
        weights["hidden"] = [("kernel:0", rng.normal(0, 1.0, (values, hidden))), ("bias:0", np.zeros(hidden))]
        width = hidden
    layers.append(_dense("dense", classes, "softmax"))
    weights["dense"] = [("kernel:0", rng.normal(0, 2.0, (width, classes))), ("bias:0", np.zeros(classes))]
    return write_keras2_h5(path, [None, frames, values], layers, weights)


def rank2_model(path: Path, values: int = 1662) -> Path:
    """(None, values) -> Dense: not a sequence model (wrong input rank)."""
    weights = {"dense": [("kernel:0", np.zeros((values, 3))), ("bias:0", np.zeros(3))]}
    return write_keras2_h5(path, [None, values], [_dense("dense", 3, "softmax")], weights)
