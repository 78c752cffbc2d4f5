"""The networks `signd train` can build, as tf_keras (Keras 2) models.

Keras 2, not Keras 3: TensorFlow 2.17's TFLite converter aborts on Keras 3 models, and the
tutorial's own `.h5` files are Keras 2.

- `tutorial`: the seed's exact network on raw 30 x 1662 keypoints (relu LSTMs 64/128/64,
  Dense 64/32/softmax), kept as the yardstick; `tutorial-258` is the same network on pose +
  hands (what tutorial followers without the face mesh train, and the only way to compare on
  signers recorded without the face).
- `default`: built to generalise to new signers and to stay tiny on a Pi. Each frame's
  features go through a small per-frame layer; the window is then summarised by the mean and
  the maximum of every channel over time, for the whole window and for each of its halves,
  so the order of the movement (where it starts, where it ends) is kept; a small dense head
  decides; a fixed rule then asks rest for stronger evidence when hands are in view
  (`set_rest_penalty`). Only builtin TFLite ops that old runtimes know (FULLY_CONNECTED,
  MEAN, REDUCE_MAX, SLICE, CONCATENATION, ADD, SOFTMAX); no recurrence, so no WHILE loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ARCHITECTURES = ("default", "tutorial", "tutorial-258")
# The default network: three small members whose probabilities are averaged (their errors on
# a new signer differ, so the average is steadier than any one: docs/models.md has the LOSO
# figures of one member against three).
MEMBERS = 3
INPUT_DROPOUT = 0.2
# 30, not 32: keeps the float16 file under 100,000 bytes (32 did not; docs/models.md).
WIDTH = 30
HIDDEN = 32
LEARNING_RATE = 2e-3


@dataclass(frozen=True)
class ArchSpec:
    """What an architecture eats (keypoint layout and feature set) and which network it is."""

    layout: str
    features: str
    network: str  # "default" or "tutorial"


SPECS: dict[str, ArchSpec] = {
    "tutorial": ArchSpec("tutorial-1662", "raw", "tutorial"),
    "tutorial-258": ArchSpec("pose-hands-258", "raw", "tutorial"),
    "default": ArchSpec("pose-hands-258", "signd-v1", "default"),
}


def is_tutorial(arch: str) -> bool:
    """The seed's LSTM (no augmentation, no rest class), on whichever layout."""
    return spec(arch).network == "tutorial"


def spec(arch: str) -> ArchSpec:
    if arch not in SPECS:
        raise KeyError(f"unknown architecture {arch!r} (known: {', '.join(ARCHITECTURES)})")
    return SPECS[arch]


