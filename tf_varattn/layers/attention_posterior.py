"""The attention posterior (Sec. 3): the one place where the attention variants differ.

At decoding step j a posterior takes the deterministic context a_det_j (Eq. 5), h̄ (the mean of
the source states, the prior mean of VAttn-h̄) and a temperature, and returns the context the
decoder uses and that step's KL term. The deterministic attention is the posterior with a point
mass at a_det_j and KL 0; :class:`~tf_varattn.layers.VariationalAttention` is the Gaussian one.
A new attention distribution is one subclass and one config value
(:func:`tf_varattn.layers.decoder_cell.make_attention_posterior`).
"""

from __future__ import annotations

import keras
import tensorflow as tf


class AttentionPosterior(keras.layers.Layer):
    """Interface: ``call(context [B, D], prior_mean [B, D], temperature, noise) -> (context used, kl [B])``.

    ``noise`` is this step's slice of :meth:`draw_noise`, the posterior's randomness for every
    step drawn at once (``[steps, batch, noise_dim]``), so that a decoding is reproducible and
    does not depend on which sentences are still running. ``noise=None`` draws it in the call.
    Temperature 0 must give the posterior's mode (MAP decoding).
    """

    noise_dim = 0

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def draw_noise(self, steps, batch, seed=None) -> tf.Tensor:
        """The randomness of ``steps`` decoding steps of ``batch`` sentences, ``[steps, batch, noise_dim]``,
        drawn from ``seed`` (a ``keras.random.SeedGenerator``; default: the layer's own)."""
        return tf.zeros([steps, batch, self.noise_dim])

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="tf_varattn")
class DeterministicAttention(AttentionPosterior):
    """Deterministic attention (Eq. 5): the decoder uses a_det_j itself; no randomness, KL 0."""

    def call(self, context, prior_mean=None, temperature=1.0, noise=None):
        return context, tf.zeros(tf.shape(context)[:1], context.dtype)
