"""The sentence latent z of the VED, Eq. (2)-(3): q(z|x) = N(mu, sigma), KL to N(0, I)."""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def gaussian_kl_per_dimension(mean, log_sigma, prior_mean=None):
    """KL(N(mean, exp(log_sigma)) || N(prior_mean, I)) of each dimension (tfp, analytic)."""
    prior_mean = tf.zeros_like(mean) if prior_mean is None else prior_mean
    posterior = tfd.Normal(loc=mean, scale=tf.exp(log_sigma))
    prior = tfd.Normal(loc=prior_mean, scale=tf.ones_like(mean))
    return tfd.kl_divergence(posterior, prior)


def gaussian_log_ratio(sample, mean, scale, prior_mean=None):
    """log N(sample; mean, scale) - log N(sample; prior_mean, I), summed over the last axis: the
    importance weight's factor of a Gaussian latent drawn from its posterior."""
    prior_mean = tf.zeros_like(mean) if prior_mean is None else prior_mean
    posterior = tfd.Normal(loc=mean, scale=scale)
    prior = tfd.Normal(loc=prior_mean, scale=tf.ones_like(mean))
    return tf.reduce_sum(posterior.log_prob(sample) - prior.log_prob(sample), axis=-1)


def gaussian_kl(mean, log_sigma, prior_mean=None):
    """KL(N(mean, exp(log_sigma)) || N(prior_mean, I)), summed over the last axis (tfp, analytic)."""
    return tf.reduce_sum(gaussian_kl_per_dimension(mean, log_sigma, prior_mean), axis=-1)


def reparameterize(mean, log_sigma, temperature, noise):
    """mean + temperature * noise * exp(log_sigma); temperature 0 gives exactly the mean."""
    return mean + temperature * noise * tf.exp(log_sigma)


@keras.saving.register_keras_serializable(package="tf_varattn")
class GaussianLatent(keras.layers.Layer):
    """mu = Dense(h_N), log sigma = Dense(h_N) (both linear); z = mu + tau * eps * sigma.

    Returns ``(z, mu, log_sigma, kl)`` with ``kl [B]`` = KL(q(z|x) || N(0, I)); with
    ``from_prior`` z is drawn from the prior N(0, I) instead, tau * eps (the bypass probe).
    """

    def __init__(self, latent_dim: int, input_dim: int, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.input_dim, self.seed = latent_dim, input_dim, seed
        self.mean_layer = keras.layers.Dense(latent_dim, name="mean")
        self.log_sigma_layer = keras.layers.Dense(latent_dim, name="log_sigma")
        self.mean_layer.build((None, input_dim))
        self.log_sigma_layer.build((None, input_dim))
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, summary, temperature=1.0, noise=None, from_prior=False):
        mean, log_sigma = self.mean_layer(summary), self.log_sigma_layer(summary)
        if noise is None:
            noise = keras.random.normal(tf.shape(mean), seed=self.seed_generator, dtype=mean.dtype)
        if from_prior:
            z = reparameterize(tf.zeros_like(mean), tf.zeros_like(log_sigma), tf.cast(temperature, mean.dtype), noise)
        else:
            z = reparameterize(mean, log_sigma, tf.cast(temperature, mean.dtype), noise)
        return z, mean, log_sigma, gaussian_kl(mean, log_sigma)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "input_dim": self.input_dim, "seed": self.seed}
