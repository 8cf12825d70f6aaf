"""Random draws from a layer's own stream or from a stateless seed.

``seed`` is a ``keras.random.SeedGenerator`` (a stateful stream: training, evaluation, ``generate``)
or a seed tensor ``[2]`` (int32 or int64): then the draw is a pure function of that seed, so that an
exported model's concurrent requests cannot race on a shared stream (:mod:`tf_varattn.serving`).
"""

from __future__ import annotations

import keras
import tensorflow as tf


def is_stateless(seed) -> bool:
    """Whether ``seed`` is a seed tensor rather than a stream (a ``SeedGenerator``) or None."""
    return seed is not None and not isinstance(seed, keras.random.SeedGenerator)


def fold_in(seed, index: int):
    """A stateless seed derived from ``seed [2]`` and ``index``: one independent seed per use."""
    return tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), index)


def normal(shape, seed, dtype="float32"):
    """Standard normal draws of ``shape`` from ``seed`` (a stream or a seed tensor)."""
    if is_stateless(seed):
        return tf.random.stateless_normal(shape, seed=tf.cast(seed, tf.int64), dtype=dtype)
    return keras.random.normal(shape, seed=seed, dtype=dtype)


def randint(shape, minval: int, maxval: int, seed):
    """Integers in ``[minval, maxval)`` of ``shape`` (int32) from ``seed`` (a stream or a seed tensor)."""
    if is_stateless(seed):
        return tf.random.stateless_uniform(shape, tf.cast(seed, tf.int64), minval, maxval, dtype=tf.int32)
    return keras.random.randint(shape, minval, maxval, seed=seed)
