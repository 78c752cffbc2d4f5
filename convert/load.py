"""Every tutorial Keras file, opened as a tf-keras (Keras 2) model.

Only tf-keras models convert: a Keras 3 model aborts inside TensorFlow 2.17's MLIR converter
("Failed to infer result type(s)"). tf-keras opens the Keras 2.x `.h5` files but not Keras 3's
("Unrecognized keyword arguments: ['batch_shape']"), and Keras 3 opens neither of the others
("time_major"). So: try tf-keras; else rebuild the network in tf-keras from the file's own
config (translated from Keras 3 where needed) and copy the weights in by layer name. The
rebuilt model gives bit-identical outputs. TensorFlow is imported inside the functions: the
parent process of a conversion only sniffs files and never loads TensorFlow.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from signd.daemon.errors import DataError, require_readable

log = logging.getLogger(__name__)

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

# Keys Keras 3 writes that tf-keras layers reject; none changes what a trained layer computes.
_KERAS3_ONLY = {"build_config", "compile_config", "registered_name", "module", "optional",
                "quantization_config", "shared_object_id", "seed_generator"}
_RNN_CLASSES = {"LSTM", "GRU", "SimpleRNN"}


@dataclass
class LoadedModel:
    """A tf-keras model and how it was obtained."""

    model: Any
    loader: str  # which way worked, for the report
    saved_by: str  # "Keras 2.8.0", from the file's attributes
    failures: list[str] = field(default_factory=list)  # earlier ways and why they failed


def sniff(path: str | os.PathLike[str]) -> str:
    """'h5' or 'keras' from the file's content; DataError for anything else."""
    p = Path(path)
    require_readable(p, "model")
    if p.is_dir():
        raise DataError(f"{p}: not a Keras file (a folder; SavedModel folders are not supported, save as .h5 or .keras)")
    with open(p, "rb") as f:
        head = f.read(8)
    if head == HDF5_SIGNATURE:
        import h5py

        with h5py.File(p, "r") as h:
            if "model_config" not in h.attrs:
                raise DataError(
                    f"{p}: HDF5 file without a model_config (weights only?); save the whole model "
                    "with model.save('action.h5')"
                )
        return "h5"
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as z:
            if "config.json" in z.namelist():
                return "keras"
        raise DataError(f"{p}: not a Keras file (a zip archive without config.json)")
    raise DataError(f"{p}: not a Keras file (expected an HDF5 .h5 or a zipped .keras model)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0][:300]


def _translate(node: Any, key: str = "") -> Any:
    """A Keras 3 config in the shape tf-keras reads (Keras 2 configs pass unchanged)."""
    if isinstance(node, list):
        return [_translate(v, key) for v in node]
    if not isinstance(node, dict):
        return node
    if key == "dtype" and node.get("class_name") in ("DTypePolicy", "Policy"):
        return node["config"]["name"]
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k in _KERAS3_ONLY:
            continue
        # Initializers, regularizers and constraints only matter for training; Keras 3 renamed
        # some of them (OrthogonalInitializer), so the tf-keras defaults stand in.
        if k.endswith(("_initializer", "_regularizer", "_constraint")):
            continue
        if k == "batch_shape":
            k = "batch_input_shape"
        if k == "inbound_nodes":
            v = [_translate_node(n) for n in v]
        out[k] = _translate(v, k)
    if out.get("class_name") in _RNN_CLASSES and isinstance(out.get("config"), dict):
        out["config"].pop("seed", None)
    return out


def _history(arg: Any) -> list[list[Any]]:
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        name, node, index = arg["config"]["keras_history"]
        return [[name, node, index, {}]]
    if isinstance(arg, list):
        return [h for a in arg for h in _history(a)]
    return []


def _translate_node(node: Any) -> Any:
    # Keras 3 writes {"args": [keras tensors], "kwargs": {...}}; tf-keras wants [[layer, node, index, kwargs]].
    if isinstance(node, dict) and "args" in node:
        return _history(node["args"])
    return node


def _tf_keras_from_config(config: dict[str, Any]) -> Any:
    import tf_keras

    return tf_keras.models.model_from_json(json.dumps(_translate(config)))


def _weights_from_h5(model: Any, path: Path) -> None:
    import h5py
    import numpy as np

    with h5py.File(path, "r") as h:
        group = h.get("model_weights", h)
        for layer in model.layers:
            if not layer.weights:
                continue
            if layer.name not in group:
                raise DataError(f"{path}: no weights for layer {layer.name!r} in the file")
            g = group[layer.name]
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in g.attrs["weight_names"]]
            values = [np.asarray(g[n]) for n in names]
            layer.set_weights(values)


