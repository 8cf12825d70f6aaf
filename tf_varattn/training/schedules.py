"""KL-weight (lambda_KL of Eq. 8) and learning-rate schedules."""

from __future__ import annotations

import math

import tensorflow as tf

from tf_varattn.config import Config


def kl_weight(config: Config, completed_steps, total_steps=None) -> tf.Tensor:
    """lambda_KL used by the next training step, given how many steps have completed.

    ``capped_tanh`` (the reference): 0 before the first step; after step i,
    lambda = round((tanh((i - midpoint) / width) + 1) / 2, 6) while i <= stop_step, then frozen
    (with the defaults it ends at about 0.0474). ``logistic``: 1 / (1 + exp(-(i - midpoint) / width)).
    ``linear``: min(1, i / warmup_steps). ``constant``: ``kl_constant``.
    ``cyclical`` (Fu et al. 2019, Eq. 3): the ``total_steps`` of training in ``kl_cycles`` cycles of
    L = total_steps / kl_cycles steps; with tau = (i mod ceil(L)) / L, lambda = min(1, tau / kl_ramp),
    so every cycle starts at 0 and holds 1 for its last (1 - kl_ramp) share.
    """
    step = tf.cast(completed_steps, tf.float64)
    if config.kl_schedule == "capped_tanh":
        capped = tf.minimum(step, float(config.kl_stop_step))
        value = (tf.tanh((capped - config.kl_midpoint) / config.kl_width) + 1.0) / 2.0
        value = tf.round(value * 1e6) / 1e6
        value = tf.where(step > 0, value, tf.zeros_like(value))
    elif config.kl_schedule == "logistic":
        value = tf.sigmoid((step - config.kl_midpoint) / config.kl_width)
    elif config.kl_schedule == "cyclical":
        if total_steps is None:
            raise ValueError("kl_schedule='cyclical' needs the number of training steps (total_steps).")
        cycle = float(total_steps) / config.kl_cycles
        position = tf.math.floormod(step, float(math.ceil(cycle))) / cycle
        value = tf.minimum(tf.ones_like(step), position / config.kl_ramp)
    elif config.kl_schedule == "linear":
        value = tf.minimum(tf.ones_like(step), step / float(max(config.kl_warmup_steps, 1)))
    else:
        value = tf.constant(config.kl_constant, tf.float64) + 0.0 * step
    return tf.cast(value, tf.float32)


def learning_rate(config: Config, epoch: int) -> float:
    """Adam's rate for 0-based ``epoch``: lr * decay**epoch, never below ``min_learning_rate``."""
    return max(config.learning_rate * config.learning_rate_decay**epoch, config.min_learning_rate)

