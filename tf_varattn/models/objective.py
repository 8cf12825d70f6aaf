"""The training objective, Eq. (8): J = J_rec + lambda_KL * (KL_z + gamma_a * KL_att).

Two switches (``docs/reference-code.md``, "Training"):

* ``attention_kl``: ``"sum"`` sums KL_att over the decoding steps (Eq. 8 as written);
  ``"last_step"`` keeps only the KL of each sentence's last step, the behaviour of the
  code that produced the published numbers.
* ``loss_reduction``: ``"sentence_mean"`` is the reference's per sentence
  ``mean_j CE_j + lambda * KL_z + gamma_a * lambda * KL_att / |y|``; ``"sum"`` is the
  plain negative ELBO ``sum_j CE_j + lambda * (KL_z + gamma_a * KL_att)``.

Both sum the per-sentence terms over the batch.

Two remedies for a collapsed z, off by default (:func:`free_bits_kl`, :func:`bag_of_words_loss`).
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


def l2_penalty(variables, weight: float, layer_norm_shifts: bool = False):
    """``weight * sum(w**2) / 2`` over the variables that are not biases (nor layer-norm shifts,
    unless ``layer_norm_shifts``: the released code penalised every variable but biases)."""
    exempt = ("bias",) if layer_norm_shifts else ("bias", "beta")
    penalised = [v for v in variables if not any(part in v.path for part in exempt)]
    if not penalised or weight == 0:
        return tf.constant(0.0)
    return weight * tf.add_n([tf.nn.l2_loss(v) for v in penalised])


def free_bits_kl(kl_z_per_dimension, free_bits: float):
    """Free bits (Kingma et al. 2016, Eq. 15): ``kl_z_per_dimension [B, K]`` -> the KL_z term ``[B]``
    of each sentence, sum_i max(free_bits, mean over the batch of KL_i), the same for every sentence
    (so the batch sums to B times it). A dimension under the floor gets no gradient; 0 is plain KL_z."""
    kl = kl_z_per_dimension
    if free_bits <= 0:
        return tf.reduce_sum(kl, axis=-1)
    floored = tf.reduce_sum(tf.maximum(tf.reduce_mean(kl, axis=0), tf.cast(free_bits, kl.dtype)))
    return tf.fill(tf.shape(kl)[:1], floored)


def bag_of_words_loss(word_log_probs, target_ids, target_length, reduction: str, ignored_ids=()):
    """The bag-of-words loss ``[B]`` (Zhao et al. 2017, Eq. 8's L_bow): -sum over the real target
    tokens (``ignored_ids``, e.g. EOS, left out) of log p(y_t | z) from ``word_log_probs [B, V]``;
    divided by the target length under the ``sentence_mean`` reduction, as the reconstruction is."""
    mask = tf.sequence_mask(target_length, tf.shape(target_ids)[1])
    for ignored in ignored_ids:
        mask = tf.logical_and(mask, tf.not_equal(target_ids, ignored))
    picked = tf.gather(word_log_probs, target_ids, axis=1, batch_dims=1)
    loss = -tf.reduce_sum(tf.where(mask, picked, tf.zeros_like(picked)), axis=1)
    if reduction == "sentence_mean":
        return loss / tf.cast(target_length, loss.dtype)
    if reduction == "sum":
        return loss
    raise ValueError(f"loss_reduction={reduction!r} is not valid; choose one of: sentence_mean, sum.")
