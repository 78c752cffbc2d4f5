"""Learning and measuring: the feature function shared with the runtime, the model manifest,
training, evaluation and the shipped default model."""
