import numpy as np
import pytest
import tensorflow as tf

from tf_varattn.models import objective


def test_attention_kl_last_step_and_sum_use_real_steps_only():
    kl = tf.constant([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    length = tf.constant([2, 4])
    np.testing.assert_array_equal(objective.attention_kl_per_sentence(kl, length, "last_step"), [2.0, 8.0])
    np.testing.assert_array_equal(objective.attention_kl_per_sentence(kl, length, "sum"), [3.0, 26.0])
    with pytest.raises(ValueError, match="last_step, sum"):
        objective.attention_kl_per_sentence(kl, length, "mean")


def test_sentence_losses_by_hand():
    ce_sum, length = tf.constant([6.0, 4.0]), tf.constant([3, 2])
    kl_z, kl_att = tf.constant([2.0, 1.0]), tf.constant([9.0, 4.0])
    total, rec = objective.sentence_losses(ce_sum, length, kl_z, kl_att, 0.5, 0.1, "sentence_mean")
    # reference: CE/|y| + lambda KL_z + gamma lambda KL_att / |y|
    np.testing.assert_allclose(rec, [2.0, 2.0])
    np.testing.assert_allclose(total, [2.0 + 1.0 + 0.1 * 0.5 * 9 / 3, 2.0 + 0.5 + 0.1 * 0.5 * 4 / 2])
    total, rec = objective.sentence_losses(ce_sum, length, kl_z, kl_att, 0.5, 0.1, "sum")
    # summed ELBO: CE + lambda (KL_z + gamma KL_att)
    np.testing.assert_allclose(rec, [6.0, 4.0])
    np.testing.assert_allclose(total, [6.0 + 0.5 * (2.0 + 0.9), 4.0 + 0.5 * (1.0 + 0.4)])


def test_l2_penalty_skips_biases_and_layer_norm_shifts():
    import keras

    kernel = keras.Variable(np.array([[1.0, 2.0]]), name="kernel")
    bias = keras.Variable(np.array([10.0]), name="bias")
    beta = keras.Variable(np.array([10.0]), name="gate_beta")
    gamma = keras.Variable(np.array([3.0]), name="gate_gamma")
    assert float(objective.l2_penalty([kernel, bias, beta, gamma], 0.001)) == pytest.approx(0.001 * (1 + 4 + 9) / 2)