def _rebuild_from_h5(path: Path) -> Any:
    import h5py

    with h5py.File(path, "r") as h:
        raw = h.attrs["model_config"]
    config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    model = _tf_keras_from_config(config)
    _weights_from_h5(model, path)
    return model


def _rebuild_from_keras3(path: Path) -> Any:
    import keras

    k3 = keras.saving.load_model(path, compile=False)
    return rebuild_keras3(k3)


def rebuild_keras3(k3: Any) -> Any:
    """A Keras 3 model as an equivalent tf-keras model (same config, same weights)."""
    import keras

    config = json.loads(json.dumps(keras.saving.serialize_keras_object(k3)))
    model = _tf_keras_from_config(config)
    by_name = {layer.name: layer for layer in k3.layers}
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(by_name[layer.name].get_weights())
    return model


def _saved_by(path: Path, kind: str) -> str:
    try:
        if kind == "h5":
            import h5py

            with h5py.File(path, "r") as h:
                v = h.attrs.get("keras_version")
            v = v.decode() if isinstance(v, bytes) else v
        else:
            with zipfile.ZipFile(path) as z:
                v = json.loads(z.read("metadata.json")).get("keras_version")
    except (OSError, KeyError, ValueError):
        v = None
    return f"Keras {v}" if v else "Keras (version not recorded)"


def load_keras(path: str | os.PathLike[str]) -> LoadedModel:
    """Open any tutorial `.h5` (Keras 2.4 to 3.x) or `.keras` as a tf-keras model."""
    import tf_keras

    p = Path(path)
    kind = sniff(p)
    ways: list[tuple[str, Any]] = [("tf-keras load_model", lambda: tf_keras.models.load_model(p, compile=False))]
    if kind == "h5":
        ways.append(("rebuilt in tf-keras from model_config + h5py weights", lambda: _rebuild_from_h5(p)))
    else:
        ways.append(("Keras 3 load_model, rebuilt in tf-keras", lambda: _rebuild_from_keras3(p)))
    failures: list[str] = []
    for name, way in ways:
        try:
            model = way()
        except DataError:
            raise
        except Exception as exc:  # each Keras raises its own types for files it cannot read
            failures.append(f"{name}: {_first_line(exc)}")
            log.debug("%s failed on %s", name, p, exc_info=True)
            continue
        return LoadedModel(model, name, _saved_by(p, kind), failures)
    raise DataError(f"{p}: no loader could open this Keras file ({'; '.join(failures)})")


def check_shapes(model: Any, where: str) -> tuple[tuple[int, int], int]:
    """((frames, values), outputs) of a sequence classifier; DataError naming what is wrong."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise DataError(
            f"{where}: model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; expected 1 and 1"
        )
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 3:
        raise DataError(
            f"{where}: wrong input rank: input shape {list(shape)}; expected (batch, frames, values), "
            "e.g. [None, 30, 1662]"
        )
    if shape[1] is None or shape[2] is None:
        raise DataError(f"{where}: input shape {list(shape)} has no fixed frame count or width")
    out = tuple(model.outputs[0].shape)
    if len(out) != 2 or out[1] is None:
        raise DataError(f"{where}: output shape {list(out)}; expected (batch, classes)")
    return (int(shape[1]), int(shape[2])), int(out[1])


def unrolled(model: Any) -> Any:
    """The same network with its recurrent layers unrolled (same weights).

    int8 calibration crashes on the WHILE loop of a relu LSTM; unrolled, there is no loop.
    """
    import tf_keras

    config = model.get_config()
    layers = config["layers"]
    changed = 0
    for layer in layers:
        if layer["class_name"] in _RNN_CLASSES or layer["class_name"] == "Bidirectional":
            inner = layer["config"].get("layer", {}).get("config", layer["config"])
            inner["unroll"] = True
            changed += 1
    if not changed:
        return model
    cls = tf_keras.Sequential if isinstance(model, tf_keras.Sequential) else tf_keras.Model
    clone = cls.from_config(config)
    clone.set_weights(model.get_weights())
    return clone
