import numpy as np
import tensorflow as tf

from tf_varattn.layers import GaussianLatent, gaussian_kl


def numpy_kl(mean, log_sigma, prior_mean=0.0):
    """Closed form KL(N(mu, sigma^2) || N(m, 1)) = sum 0.5 * (sigma^2 + (mu - m)^2 - 1) - log sigma."""
    return np.sum(0.5 * (np.exp(2 * log_sigma) + (mean - prior_mean) ** 2 - 1) - log_sigma, axis=-1)


def test_gaussian_kl_matches_closed_form_for_both_priors():
    rng = np.random.default_rng(1)
    mean, log_sigma, prior = (rng.normal(size=(4, 6)).astype(np.float32) for _ in range(3))
    np.testing.assert_allclose(gaussian_kl(mean, log_sigma), numpy_kl(mean, log_sigma), rtol=1e-5)
    np.testing.assert_allclose(gaussian_kl(mean, log_sigma, prior), numpy_kl(mean, log_sigma, prior), rtol=1e-5)
    assert float(gaussian_kl(np.zeros((1, 3), np.float32), np.zeros((1, 3), np.float32))[0]) == 0.0


def test_latent_kl_and_reparameterisation():
    rng = np.random.default_rng(2)
    layer = GaussianLatent(latent_dim=5, input_dim=7, seed=3)
    summary = rng.normal(size=(3, 7)).astype(np.float32)
    noise = rng.normal(size=(3, 5)).astype(np.float32)
    z, mean, log_sigma, kl = layer(summary, temperature=0.5, noise=noise)
    expected_mean = summary @ layer.mean_layer.kernel.numpy() + layer.mean_layer.bias.numpy()
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z, mean + 0.5 * noise * np.exp(log_sigma), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(kl, numpy_kl(mean.numpy(), log_sigma.numpy()), rtol=1e-5)
    z0, mean0, _, _ = layer(summary, temperature=0.0)
    np.testing.assert_array_equal(z0, mean0)


def test_latent_samples_differ_and_config_roundtrips():
    layer = GaussianLatent(latent_dim=4, input_dim=2, seed=0)
    summary = tf.ones([2, 2])
    assert not np.allclose(layer(summary)[0], layer(summary)[0])
    clone = GaussianLatent.from_config(layer.get_config())
    assert (clone.latent_dim, clone.input_dim, clone.seed) == (4, 2, 0)
