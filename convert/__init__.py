"""Keras -> verified TFLite: `signd.convert.converter.convert_model` and `signd convert`.

TensorFlow is imported only in the converter's child processes (and by a caller that hands
over a model object), so nothing in the runtime imports this package. See docs/convert.md.
"""
