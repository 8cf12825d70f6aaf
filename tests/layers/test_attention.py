import numpy as np
import tensorflow as tf

from tf_varattn.layers import BilinearAttention, masked_mean


def test_bilinear_attention_matches_numpy_and_ignores_padding():
    rng = np.random.default_rng(0)
    layer = BilinearAttention(units=3, memory_dim=4)
    query = rng.normal(size=(2, 3)).astype(np.float32)
    memory = rng.normal(size=(2, 5, 4)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    context, weights = layer(query, memory=memory, memory_mask=mask)
    kernel = layer.memory_kernel.numpy()
    scores = np.einsum("bu,bsd,du->bs", query, memory, kernel)  # Eq. (4): h_tar^T W h_src
    scores = np.where(mask, scores, -np.inf)
    expected = np.exp(scores - scores.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(context, np.einsum("bs,bsd->bd", expected, memory), rtol=1e-5, atol=1e-6)  # Eq. (5)
    # Padding is inert: changing padded memory rows changes nothing.
    memory[0, 3:] = 100.0
    context2, _ = layer(query, memory=memory, memory_mask=mask)
    np.testing.assert_allclose(context2[0], context[0], rtol=1e-6)


def test_masked_mean_ignores_padded_positions():
    memory = tf.constant([[[1.0, 2.0], [3.0, 4.0], [50.0, 60.0]]])
    np.testing.assert_allclose(masked_mean(memory, tf.constant([[True, True, False]])), [[2.0, 3.0]])
