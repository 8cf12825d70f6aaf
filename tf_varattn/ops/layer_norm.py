"""Layer normalisation with its closed-form gradient (one fused backward pass instead of the
autodiff graph of mean and variance). Tested against numpy and finite differences in
``tests/ops/test_layer_norm.py``."""

from __future__ import annotations

import tensorflow as tf


def layer_norm(x, gamma, beta, epsilon: float = 1e-5):
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` over the last axis (Ba et al., 2016).

    The normalisation has its closed-form gradient, ``dx = (g - mean(g) - x_hat * mean(g * x_hat))
    / sqrt(var + epsilon)`` for ``g = dL/dx_hat``: a third of the operations of the automatic
    gradient of ``tf.nn.moments``, which matters inside recurrences (``results/benchmarks.md``).
    """

    @tf.custom_gradient
    def normalize(x):
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        inverse_std = tf.math.rsqrt(variance + epsilon)
        normalized = (x - mean) * inverse_std

        def gradient(upstream):
            centered = upstream - tf.reduce_mean(upstream, axis=-1, keepdims=True)
            return inverse_std * (centered - normalized * tf.reduce_mean(upstream * normalized, axis=-1, keepdims=True))

        return normalized, gradient

    return normalize(x) * gamma + beta
