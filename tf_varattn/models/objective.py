"""The training objective, Eq. (8): J = J_rec + lambda_KL * (KL_z + gamma_a * KL_att).

Two switches (``docs/reference-notes.md``, "Training"):

* ``attention_kl``: ``"sum"`` sums KL_att over the decoding steps (Eq. 8 as written);
  ``"last_step"`` keeps only the KL of each sentence's last step, the behaviour of the
  code that produced the published numbers.
* ``loss_reduction``: ``"sentence_mean"`` is the reference's per sentence
  ``mean_j CE_j + lambda * KL_z + gamma_a * lambda * KL_att / |y|``; ``"sum"`` is the
  plain negative ELBO ``sum_j CE_j + lambda * (KL_z + gamma_a * KL_att)``.

Both sum the per-sentence terms over the batch.
"""

from __future__ import annotations

import tensorflow as tf


def attention_kl_per_sentence(kl_per_step, target_length, mode: str):
    """``kl_per_step [B, T]`` -> ``[B]``: the last real step's KL or the sum over real steps."""
    if mode == "last_step":
        return tf.gather(kl_per_step, target_length - 1, axis=1, batch_dims=1)
    if mode == "sum":
        mask = tf.sequence_mask(target_length, tf.shape(kl_per_step)[1], kl_per_step.dtype)
        return tf.reduce_sum(kl_per_step * mask, axis=1)
    raise ValueError(f"attention_kl={mode!r} is not valid; choose one of: last_step, sum.")


def sentence_losses(cross_entropy_sum, target_length, kl_z, kl_attention, kl_weight, gamma_a, reduction: str):
    """Per-sentence objective ``[B]`` and its reconstruction part ``[B]`` (see module docstring)."""
    length = tf.cast(target_length, cross_entropy_sum.dtype)
    if reduction == "sentence_mean":
        reconstruction = cross_entropy_sum / length
        total = reconstruction + kl_weight * kl_z + gamma_a * kl_weight * kl_attention / length
    elif reduction == "sum":
        reconstruction = cross_entropy_sum
        total = reconstruction + kl_weight * (kl_z + gamma_a * kl_attention)
    else:
        raise ValueError(f"loss_reduction={reduction!r} is not valid; choose one of: sentence_mean, sum.")
    return total, reconstruction


def l2_penalty(variables, weight: float):
    """``weight * sum(w**2) / 2`` over the variables that are not biases (nor layer-norm shifts)."""
    penalised = [v for v in variables if not any(part in v.path for part in ("bias", "beta"))]
    if not penalised or weight == 0:
        return tf.constant(0.0)
    return weight * tf.add_n([tf.nn.l2_loss(v) for v in penalised])


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
    fusions while the three matrix products stay with TensorFlow's (oneDNN) kernels. On a
    2-core CPU at the paper's sizes this is 1.2x the cost of the matrix products alone,
    against 1.9x for the unfused TensorFlow ops (``results/benchmarks.md``).
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
