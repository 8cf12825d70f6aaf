"""The output projection's softmax cross-entropy fused with XLA and a hand-written gradient
(the logits [N, V] are never kept for the backward pass). Tested against plain TensorFlow's
loss and gradients in ``tests/ops/test_fused_cross_entropy.py``."""

from __future__ import annotations

import tensorflow as tf


@tf.function(jit_compile=True, reduce_retracing=True)
def _softmax_statistics(logits, labels):
    """One XLA pass over ``logits [N, V]``: ``exp(logits - max)``, its row sums and the cross-entropy."""
    logits = tf.cast(logits, tf.float32)
    row_max = tf.reduce_max(logits, axis=1, keepdims=True)
    shifted_exp = tf.exp(logits - row_max)
    row_sum = tf.reduce_sum(shifted_exp, axis=1)
    label_logit = tf.gather(logits, labels, axis=1, batch_dims=1)
    return shifted_exp, row_sum, row_max[:, 0] + tf.math.log(row_sum) - label_logit


@tf.function(jit_compile=True, reduce_retracing=True)
def _softmax_cross_entropy_gradient(shifted_exp, row_sum, labels, upstream, dtype):
    """d CE / d logits = (softmax - one_hot) * upstream, and its column sums (the bias gradient)."""
    one_hot = tf.one_hot(labels, tf.shape(shifted_exp)[1], dtype=tf.float32)
    gradient = (shifted_exp / row_sum[:, None] - one_hot) * upstream[:, None]
    return tf.cast(gradient, dtype), tf.reduce_sum(gradient, axis=0)


def projected_cross_entropy(features, kernel, bias, labels, compute_dtype=tf.float32):
    """``CE_j = -log softmax(features_j W + b)[label_j]`` for ``features [N, D]``, as ``[N]``.

    Equal to ``sparse_softmax_cross_entropy_with_logits(labels, features @ W + b)`` with a
    hand-written gradient: the softmax is exponentiated once (forward) and reused by the
    backward pass, and the element-wise work over the ``[N, V]`` logits runs as two XLA
    fusions while the three matrix products stay with TensorFlow's (oneDNN) kernels. Its cost
    against the unfused ops is measured in ``results/benchmarks.md``.
    """
    @tf.custom_gradient
    def cross_entropy(features, kernel, bias):
        x, w = tf.cast(features, compute_dtype), tf.cast(kernel, compute_dtype)
        logits = tf.nn.bias_add(tf.matmul(x, w), tf.cast(bias, compute_dtype))
        shifted_exp, row_sum, loss = _softmax_statistics(logits, labels)

        def gradient(upstream):
            logits_gradient, bias_gradient = _softmax_cross_entropy_gradient(
                shifted_exp, row_sum, labels, tf.cast(upstream, tf.float32), compute_dtype
            )
            features_gradient = tf.matmul(logits_gradient, w, transpose_b=True)
            kernel_gradient = tf.matmul(x, logits_gradient, transpose_a=True)
            return (
                tf.cast(features_gradient, features.dtype),
                tf.cast(kernel_gradient, kernel.dtype),
                tf.cast(bias_gradient, bias.dtype),
            )

        return loss, gradient

    return cross_entropy(features, kernel, bias)
