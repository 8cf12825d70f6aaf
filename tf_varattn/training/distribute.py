"""``tf.distribute`` strategies for multi-device (``mirrored``) and multi-machine (``multi_worker``) training."""

from __future__ import annotations

import tensorflow as tf

STRATEGIES = ("none", "mirrored", "multi_worker")


# A worker that stops answering makes the others fail after this long instead of waiting forever.
COLLECTIVE_TIMEOUT_SECONDS = 300.0


def make_strategy(name: str, collective_timeout_seconds: float = COLLECTIVE_TIMEOUT_SECONDS) -> tf.distribute.Strategy:
    """``none``: the default (one device); ``mirrored``: every local GPU (or CPU); ``multi_worker``:
    synchronous training over the machines listed in ``TF_CONFIG``, each collective operation
    bounded by ``collective_timeout_seconds``."""
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=collective_timeout_seconds)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise ValueError(f"distribution_strategy={name!r} is not valid; choose one of: {', '.join(STRATEGIES)}.")


class ClusterError(RuntimeError):
    """A worker of a multi-worker run stopped answering; the message says what to do."""


def cluster_failure(error: Exception) -> ClusterError:
    """The clear form of a collective operation aborted because a worker died or hung."""
    detail = next((line.strip() for line in str(error).splitlines() if "unhealthy" in line or "timed out" in line.lower()),
                  str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
    return ClusterError(f"another worker of the cluster stopped answering ({detail[:300]}). Restart every worker with "
                        "the same command: each resumes from the last checkpoint.")
