"""Keras -> verified TFLite. Imports TensorFlow, so nothing in the runtime imports this package."""
