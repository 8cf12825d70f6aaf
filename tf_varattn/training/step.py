"""The training step, owned by the training task (as in Model Garden), apart from the model:
Eq. (8) from :meth:`Seq2Seq.compute_losses` with lambda_KL from its schedule, gradients clipped
element-wise, one optimiser update; and its compiled (optionally replicated) form."""

from __future__ import annotations

import functools
from typing import Optional

import tensorflow as tf

from tf_varattn.ops.graph_function import graph_function
from tf_varattn.training.schedules import kl_weight as kl_weight_schedule

LOGGED = ("loss", "reconstruction", "kl_z", "kl_attention", "kl_weight", "learning_rate")


def logged_terms(config) -> tuple[str, ...]:
    """The terms a run logs at every step: :data:`LOGGED`, and the bag-of-words loss where it is on."""
    return LOGGED + (("bag_of_words",) if config.bow_loss_weight > 0 else ())
BATCH_SIGNATURE = {
    "source_ids": tf.TensorSpec([None, None], tf.int32),
    "source_length": tf.TensorSpec([None], tf.int32),
    "target_ids": tf.TensorSpec([None, None], tf.int32),
    "target_length": tf.TensorSpec([None], tf.int32),
}


def train_step(model, batch, total_steps=None):
    """One optimiser step; lambda_KL follows the schedule of the steps already taken (of
    ``total_steps`` in all: the cyclical schedule needs it).

    Under a ``tf.distribute`` strategy each replica gets part of the global batch: the
    losses are sums over sentences, so the summed replica gradients equal the
    single-device gradient (the L2 term is split across replicas). Gradients are
    clipped element-wise after that sum, as on one device. The returned ``loss`` is this
    replica's share: summed over replicas it is the single-device loss.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    kl_weight = kl_weight_schedule(model.settings, model.optimizer.iterations, total_steps)
    with tf.GradientTape() as tape:
        losses = model.compute_losses(batch, kl_weight, training=True)
        objective_value = losses["loss"] - losses["l2"] * (1.0 - 1.0 / replicas)
    gradients = tape.gradient(objective_value, model.trainable_variables)
    if replicas > 1:
        gradients = tf.distribute.get_replica_context().all_reduce("sum", gradients)
    clip = model.settings.clip_value
    gradients = [tf.clip_by_value(g, -clip, clip) / replicas for g in gradients]
    model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))  # sums over replicas again
    return {**losses, "loss": objective_value, "kl_weight": kl_weight,
            "learning_rate": tf.convert_to_tensor(model.optimizer.learning_rate)}


def make_train_step(model, strategy: Optional[tf.distribute.Strategy] = None, total_steps: Optional[int] = None):
    """The compiled training step (under ``strategy``, default: the current one) of a training
    ``total_steps`` long (needed by the cyclical KL schedule only); under a
    multi-replica strategy it runs on every replica and returns the summed loss and the
    replica-averaged other terms."""
    strategy = strategy or tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync == 1:
        return graph_function(functools.partial(train_step, model, total_steps=total_steps), input_signature=[BATCH_SIGNATURE])

    @graph_function
    def replicated_step(batch):
        logs = strategy.run(train_step, args=(model, batch, total_steps))
        reduced = {name: strategy.reduce("mean", logs[name], axis=None)
                   for name in logged_terms(model.settings) if name != "loss"}
        reduced["loss"] = strategy.reduce("sum", logs["loss"], axis=None)
        return reduced

    return replicated_step
