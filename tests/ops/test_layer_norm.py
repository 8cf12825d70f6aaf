import numpy as np
import tensorflow as tf

from tf_varattn.ops.layer_norm import layer_norm as tf_layer_norm


def layer_norm(x, gamma, beta, eps=1e-5):
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * gamma + beta


def test_layer_norm_value_and_hand_written_gradient_match_numpy_and_finite_differences():
    rng = np.random.default_rng(3)
    x, gamma, beta = rng.normal(size=(3, 2, 5)), rng.normal(size=5), rng.normal(size=5)
    upstream = rng.normal(size=(3, 2, 5))
    np.testing.assert_allclose(tf_layer_norm(x, gamma, beta), layer_norm(x, gamma, beta), rtol=1e-10, atol=1e-12)
    # The hand-written gradient of the normalisation against central differences of the numpy formula.
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(tf_layer_norm(xt, gamma, beta) * upstream)
    gradient = tape.gradient(loss, xt).numpy()
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = 1e-6
        numeric[index] = np.sum((layer_norm(x + step, gamma, beta) - layer_norm(x - step, gamma, beta)) * upstream) / 2e-6
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-8)
    # Rows that differ only by a constant shift normalise identically, so the gradient sums to zero per row.
    np.testing.assert_allclose(gradient.sum(-1), 0.0, atol=1e-10)
