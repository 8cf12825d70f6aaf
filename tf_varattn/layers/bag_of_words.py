"""The bag-of-words predictor from z (Zhao et al. 2017, Sec. 3.2): a remedy for a collapsed latent.

A small network reads z alone and predicts the target's words with their order ignored,
f = Dense(tanh(Dense(z))), log p(y_t | z) = log softmax(f)[y_t]; its loss -sum_t log p(y_t | z)
can only be lowered by putting information about the target into z.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tf_varattn")
class BagOfWords(keras.layers.Layer):
    """``call(z [B, latent_dim]) -> log p(word | z) [B, vocab_size]`` (one softmax over the vocabulary)."""

    def __init__(self, vocab_size: int, hidden_units: int, latent_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.hidden_units, self.latent_dim = vocab_size, hidden_units, latent_dim
        self.hidden = keras.layers.Dense(hidden_units, activation="tanh", name="hidden")
        self.output_layer = keras.layers.Dense(vocab_size, name="logits")
        self.hidden.build((None, latent_dim))
        self.output_layer.build((None, hidden_units))

    def call(self, z):
        return tf.nn.log_softmax(self.output_layer(self.hidden(z)), axis=-1)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "hidden_units": self.hidden_units,
                "latent_dim": self.latent_dim}
