"""Variational attention, Sections 3.2-3.3: the attention vector a_j as a Gaussian random variable."""

from __future__ import annotations

import keras
import tensorflow as tf

from tf_varattn.config import ATTENTION_PRIORS
from tf_varattn.layers import random_draws
from tf_varattn.layers.attention_posterior import AttentionPosterior
from tf_varattn.layers.latent import gaussian_kl, gaussian_log_ratio, reparameterize


@keras.saving.register_keras_serializable(package="tf_varattn")
class VariationalAttention(AttentionPosterior):
    """q(a_j|x) = N(mu_a, sigma_a) with mu_a = a_det_j (identity, Sec. 3.3) and
    sigma_a = exp(Linear(tanh(Dense(a_det_j)))).

    Prior ``"zero"``: N(0, I); ``"mean"``: N(h̄, I), h̄ the mean of the real source states
    (Sec. 3.2). ``call(context, prior_mean, temperature, noise)`` returns ``(a_j sample, kl [B])``
    with a_j = mu_a + temperature * noise * sigma_a; temperature 0 returns the deterministic context.
    """

    def __init__(self, units: int, prior: str = "mean", seed=None, **kwargs):
        super().__init__(units, **kwargs)
        if prior not in ATTENTION_PRIORS:
            raise ValueError(f"prior={prior!r} is not valid; choose one of: {', '.join(ATTENTION_PRIORS)}.")
        self.prior, self.seed = prior, seed
        self.noise_dim = units
        self.hidden = keras.layers.Dense(units, activation="tanh", name="sigma_hidden")
        self.log_sigma_layer = keras.layers.Dense(units, name="log_sigma")
        self.hidden.build((None, units))
        self.log_sigma_layer.build((None, units))
        self.seed_generator = keras.random.SeedGenerator(seed)

    def log_sigma(self, context):
        """log sigma_a = Linear(tanh(Dense(a_det_j))) (Sec. 3.3)."""
        return self.log_sigma_layer(self.hidden(context))

    def draw_noise(self, steps, batch, seed=None):
        """Standard normal draws ``[steps, batch, units]`` (epsilon of the reparameterisation)."""
        return random_draws.normal([steps, batch, self.units], self.seed_generator if seed is None else seed)

    def sample_context(self, context, prior_mean=None, temperature=1.0, noise=None, from_prior=False):
        """``(a_j, kl [B], sigma_a)``: a_j = mu_a + temperature * noise * sigma_a, or with
        ``from_prior`` a draw of the prior, prior mean + temperature * noise."""
        log_sigma = self.log_sigma(context)
        if noise is None:
            noise = keras.random.normal(tf.shape(context), seed=self.seed_generator, dtype=context.dtype)
        if self.prior == "mean" and prior_mean is None:
            raise ValueError("The 'mean' prior needs prior_mean (h̄, the masked mean of the source states).")
        prior_mean = prior_mean if self.prior == "mean" else None
        temperature = tf.cast(temperature, context.dtype)
        if from_prior:
            sample = reparameterize(tf.zeros_like(context) if prior_mean is None else prior_mean,
                                    tf.zeros_like(log_sigma), temperature, noise)
        else:
            sample = reparameterize(context, log_sigma, temperature, noise)
        return sample, gaussian_kl(context, log_sigma, prior_mean), tf.exp(log_sigma)

    def log_density_ratio(self, context, prior_mean, sample, sigma):
        """log N(a_j; mu_a, sigma_a) - log N(a_j; prior mean, I), summed over the dimensions."""
        return gaussian_log_ratio(sample, context, sigma, prior_mean if self.prior == "mean" else None)

    def get_config(self):
        return {**super().get_config(), "prior": self.prior, "seed": self.seed}
