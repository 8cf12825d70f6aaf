import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_varattn.layers import DeterministicAttention, VariationalAttention
from test_latent import numpy_kl


@pytest.mark.parametrize("prior", ["zero", "mean"])
def test_kl_matches_closed_form(prior):
    rng = np.random.default_rng(0)
    layer = VariationalAttention(units=6, prior=prior, seed=1)
    context, h_bar = (rng.normal(size=(3, 6)).astype(np.float32) for _ in range(2))
    sample, kl = layer(context, prior_mean=h_bar)
    log_sigma = layer.log_sigma(context)
    hidden = np.tanh(context @ layer.hidden.kernel.numpy() + layer.hidden.bias.numpy())
    expected_log_sigma = hidden @ layer.log_sigma_layer.kernel.numpy() + layer.log_sigma_layer.bias.numpy()
    np.testing.assert_allclose(log_sigma, expected_log_sigma, rtol=1e-5, atol=1e-6)  # Sec. 3.3: exp(Linear(tanh(.)))
    expected = numpy_kl(context, expected_log_sigma, h_bar if prior == "mean" else 0.0)
    np.testing.assert_allclose(kl, expected, rtol=1e-5)


def test_temperature_zero_returns_the_deterministic_context_exactly():
    layer = VariationalAttention(units=4, prior="zero")
    context = tf.random.normal([2, 4])
    sample, _ = layer(context, temperature=0.0)
    np.testing.assert_array_equal(sample, context)
    sampled, _ = layer(context, temperature=1.0)
    assert not np.allclose(sampled, context)


def test_gradients_reach_the_sigma_head_through_the_sample():
    layer = VariationalAttention(units=4, prior="zero", seed=0)
    context = tf.random.normal([2, 4])
    with tf.GradientTape() as tape:
        sample, _ = layer(context, temperature=1.0)
        loss = tf.reduce_sum(sample**2)  # no KL term: the only path to sigma is the sample
    gradients = tape.gradient(loss, [layer.hidden.kernel, layer.log_sigma_layer.kernel])
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)


def test_mean_prior_requires_h_bar_and_bad_prior_is_rejected():
    with pytest.raises(ValueError, match="needs prior_mean"):
        VariationalAttention(units=2, prior="mean")(tf.zeros([1, 2]))
    with pytest.raises(ValueError, match="choose one of: zero, mean"):
        VariationalAttention(units=2, prior="uniform")


def test_given_noise_is_the_reparameterisation_epsilon_and_draws_come_from_the_given_stream():
    layer = VariationalAttention(units=3, prior="zero", seed=0)
    context = tf.random.normal([2, 3])
    noise = layer.draw_noise(4, 2)
    assert noise.shape == (4, 2, 3)
    sample, _ = layer(context, temperature=0.5, noise=noise[1])
    np.testing.assert_allclose(sample, context + 0.5 * noise[1] * tf.exp(layer.log_sigma(context)), rtol=1e-6)
    stream = keras.random.SeedGenerator(7)
    first = layer.draw_noise(4, 2, seed=stream)
    stream.state.assign([7, 0])
    np.testing.assert_array_equal(layer.draw_noise(4, 2, seed=stream), first)


def test_deterministic_attention_is_the_point_mass_with_kl_zero():
    layer = DeterministicAttention(units=3)
    context = tf.random.normal([2, 3])
    used, kl = layer(context, prior_mean=tf.ones([2, 3]), temperature=1.0)
    np.testing.assert_array_equal(used, context)
    np.testing.assert_array_equal(kl, [0.0, 0.0])
    assert layer.draw_noise(4, 2).shape == (4, 2, 0) and not layer.weights