def build_tutorial(window: int, dim: int, classes: int) -> Any:
    """The tutorial's network, layer for layer."""
    import tf_keras as keras

    model = keras.Sequential([
        keras.layers.LSTM(64, return_sequences=True, activation="relu", input_shape=(window, dim)),
        keras.layers.LSTM(128, return_sequences=True, activation="relu"),
        keras.layers.LSTM(64, return_sequences=False, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(classes, activation="softmax"),
    ])
    model.compile(optimizer="Adam", loss="categorical_crossentropy", metrics=["categorical_accuracy"])
    return model


def _member(x: Any, window: int, width: int, hidden: int, dropout: float, tag: str) -> Any:
    """One per-frame layer + pooling + dense head, ending in softmax probabilities."""
    import tf_keras as keras

    L = keras.layers
    f = L.Dense(width, activation="relu", name=f"frame{tag}")(x)
    half = window // 2
    parts = []
    for name, seg in (("all", f), ("first", L.Cropping1D((0, window - half), name=f"first_half{tag}")(f)),
                      ("second", L.Cropping1D((half, 0), name=f"second_half{tag}")(f))):
        parts += [L.GlobalAveragePooling1D(name=f"mean_{name}{tag}")(seg),
                  L.GlobalMaxPooling1D(name=f"max_{name}{tag}")(seg)]
    h = L.Concatenate(name=f"pooled{tag}")(parts)
    h = L.Dropout(dropout)(h)
    h = L.Dense(hidden, activation="relu", name=f"hidden{tag}")(h)
    h = L.Dropout(dropout)(h)
    return h


def build_default(window: int, dim: int, classes: int, mean: np.ndarray, std: np.ndarray,
                  width: int = WIDTH, hidden: int = HIDDEN, dropout: float = 0.3,
                  input_dropout: float = INPUT_DROPOUT, members: int = MEMBERS,
                  learning_rate: float = LEARNING_RATE, hand_column: int | None = None) -> Any:
    """`members` x (per-frame Dense(width) -> mean and max pooling over the window and each of
    its halves -> Dense(hidden) -> logits -> softmax), probabilities averaged. `mean`/`std`
    (dim,) standardise the features inside the model; `input_dropout` drops whole feature
    values so that no single cue (one landmark, one position) decides alone.

    With `hand_column` (the input feature that is 1 where a hand was seen), every member's
    logits also get `hand share x kernel` added, from a fixed layer `hand_prior` that is zero
    while training: `set_rest_penalty` later makes rest need stronger evidence when hands are
    in view (see there). Standard layers only, so the saved `.h5` loads anywhere without
    custom code."""
    import tf_keras as keras

    L = keras.layers
    inp = keras.Input((window, dim), name="features")
    x = L.Normalization(mean=mean.astype("float32"), variance=np.square(std).astype("float32"),
                        name="standardise")(inp)
    if input_dropout:
        x = L.Dropout(input_dropout, name="input_dropout")(x)
    prior = None
    if hand_column is not None:
        # Weights set below, not by an initializer: an array in the config does not survive
        # the `.h5` that `signd convert` reads back.
        pick_layer = L.Dense(1, use_bias=False, trainable=False, name="hand_seen",
                             kernel_initializer="zeros")
        seen = pick_layer(inp)
        share = L.GlobalAveragePooling1D(name="hand_share")(seen)
        prior = L.Dense(classes, use_bias=False, trainable=False, name="hand_prior",
                        kernel_initializer="zeros")(share)
    outs = []
    for m in range(members):
        tag = f"_{m}" if members > 1 else ""
        h = _member(x, window, width, hidden, dropout, tag)
        if prior is None:
            outs.append(L.Dense(classes, activation="softmax", name=f"probs{tag}")(h))
            continue
        z = L.Dense(classes, name=f"logits{tag}")(h)
        z = L.Add(name=f"logits_prior{tag}")([z, prior])
        outs.append(L.Activation("softmax", name=f"probs{tag}")(z))
    out = outs[0] if members == 1 else L.Average(name="probs")(outs)
    model = keras.Model(inp, out, name="signd_default")
    if hand_column is not None:
        pick = np.zeros((dim, 1), np.float32)
        pick[hand_column, 0] = 1.0
        pick_layer.set_weights([pick])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="categorical_crossentropy", metrics=["categorical_accuracy"])
    return model


def member_trainer(model: Any, learning_rate: float = LEARNING_RATE) -> Any:
    """What `fit` trains for a model of several members: the same layers, one output and one
    loss per member, so that every member learns every class on its own.

    Trained through their average instead, the members divided the classes among themselves
    (in the grouped cross-validation one member of three never once said `help` and two
    rarely said `goodbye`, leaving those signs at 2 of 3 votes, 0.67, below any threshold):
    the loss of the average is already low when two of three agree. A one-member model is
    its own trainer."""
    import tf_keras as keras

    names = sorted(layer.name for layer in model.layers if layer.name.startswith("probs_"))
    if not names:
        return model
    trainer = keras.Model(model.inputs, [model.get_layer(n).output for n in names], name="signd_members")
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate),
                    loss=["categorical_crossentropy"] * len(names))
    return trainer


def set_rest_penalty(model: Any, rest_index: int, penalty: float) -> None:
    """Lower the rest logit of every member by `penalty` x (share of the window's frames in
    which a hand was seen). A decision rule on top of the trained network: rest means hands
    down or absent, so a window full of hands needs a clearly stronger case for rest than
    one without; a window without hands is judged as trained."""
    layer = model.get_layer("hand_prior")
    kernel = np.zeros(layer.get_weights()[0].shape, np.float32)
    kernel[0, rest_index] = -float(penalty)
    layer.set_weights([kernel])


def rest_penalty(model: Any, rest_index: int) -> float:
    """The penalty `set_rest_penalty` set (0 when the model has no hand prior)."""
    try:
        layer = model.get_layer("hand_prior")
    except ValueError:
        return 0.0
    return float(-layer.get_weights()[0][0, rest_index])
