"""Gradient taps against plain automatic differentiation: the same values and gradients."""

import numpy as np
import tensorflow as tf

from tf_varattn.layers import BilinearAttention
from tf_varattn.ops.gradient_taps import deferred_gradient_taps


def test_taps_give_the_gradients_of_attention_read_at_every_step():
    rng = np.random.default_rng(0)
    layer = BilinearAttention(units=5, memory_dim=6)
    memory = tf.Variable(rng.normal(size=(3, 4, 6)), dtype=tf.float32)
    mask = tf.constant([[True] * 4, [True, True, False, False], [True, True, True, False]])
    queries = tf.Variable(rng.normal(size=(7, 3, 5)), dtype=tf.float32)
    readout = tf.constant(rng.normal(size=(7, 3, 6)), tf.float32)
    results = []
    for tapped in (False, True):
        with tf.GradientTape() as tape:
            keys = layer.keys(memory)
            if tapped:
                taps, record_queries = deferred_gradient_taps(
                    memory, keys, 7, lambda q, k: layer.attention_weights(q, k, mask))
            loss, used = 0.0, []
            for t in range(7):
                query = queries[t] * (1.0 + 0.1 * t)
                tap = (taps[0][t], taps[1][t]) if tapped else None
                context, _ = layer(query, memory=memory, memory_mask=mask, keys=keys, gradient_taps=tap)
                used.append(query)
                loss += tf.reduce_sum(context * readout[t])
            if tapped:
                record_queries(tf.stack(used))
        results.append([loss] + tape.gradient(loss, [memory, queries, layer.memory_kernel]))
    for plain, deferred in zip(*results):
        np.testing.assert_allclose(deferred, plain, rtol=1e-5, atol=1e-6)
