"""Custom signs: signs taught on the device from a few examples (`signd enroll`), matched
beside the model without TensorFlow."""
