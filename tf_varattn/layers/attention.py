"""Deterministic attention, Eq. (4)-(5): Luong's bilinear ("general") score."""

from __future__ import annotations

import keras
import tensorflow as tf

_NEG_INF = -1e9


def masked_mean(memory: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean of ``memory [B, S, D]`` over the positions where ``mask [B, S]`` is true: h̄ of Sec. 3.2."""
    weights = tf.cast(mask, memory.dtype)[:, :, None]
    return tf.reduce_sum(memory * weights, axis=1) / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="tf_varattn")
class BilinearAttention(keras.layers.Layer):
    """alpha_ji = softmax_i(h_tar_j^T W h_src_i) over the real source positions (Eq. 4);
    a_j = sum_i alpha_ji h_src_i (Eq. 5).

    ``W`` maps the ``memory_dim``-d source states to the ``units``-d query space. The
    projected memory (``keys``) does not depend on the step, so callers compute it
    once per sequence with :meth:`keys` and pass it to every step.
    """

    def __init__(self, units: int, memory_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.units, self.memory_dim = units, memory_dim
        self.memory_kernel = self.add_weight(
            name="memory_kernel", shape=(memory_dim, units), initializer="glorot_uniform"
        )

    def keys(self, memory: tf.Tensor) -> tf.Tensor:
        """``W h_src`` for every source position: ``[B, S, units]``."""
        return tf.einsum("bsd,du->bsu", memory, self.memory_kernel)

    def scores(self, query, keys, memory_mask, score_offset=None):
        """h_tar_j^T W h_src_i for ``query [..., B, units]`` (one step or ``[T, B, units]``):
        ``[..., B, S]``, a large negative number at padded positions."""
        scores = tf.einsum("...bu,bsu->...bs", query, keys)
        if score_offset is not None:
            scores += score_offset
        return tf.where(memory_mask, scores, tf.cast(_NEG_INF, scores.dtype))

    def attention_weights(self, query, keys, memory_mask, score_offset=None):
        """alpha of Eq. (4) for ``query [..., B, units]`` (one step or ``[T, B, units]``): ``[..., B, S]``."""
        return tf.nn.softmax(self.scores(query, keys, memory_mask, score_offset), axis=-1)

    def call(self, query, memory, memory_mask, keys=None, gradient_taps=None):
        """``query [B, units]``, ``memory [B, S, memory_dim]``, ``memory_mask [B, S]`` -> ``(context [B, memory_dim], weights [B, S])``.

        ``gradient_taps``: this step's slice of :func:`tf_varattn.ops.gradient_taps.deferred_gradient_taps`
        (inside a recurrence: the memory's gradient is then computed once, after it).
        """
        keys = self.keys(memory) if keys is None else keys
        if gradient_taps is None:
            weights = self.attention_weights(query, keys, memory_mask)
            return tf.einsum("bs,bsd->bd", weights, memory), weights
        score_tap, context_tap = gradient_taps
        weights = self.attention_weights(query, tf.stop_gradient(keys), memory_mask, score_tap)
        context = tf.einsum("bs,bsd->bd", weights, tf.stop_gradient(memory)) + context_tap
        return context, weights

    def get_config(self):
        return {**super().get_config(), "units": self.units, "memory_dim": self.memory_dim}
