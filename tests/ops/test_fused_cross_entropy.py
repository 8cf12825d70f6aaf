import os

import numpy as np
import pytest
import tensorflow as tf

from tf_varattn.ops.fused_cross_entropy import projected_cross_entropy


# ONEDNN_MAX_CPU_ISA=AVX2 on a CPU with bf16 units (running oneDNN as on an AVX2-only CPU) makes any
# bf16 tf.matmul crash TensorFlow: TensorFlow picks oneDNN's bf16 kernel from the CPU, oneDNN refuses it.
ISA_CAPPED_BELOW_BF16 = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper() not in ("ALL", "DEFAULT") and not any(
    unit in os.environ["ONEDNN_MAX_CPU_ISA"].upper() for unit in ("BF16", "AMX", "AVX10"))


@pytest.mark.parametrize("compute_dtype, tolerance", [
    (tf.float32, 1e-5),
    pytest.param(tf.bfloat16, 3e-2, marks=pytest.mark.skipif(
        ISA_CAPPED_BELOW_BF16, reason="bf16 tf.matmul crashes TensorFlow under ONEDNN_MAX_CPU_ISA without bf16")),
])
def test_projected_cross_entropy_matches_tensorflow_loss_and_gradients(compute_dtype, tolerance):
    rng = np.random.default_rng(3)
    features = tf.constant(rng.normal(size=(37, 8)), tf.float32)
    kernel = tf.constant(rng.normal(size=(8, 50)), tf.float32)
    bias = tf.constant(rng.normal(size=(50,)), tf.float32)
    labels = tf.constant(rng.integers(0, 50, size=37), tf.int32)
    weights = tf.constant(rng.uniform(size=37), tf.float32)  # a non-uniform upstream gradient

    def loss_and_gradients(function):
        with tf.GradientTape() as tape:
            tape.watch([features, kernel, bias])
            per_token = function()
            total = tf.reduce_sum(per_token * weights)
        return [per_token] + tape.gradient(total, [features, kernel, bias])

    def cast(t):
        return tf.cast(tf.cast(t, compute_dtype), tf.float32)

    expected = loss_and_gradients(
        lambda: tf.nn.sparse_softmax_cross_entropy_with_logits(labels, cast(features) @ cast(kernel) + cast(bias))
    )
    fused = loss_and_gradients(
        lambda: projected_cross_entropy(features, kernel, bias, labels, compute_dtype=compute_dtype)
    )
    for name, want, got in zip(["loss", "d features", "d kernel", "d bias"], expected, fused):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tolerance, atol=tolerance, err_msg=name)
