"""Gradient taps: the attention memory's gradient computed once after a recurrence instead of at
every step (the speed machinery under the teacher-forced decoder). Equivalence test against plain
automatic differentiation: ``tests/ops/test_gradient_taps.py``."""

from __future__ import annotations

from typing import Callable

import tensorflow as tf


def deferred_gradient_taps(memory, keys, steps, attention_weights: Callable):
    """Moves the gradient of ``memory`` and ``keys`` out of a recurrence of ``steps`` attention steps.

    Every step's attention reads the same ``memory [B, S, D]`` and ``keys [B, S, U]``; left to
    automatic differentiation, each backward step writes and accumulates ``[B, S, D]`` and
    ``[B, S, U]`` gradients. Instead, each step reads them without gradient and adds its slice of
    two zero tensors, the taps ``([T, B, S], [T, B, D])``, to its scores and context; the taps'
    gradients are then every step's ``dL/dscores`` and ``dL/dcontext``, and the gradient of
    ``memory`` and ``keys`` is computed once, after the recurrence, as
    ``sum_t alpha_t^T dL/dcontext_t`` and ``sum_t (dL/dscores_t)^T query_t``.

    ``attention_weights(queries [T, B, U], keys) -> [T, B, S]`` recomputes the weights. Returns
    ``(taps, record_queries)``: pass ``taps[t]`` to step ``t`` (as ``BilinearAttention``'s
    ``gradient_taps``) and, after the recurrence, call ``record_queries(queries [T, B, U])`` with
    the stacked queries (the weights are recomputed from them in one product). Values are unchanged.
    """
    recorded = []

    @tf.custom_gradient
    def taps(memory, keys):
        batch, positions = tf.shape(memory)[0], tf.shape(memory)[1]
        score_taps = tf.zeros([steps, batch, positions], memory.dtype)
        context_taps = tf.zeros([steps, batch, tf.shape(memory)[2]], memory.dtype)

        def gradient(score_gradients, context_gradients):
            if not recorded:
                raise RuntimeError("deferred_gradient_taps: call record_queries(queries) after the recurrence.")
            queries = tf.stop_gradient(recorded[0])
            weights = attention_weights(queries, keys)
            return (
                tf.einsum("tbs,tbd->bsd", weights, context_gradients),
                tf.einsum("tbs,tbu->bsu", score_gradients, queries),
            )

        return (score_taps, context_taps), gradient

    return taps(memory, keys), recorded.append


class TappedAttention:
    """``bilinear`` (:class:`~tf_varattn.layers.BilinearAttention`) as one step of a recurrence sees
    it under :func:`deferred_gradient_taps`: calling it gives the same context and weights, with the
    step's ``taps`` on them. An attention posterior receives it in place of the layer and needs to
    know nothing of the taps; only the softmax context can be tapped, so any other use is refused."""

    def __init__(self, bilinear, taps):
        self._bilinear, self._taps = bilinear, taps

    def __call__(self, query, memory, memory_mask, keys=None):
        return self._bilinear(query, memory=memory, memory_mask=memory_mask, keys=keys, gradient_taps=self._taps)

    def __getattr__(self, name):
        raise AttributeError(f"Gradient taps cover the bilinear softmax context only; this posterior reads "
                             f"`{name}`: register it with draws='weights' so that the decoder is not tapped.")
