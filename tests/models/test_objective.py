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


def test_free_bits_floors_each_dimension_batch_mean_and_has_no_gradient_below_it():
    kl = tf.Variable([[0.05, 0.5, 0.3], [0.15, 0.7, 0.1]])
    with tf.GradientTape() as tape:
        term = objective.free_bits_kl(kl, 0.2)
        total = tf.reduce_sum(term)
    # batch means 0.1, 0.6, 0.2 -> max(0.2, .) = 0.2 + 0.6 + 0.2 = 1.0 for each of the two sentences
    np.testing.assert_allclose(term, [1.0, 1.0], rtol=1e-6)
    gradient = tape.gradient(total, kl).numpy()
    np.testing.assert_allclose(gradient[:, 0], [0.0, 0.0])  # below the floor: no gradient
    np.testing.assert_allclose(gradient[:, 1], [1.0, 1.0])  # above it: the plain KL's (2 sentences x 1/2)
    np.testing.assert_allclose(objective.free_bits_kl(kl, 0.0), [0.85, 0.95], rtol=1e-6)  # off: plain KL_z


def test_bag_of_words_loss_by_hand():
    log_probs = tf.math.log(tf.constant([[0.1, 0.2, 0.3, 0.05, 0.35], [0.5, 0.1, 0.1, 0.2, 0.1]]))
    target_ids = tf.constant([[2, 4, 2, 3, 0], [1, 3, 0, 0, 0]])
    length = tf.constant([4, 2])
    # Sentence 1: words 2, 4, 2 (3 = EOS left out); order ignored, repeats count. Sentence 2: word 1.
    expected_sum = [-(2 * np.log(0.3) + np.log(0.35)), -np.log(0.1)]
    np.testing.assert_allclose(objective.bag_of_words_loss(log_probs, target_ids, length, "sum", ignored_ids=(3,)),
                               expected_sum, rtol=1e-6)
    np.testing.assert_allclose(
        objective.bag_of_words_loss(log_probs, target_ids, length, "sentence_mean", ignored_ids=(3,)),
        [expected_sum[0] / 4, expected_sum[1] / 2], rtol=1e-6)
    shuffled = tf.constant([[4, 2, 2, 3, 1], [1, 3, 4, 4, 4]])  # another order, other padding
    np.testing.assert_allclose(objective.bag_of_words_loss(log_probs, shuffled, length, "sum", ignored_ids=(3,)),
                               expected_sum, rtol=1e-6)
