"""``tf.distribute`` strategies for multi-device (``mirrored``) and multi-machine (``multi_worker``) training."""

from __future__ import annotations

import tensorflow as tf

STRATEGIES = ("none", "mirrored", "multi_worker")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """``none``: the default (one device); ``mirrored``: every local GPU (or CPU); ``multi_worker``:
    synchronous training over the machines listed in ``TF_CONFIG``."""
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"distribution_strategy={name!r} is not valid; choose one of: {', '.join(STRATEGIES)}.")
