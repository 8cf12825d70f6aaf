"""Dirichlet attention (beyond the paper; Sec. 3.5 names it as future work): the attention weights
alpha_j themselves are random, on the simplex over the real source positions."""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tf_varattn.config import DIRICHLET_TRANSFORMS
from tf_varattn.layers import random_draws
from tf_varattn.layers.attention_posterior import AttentionPosterior, AttentionSample

tfd = tfp.distributions
_SEED_RANGE = 2**24  # step seeds travel in the float noise tensor; below 2^24 they are exact in float32


def _masked_sum(values, mask):
    return tf.reduce_sum(tf.where(mask, values, tf.zeros_like(values)), axis=-1)


def _log_normaliser_difference(posterior, prior, mask):
    """log B(b) - log B(a) over the positions of ``mask``: lnG(sum a) - sum lnG(a) - lnG(sum b) + sum lnG(b),
    the part of both the KL and the log density ratio of Dir(a) against Dir(b) that no draw enters."""
    real = tf.cast(mask, posterior.dtype)
    return (tf.math.lgamma(tf.reduce_sum(posterior * real, axis=-1)) - _masked_sum(tf.math.lgamma(posterior), mask)
            - tf.math.lgamma(tf.reduce_sum(prior * real, axis=-1)) + _masked_sum(tf.math.lgamma(prior), mask))


def masked_dirichlet_kl(posterior, prior, mask):
    """KL(Dir(posterior) || Dir(prior)) over the positions where ``mask [B, S]`` is true, ``[B]``.

    The closed form of ``tfd.kl_divergence`` for two Dirichlets, with every sum over the real
    positions only: lnG(sum a) - sum lnG(a) - lnG(sum b) + sum lnG(b) + sum (a - b)(psi(a) - psi(sum a)).
    (``tfd.Dirichlet`` has a fixed number of categories, so it cannot leave padding out.)
    """
    total = tf.reduce_sum(posterior * tf.cast(mask, posterior.dtype), axis=-1)
    return (_log_normaliser_difference(posterior, prior, mask)
            + _masked_sum((posterior - prior) * (tf.math.digamma(posterior) - tf.math.digamma(total)[:, None]), mask))


def dirichlet_sample(concentration, mask, seed):
    """A reparameterised draw of Dir(``concentration``) over the positions of ``mask [B, S]``
    (exactly 0 elsewhere): log-gamma draws normalised by a masked softmax."""
    return dirichlet_sample_and_log(concentration, mask, seed)[0]


def dirichlet_sample_and_log(concentration, mask, seed):
    """:func:`dirichlet_sample`'s draw and its logarithm (from the same log-gamma draws, so that a
    weight too small for float32 still has a finite log; 0 at padded positions)."""
    log_gamma = tfd.ExpGamma(concentration=concentration, rate=tf.ones_like(concentration)).sample(seed=seed)
    masked = tf.where(mask, log_gamma, tf.cast(-1e30, log_gamma.dtype))
    weights = tf.nn.softmax(masked, axis=-1) * tf.cast(mask, log_gamma.dtype)
    log_weights = tf.where(mask, tf.nn.log_softmax(masked, axis=-1), tf.zeros_like(masked))
    return weights, log_weights


def masked_dirichlet_log_ratio(posterior, prior, mask, log_weights):
    """log Dir(w; posterior) - log Dir(w; prior) over the positions of ``mask``, ``[B]``, for the
    draw with logarithm ``log_weights``: lnG(sum a) - sum lnG(a) - lnG(sum b) + sum lnG(b) + sum (a - b) ln w."""
    return _log_normaliser_difference(posterior, prior, mask) + _masked_sum((posterior - prior) * log_weights, mask)


def dirichlet_mean(concentration, mask):
    """The mean of Dir(``concentration``) over the positions of ``mask``, exactly 0 elsewhere."""
    concentration = tf.where(mask, concentration, tf.zeros_like(concentration))
    return concentration / tf.reduce_sum(concentration, axis=-1, keepdims=True)


def dirichlet_std(concentration, mask):
    """Each weight's standard deviation under Dir(``concentration``) over the positions of ``mask``,
    sqrt(m_i (1 - m_i) / (a_0 + 1)) with m the mean and a_0 the total concentration; 0 elsewhere."""
    mean = dirichlet_mean(concentration, mask)
    total = tf.reduce_sum(tf.where(mask, concentration, tf.zeros_like(concentration)), axis=-1, keepdims=True)
    return tf.sqrt(mean * (1.0 - mean) / (total + 1.0))


