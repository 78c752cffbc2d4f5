"""Keras model -> TFLite flatbuffer with builtin ops only.

The tutorial's relu LSTM cannot use TFLite's fused LSTM kernel, and `from_keras_model` leaves
`TensorListReserve` Flex ops that no Pi runtime runs. Tracing a concrete function with a fixed
batch of 1 gives static shapes, so the converter lowers the loop to builtin WHILE ops.
"""

from __future__ import annotations

from typing import Any

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")


def keras_to_tflite(
    model: Any,
    quantize: str = "float32",
    representative: Any = None,
    per_channel_dense: bool = True,
) -> bytes:
    """Convert a tf-keras model with input (None, T, D) to a TFLite flatbuffer (batch fixed to 1).

    `representative` (an iterable of (T, D) float32 arrays) is required for int8.
    `per_channel_dense=False` quantizes dense weights per tensor: dynamic-range
    FULLY_CONNECTED then needs op version 9 instead of 12, which tflite-runtime 2.14 lacks.
    """
    import tensorflow as tf

    if quantize not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantize!r} (known: {', '.join(QUANTIZATIONS)})")
    shape = [1, *[int(d) for d in model.inputs[0].shape[1:]]]

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
    def serve(x: Any) -> Any:
        return model(x, training=False)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int8":
        if representative is None:
            raise ValueError("int8 quantization needs representative windows")
        samples = list(representative)

        def gen() -> Any:
            for s in samples:
                yield [s[None].astype("float32")]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = gen
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if not per_channel_dense:
        # A private switch of TFLiteConverter (TF 2.15+): there is no public one.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    return converter.convert()
