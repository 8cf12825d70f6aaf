"""The likelihood estimates against closed forms: the DED's exact likelihood, the KLs in closed
form, Jensen's inequality, and numerical quadrature over a one-dimensional z."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_varattn.config import get_config
from tf_varattn.data.pipeline import EncodedSplit
from tf_varattn.likelihood import importance_weighted_log_likelihood, log_weights, split_likelihood
from tf_varattn.models import build_model

VOCAB = 30
SMALL = dict(source_vocab_size=VOCAB, target_vocab_size=VOCAB, embedding_dim=12, encoder_units=6,
             decoder_units=12, latent_dim=3, attentional_dim=8, max_decode_length=8)


def small_model(preset, **overrides):
    keras.utils.set_random_seed(0)
    return build_model(get_config(preset, **{**SMALL, **overrides}))


def pairs(count=5, seed=0):
    rng = np.random.default_rng(seed)
    sources = [list(rng.integers(4, VOCAB, rng.integers(2, 7))) for _ in range(count)]
    targets = [list(rng.integers(4, VOCAB, rng.integers(1, 5))) + [3] for _ in range(count)]
    return EncodedSplit(sources, targets)


def batch_of(split):
    from tf_varattn.data.pipeline import make_dataset
    return next(iter(make_dataset(split, len(split), shuffle=False)))


def test_a_ded_has_its_exact_likelihood_whatever_the_number_of_draws():
    model = small_model("ded_dattn")
    batch = batch_of(pairs())
    weights = log_weights(model, batch, 4)["log_weights"].numpy()
    np.testing.assert_allclose(weights, np.repeat(weights[:, :1], 4, axis=1), rtol=1e-6)  # no latent: equal
    exact = -model.sentence_cross_entropy(model.decode_teacher_forced(batch)["outputs"], batch["target_ids"],
                                          batch["target_length"]).numpy()
    np.testing.assert_allclose(importance_weighted_log_likelihood(weights), exact, rtol=1e-5)
    result = split_likelihood(model, pairs(), num_samples=3, batch_size=2)
    assert result["nll"]["value"] == pytest.approx(result["negative_elbo"]["value"], rel=1e-6)
    assert result["nll"]["value"] == pytest.approx(-exact.sum() / result["tokens"], rel=1e-5)
    assert result["kl_z"]["value"] == 0 and result["kl_attention"]["value"] == 0
    assert result["perplexity"]["value"] == pytest.approx(np.exp(result["nll"]["value"]))


@pytest.mark.parametrize("preset", ["ved_vattn_mean", "ved_vattn_zero", "ved_vattn_dirichlet"])
def test_the_draws_log_ratios_average_to_the_closed_form_kls(preset):
    # -log w = -log p(y|x,z,a) + [log q(z) - log p(z)] + sum_j [log q(a_j) - log p(a_j)]: its mean over
    # many draws is the negative ELBO whose KL terms are in closed form (KL_att summed over the steps).
    model = small_model(preset)
    batch = batch_of(pairs(count=3, seed=1))
    draws = 3000
    terms = log_weights(model, batch, draws)
    negative = -terms["log_weights"].numpy()
    negative_elbo = (terms["reconstruction"] + terms["kl_z"] + terms["kl_attention"]).numpy()
    error = negative.std(axis=1) / np.sqrt(draws)
    assert np.all(np.abs(negative.mean(axis=1) - negative_elbo) < 5 * error + 1e-3)
    assert float(tf.reduce_min(terms["kl_attention"])) > 0 and float(tf.reduce_min(terms["kl_z"])) > 0
    # Jensen: with the same draws the importance-weighted estimate is never above the mean of the
    # log weights (K = 1 on each draw is its ELBO), and more draws tighten it.
    iwae = importance_weighted_log_likelihood(terms["log_weights"].numpy())
    assert np.all(iwae >= -negative.mean(axis=1) - 1e-9)
    np.testing.assert_allclose(importance_weighted_log_likelihood(terms["log_weights"].numpy(), 1), -negative[:, 0])


def test_the_estimate_with_many_draws_matches_quadrature_over_a_one_dimensional_z():
    model = small_model("ved_dattn", latent_dim=1)
    # Make z matter: scale the decoder's weights from z (its row of the LSTM input kernel).
    # Make z matter: the decoder's weights from z (its row of the LSTM input kernel) and the output
    # layer scaled up, so that log p(y | x, z) moves by nats over z's range.
    kernel = model.decoder_cell.lstm.kernel  # rows: [y_{j-1} embedding; z], then the recurrent inputs
    values = kernel.numpy()
    values[SMALL["embedding_dim"]] *= 1.5
    kernel.assign(values)
    model.output_projection.kernel.assign(model.output_projection.kernel.numpy() * 5.0)
    # A proposal q(z|x) = N(0.3, 1.3^2), wider than the prior, so that the weights p(z) / q(z) are
    # bounded and K draws converge at the Monte Carlo rate (an untrained q can be far narrower).
    for layer, bias in ((model.latent.mean_layer, 0.3), (model.latent.log_sigma_layer, np.log(1.3))):
        layer.kernel.assign(tf.zeros_like(layer.kernel))
        layer.bias.assign(tf.fill(layer.bias.shape, float(bias)))
    split = pairs(count=3, seed=2)
    batch = batch_of(split)
    # Exact log p(y|x) = log integral p(y|x,z) N(z; 0, 1) dz by the trapezoid rule on a fine grid.
    grid = np.linspace(-9.0, 9.0, 3601)
    prior = np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi)
    exact, spread = [], []
    for row in range(len(split)):
        single = {name: tf.repeat(values[row:row + 1], len(grid), axis=0) for name, values in batch.items()}
        fixed = tf.constant(grid[:, None], tf.float32)
        model.sample_latent = lambda final_h, *args, **kwargs: (fixed, tf.zeros_like(fixed), tf.zeros_like(fixed),
                                                                tf.zeros_like(fixed[:, 0]))
        log_likelihood = -model.sentence_cross_entropy(model.decode_teacher_forced(single)["outputs"],
                                                       single["target_ids"], single["target_length"]).numpy()
        del model.sample_latent
        top = log_likelihood.max()
        exact.append(top + np.log(np.trapezoid(prior * np.exp(log_likelihood.astype(np.float64) - top), grid)))
        inside = np.abs(grid) < 2
        spread.append(np.ptp(log_likelihood[inside]))
    exact = np.array(exact)
    assert min(spread) > 1.0  # z matters (log p(y|x,z) moves by over a nat for |z| < 2): the test is not trivial
    estimate = importance_weighted_log_likelihood(log_weights(model, batch, 4000)["log_weights"].numpy())
    np.testing.assert_allclose(estimate, exact, atol=0.02)  # nats per sentence


def test_split_likelihood_reports_intervals_and_convergence_and_leaves_random_streams():
    model = small_model("ved_vattn_mean")
    state = [v.numpy() for v in model.non_trainable_variables if "seed_generator" in v.path]
    result = split_likelihood(model, pairs(count=6), num_samples=10, batch_size=4)
    after = [v.numpy() for v in model.non_trainable_variables if "seed_generator" in v.path]
    for a, b in zip(state, after):
        np.testing.assert_array_equal(a, b)
    assert [row["num_samples"] for row in result["convergence"]] == [1, 2, 5, 10]
    assert result["convergence"][-1]["nll"] == pytest.approx(result["nll"]["value"])
    assert result["nll"]["value"] <= result["negative_elbo"]["value"] + 1e-3  # the bound, tightened
    for name in ("nll", "negative_elbo", "kl_z", "kl_attention", "reconstruction"):
        assert result[name]["low"] <= result[name]["value"] <= result[name]["high"]
    again = split_likelihood(model, pairs(count=6), num_samples=10, batch_size=3)  # other batching, same draws?
    assert again["negative_elbo"]["value"] == pytest.approx(result["negative_elbo"]["value"], rel=0.05)


def test_a_perplexity_beyond_a_float_is_none_not_an_overflow():
    from tf_varattn.likelihood import perplexity

    assert perplexity(2.0) == pytest.approx(np.exp(2.0))
    assert perplexity(800.0) is None  # a variational attention far from its prior: hundreds of nats per token


def test_draws_in_several_passes_give_the_same_estimate_and_every_draw():
    # A DED's draws are all equal: passes of any size give exactly the one-pass figures.
    ded = small_model("ded_dattn")
    whole = split_likelihood(ded, pairs(count=4), num_samples=12, batch_size=2)
    passes = split_likelihood(ded, pairs(count=4), num_samples=12, batch_size=2, max_sentences=10)
    for name in ("nll", "negative_elbo", "reconstruction"):
        assert passes[name]["value"] == pytest.approx(whole[name]["value"], rel=1e-6)
    # A VED: 12 draws per input in passes of 5, 5 and 2, all of them in the estimate.
    ved = small_model("ved_vattn_mean")
    result = split_likelihood(ved, pairs(count=4), num_samples=12, batch_size=2, max_sentences=10)
    assert [row["num_samples"] for row in result["convergence"]] == [1, 2, 5, 10, 12]
    assert result["convergence"][-1]["nll"] == pytest.approx(result["nll"]["value"])
    assert result["kl_z"]["value"] == pytest.approx(
        split_likelihood(ved, pairs(count=4), num_samples=12, batch_size=2)["kl_z"]["value"], rel=1e-5)  # no draw in it