@keras.saving.register_keras_serializable(package="tf_varattn")
class DirichletAttention(AttentionPosterior):
    """q(alpha_j|x) = Dir(f(e_j) + floor) over the real source positions, e_j the bilinear scores
    of Eq. (4) and f softplus (or exp); prior Dir(c, ..., c) over the same positions.

    The context is sum_i alpha_ji h_src_i (Eq. 5 with the sampled weights). A draw is TFP's
    reparameterised one, as inside ``tfd.Dirichlet``: log-gamma variables (``tfd.ExpGamma``,
    implicit gradients) normalised by a softmax, here over the real positions only, so padding gets
    exactly 0 and the real part is exactly Dir(the real concentrations). TFP's implicit gamma
    gradients stop being finite in float32 for concentrations far below 1, hence the floor
    (default 0.3). Temperature 0 gives the posterior mean a / sum a (MAP decoding); temperature t
    the mean plus t times a draw's deviation from it. ``from_prior`` draws the prior instead.

    The randomness of a step is one stateless seed pair for the batch (``noise [B, 2]``, from
    :meth:`draw_noise`; every row holds the same pair), so a decoding is reproducible for a seed.
    """

    noise_dim = 2

    def __init__(self, units: int, transform: str = "softplus", floor: float = 0.3, prior_concentration: float = 1.0,
                 seed=None, **kwargs):
        super().__init__(units, **kwargs)
        if transform not in DIRICHLET_TRANSFORMS:
            raise ValueError(f"transform={transform!r} is not valid; choose one of: {', '.join(DIRICHLET_TRANSFORMS)}.")
        if not floor > 0:
            raise ValueError(f"floor must be > 0 (the concentrations' lower bound), got {floor}.")
        if not prior_concentration > 0:
            raise ValueError(f"prior_concentration must be > 0, got {prior_concentration}.")
        self.transform, self.floor, self.prior_concentration, self.seed = transform, floor, prior_concentration, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def concentration(self, scores, mask):
        """The posterior concentrations ``[B, S]``: f(scores) + floor at real positions, floor elsewhere."""
        positive = tf.nn.softplus(scores) if self.transform == "softplus" else tf.exp(tf.minimum(scores, 80.0))
        return tf.where(mask, positive, tf.zeros_like(positive)) + tf.cast(self.floor, scores.dtype)

    def draw_noise(self, steps, batch, seed=None):
        """One stateless seed pair per step, the same for every row: ``[steps, batch, 2]`` (float32)."""
        seeds = random_draws.randint([steps, 1, 2], 0, _SEED_RANGE, self.seed_generator if seed is None else seed)
        return tf.tile(tf.cast(seeds, tf.float32), [1, batch, 1])

    def call(self, scores, mask, temperature=1.0, noise=None, from_prior=False):
        """``scores [B, S]`` (Eq. 4, before the softmax), ``mask [B, S]`` -> ``(alpha_j [B, S], kl [B])``."""
        weights, kl, _, _ = self.draw(scores, mask, temperature, noise, from_prior)
        return weights, kl

    def draw(self, scores, mask, temperature=1.0, noise=None, from_prior=False):
        """``(alpha_j [B, S], kl [B], std [B, S], log_ratio [B])``: :meth:`call`'s weights and KL, each
        weight's standard deviation under the distribution drawn from, and log q - log p at the draw
        (for temperature 1), from one computation of the concentrations."""
        posterior = self.concentration(scores, mask)
        prior = tf.fill(tf.shape(posterior), tf.cast(self.prior_concentration, posterior.dtype))
        kl = masked_dirichlet_kl(posterior, prior, mask)
        if noise is None:
            seed = keras.random.randint([2], 0, _SEED_RANGE, seed=self.seed_generator)
        else:
            # Every row holds the step's seed pair (seeds are >= 0; the zero row covers an empty batch).
            seed = tf.cast(tf.reduce_max(tf.concat([noise, tf.zeros_like(noise[:1])], 0), axis=0), tf.int32)
        drawn_from = prior if from_prior else posterior
        mean = dirichlet_mean(drawn_from, mask)
        sample, log_sample = dirichlet_sample_and_log(drawn_from, mask, seed)
        weights = mean + tf.cast(temperature, mean.dtype) * (sample - mean)
        log_ratio = masked_dirichlet_log_ratio(posterior, prior, mask, log_sample)
        return weights, kl, dirichlet_std(drawn_from, mask), log_ratio

    def attend(self, bilinear, query, memory, temperature=1.0, noise=None, from_prior=False) -> AttentionSample:
        scores = bilinear.scores(query, memory.keys, memory.mask)
        weights, kl, std, log_ratio = self.draw(scores, memory.mask, temperature, noise, from_prior)
        context = tf.einsum("bs,bsd->bd", weights, memory.states)
        return AttentionSample(context, weights, kl, std, log_ratio)

    def get_config(self):
        return {**super().get_config(), "transform": self.transform, "floor": self.floor,
                "prior_concentration": self.prior_concentration, "seed": self.seed}
