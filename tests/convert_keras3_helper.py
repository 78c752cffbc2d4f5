"""Run as a script: build a Keras 3 model object and hand it to `convert_model`, as training code would.

Its own process because it imports TensorFlow (and Keras 3) next to the converter's API, which is
exactly the situation of the models issue's training script. Prints the report as JSON.
"""

from __future__ import annotations

import json
import sys

import keras
import numpy as np

from signd.convert.converter import convert_model


def main(out: str) -> int:
    keras.utils.set_random_seed(0)
    inp = keras.Input((30, 258))
    x = keras.layers.GRU(8)(inp)
    x = keras.layers.Dense(8, activation="relu")(x)
    out_layer = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inp, out_layer, name="tiny_gru")
    probe = np.random.default_rng(0).random((2, 30, 258), dtype=np.float32)
    report = convert_model(model, out, labels=["a", "b", "c"], progress=False, extra={"trained_by": "helper"})
    print(json.dumps({"report": report.to_dict(), "keras_outputs": np.asarray(model(probe)).tolist(),
                      "probe": probe.tolist()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
