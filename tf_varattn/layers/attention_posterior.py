"""The attention posterior (Sec. 3): the one place where the attention variants differ.

At decoding step j the decoder cell asks its posterior to :meth:`~AttentionPosterior.attend`: from
the step's query h_j and the encoded source it returns an :class:`AttentionSample`, the context
the decoder uses, the attention weights behind it and that step's KL term. Two kinds of posterior:

* over the context vector (the paper's): the bilinear attention gives the deterministic context
  a_det_j (Eq. 5) and the posterior's ``call(context, prior_mean, temperature, noise)`` turns it
  into the context used. :class:`DeterministicAttention` is the point mass at a_det_j (KL 0);
  :class:`~tf_varattn.layers.VariationalAttention` the Gaussian of Sec. 3.
* over the attention weights (beyond the paper, Sec. 3.5's future work):
  :class:`~tf_varattn.layers.DirichletAttention` overrides ``attend`` and draws alpha_j itself.

A new attention distribution is one subclass and one registry entry
(:func:`tf_varattn.attention_registry.register_attention_posterior`): its name becomes a config
``attention`` value, its options travel in the config, and the cell builds it by name. Its graph
code is traced without AutoGraph (:mod:`tf_varattn.ops.graph_function`): a branch on a tensor's
value is a ``tf.where`` or ``tf.cond``, as in the layers here. Its :meth:`~AttentionPosterior.log_density_ratio`
(log q - log p at a draw) is optional: without it a model trains and decodes, but its
importance-weighted likelihood (:mod:`tf_varattn.likelihood`) cannot be estimated.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import keras
import tensorflow as tf


class AttentionSample(NamedTuple):
    """What one attention step gives the decoder."""

    context: tf.Tensor  # [B, D] the context vector the decoder uses
    weights: tf.Tensor  # [B, S] the attention weights behind it (alpha_j; the sampled ones for Dirichlet)
    kl: tf.Tensor  # [B] this step's KL(q || prior)
    # The standard deviation of what the posterior draws: [B, D] sigma_a of the Gaussian, [B, S] of
    # each Dirichlet weight; [B, 0] for the deterministic attention.
    sigma: tf.Tensor
    # [B] log q(a_j) - log p(a_j) at the draw (the importance weight's attention factor,
    # tf_varattn.likelihood); None where a posterior does not give its density.
    log_ratio: Optional[tf.Tensor] = None


class AttentionPosterior(keras.layers.Layer):
    """Interface: ``attend(bilinear, query, memory, temperature, noise, ...) -> AttentionSample``.

    ``noise`` is this step's slice of :meth:`draw_noise`, the posterior's randomness for every
    step drawn at once (``[steps, batch, noise_dim]``), so that a decoding is reproducible.
    ``noise=None`` draws it in the call. Temperature 0 gives the posterior's MAP choice (its mean);
    ``from_prior=True`` draws from the prior instead of the posterior (the bypass probe,
    :mod:`tf_varattn.diagnostics`).

    Posteriors over the context vector implement :meth:`sample_context` and inherit :meth:`attend`;
    their ``call(context, prior_mean, temperature, noise, from_prior)`` returns ``(context used, kl [B])``.
    """

    noise_dim = 0

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def draw_noise(self, steps, batch, seed=None) -> tf.Tensor:
        """The randomness of ``steps`` decoding steps of ``batch`` sentences, ``[steps, batch, noise_dim]``,
        drawn from ``seed``: a ``keras.random.SeedGenerator`` (default: the layer's own) or a stateless
        seed tensor ``[2]`` (:mod:`tf_varattn.layers.random_draws` draws from either)."""
        return tf.zeros([steps, batch, self.noise_dim])

    def attend(self, bilinear, query, memory, temperature=1.0, noise=None, from_prior=False) -> AttentionSample:
        """Attention step j: a_det_j from ``bilinear`` (Eq. 4-5) for ``query [B, units]`` over
        ``memory`` (:class:`~tf_varattn.layers.decoder_cell.Memory`), then this posterior's context."""
        context, weights = bilinear(query, memory=memory.states, memory_mask=memory.mask, keys=memory.keys)
        used, kl, sigma = self.sample_context(context, memory.mean, temperature, noise, from_prior)
        return AttentionSample(used, weights, kl, sigma, self.log_density_ratio(context, memory.mean, used, sigma))

    def sample_context(self, context, prior_mean=None, temperature=1.0, noise=None, from_prior=False):
        """``(context used [B, D], kl [B], sigma [B, D] or [B, 0])`` for the deterministic context ``[B, D]``."""
        raise NotImplementedError(f"{type(self).__name__} is not a posterior over the context vector.")

    def log_density_ratio(self, context, prior_mean, sample, sigma):
        """``[B]`` log q(sample | context) - log p(sample) for a draw of :meth:`sample_context` (its
        ``sigma``), or None (the default): then no importance-weighted likelihood can be estimated."""
        return None

    def call(self, context, prior_mean=None, temperature=1.0, noise=None, from_prior=False):
        used, kl, _ = self.sample_context(context, prior_mean, temperature, noise, from_prior)
        return used, kl

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="tf_varattn")
class DeterministicAttention(AttentionPosterior):
    """Deterministic attention (Eq. 5): the decoder uses a_det_j itself; no randomness, KL 0
    (it has no prior: ``from_prior`` changes nothing)."""

    def sample_context(self, context, prior_mean=None, temperature=1.0, noise=None, from_prior=False):
        return context, tf.zeros(tf.shape(context)[:1], context.dtype), context[:, :0]

    def log_density_ratio(self, context, prior_mean, sample, sigma):
        return tf.zeros(tf.shape(context)[:1], context.dtype)  # no random variable
