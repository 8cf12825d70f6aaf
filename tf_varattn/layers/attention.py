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

    def attention_weights(self, query, keys, memory_mask, score_offset=None):
        """alpha of Eq. (4) for ``query [..., B, units]`` (one step or ``[T, B, units]``): ``[..., B, S]``."""
        scores = tf.einsum("...bu,bsu->...bs", query, keys)
        if score_offset is not None:
            scores += score_offset
        scores = tf.where(memory_mask, scores, tf.cast(_NEG_INF, scores.dtype))
        return tf.nn.softmax(scores, axis=-1)

    def call(self, query, memory, memory_mask, keys=None, gradient_taps=None):
        """``query [B, units]``, ``memory [B, S, memory_dim]``, ``memory_mask [B, S]`` -> ``(context [B, memory_dim], weights [B, S])``.

        ``gradient_taps``: this step's slice of :meth:`deferred_gradient_taps` (inside a recurrence).
        """
        keys = self.keys(memory) if keys is None else keys
        if gradient_taps is None:
            weights = self.attention_weights(query, keys, memory_mask)
            return tf.einsum("bs,bsd->bd", weights, memory), weights
        score_tap, context_tap = gradient_taps
        weights = self.attention_weights(query, tf.stop_gradient(keys), memory_mask, score_tap)
        context = tf.einsum("bs,bsd->bd", weights, tf.stop_gradient(memory)) + context_tap
        return context, weights

    def deferred_gradient_taps(self, memory, keys, memory_mask, steps):
        """Moves the gradient of ``memory`` and ``keys`` out of a recurrence of ``steps`` attention steps.

        Every step's attention reads the same ``memory [B, S, D]`` and ``keys [B, S, U]``; left to
        automatic differentiation, each backward step writes and accumulates ``[B, S, D]`` and
        ``[B, S, U]`` gradients. Instead, each step reads them without gradient and adds its slice of
        two zero tensors, the taps ``([T, B, S], [T, B, D])``, to its scores and context; the taps'
        gradients are then every step's ``dL/dscores`` and ``dL/dcontext``, and the gradient of
        ``memory`` and ``keys`` is computed once, after the recurrence, as
        ``sum_t alpha_t^T dL/dcontext_t`` and ``sum_t (dL/dscores_t)^T query_t``.

        Returns ``(taps, record_queries)``: pass ``taps[t]`` to step ``t`` and, after the
        recurrence, call ``record_queries(queries [T, B, U])`` with the stacked queries (the
        weights are recomputed from them in one product). Values are unchanged.
        """
        recorded = []

        @tf.custom_gradient
        def taps(memory, keys):
            batch, positions = tf.shape(memory)[0], tf.shape(memory)[1]
            score_taps = tf.zeros([steps, batch, positions], memory.dtype)
            context_taps = tf.zeros([steps, batch, self.memory_dim], memory.dtype)

            def gradient(score_gradients, context_gradients):
                if not recorded:
                    raise RuntimeError("deferred_gradient_taps: call record_queries(queries) after the recurrence.")
                queries = tf.stop_gradient(recorded[0])
                weights = self.attention_weights(queries, keys, memory_mask)
                return (
                    tf.einsum("tbs,tbd->bsd", weights, context_gradients),
                    tf.einsum("tbs,tbu->bsu", score_gradients, queries),
                )

            return (score_taps, context_taps), gradient

        return taps(memory, keys), recorded.append

    def get_config(self):
        return {**super().get_config(), "units": self.units, "memory_dim": self.memory_dim}
