import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy.special import digamma, gammaln

from tf_varattn.layers import BilinearAttention, DirichletAttention, Memory, masked_dirichlet_kl, masked_mean

MASK = tf.constant([[True] * 5, [True, True, True, False, False], [True, False, False, False, False]])


def numpy_dirichlet_kl(a, b):
    """KL(Dir(a) || Dir(b)) for 1-d arrays, from log-gamma and digamma."""
    return (gammaln(a.sum()) - gammaln(a).sum() - gammaln(b.sum()) + gammaln(b).sum()
            + ((a - b) * (digamma(a) - digamma(a.sum()))).sum())


def random_scores(seed=0, shape=(3, 5)):
    return tf.constant(np.random.default_rng(seed).normal(scale=2.0, size=shape), tf.float32)


@pytest.mark.parametrize("transform", ["softplus", "exp"])
def test_kl_matches_the_closed_form_over_the_real_positions_only(transform):
    layer = DirichletAttention(units=4, transform=transform, floor=0.2, prior_concentration=0.7, seed=0)
    scores = random_scores()
    _, kl = layer(scores, MASK)
    positive = np.log1p(np.exp(scores.numpy())) if transform == "softplus" else np.exp(scores.numpy())
    for row, mask in enumerate(MASK.numpy()):
        a = positive[row][mask] + 0.2
        expected = numpy_dirichlet_kl(a, np.full_like(a, 0.7))
        np.testing.assert_allclose(kl[row], expected, rtol=1e-4, atol=1e-5)
    # Where nothing is padded it is exactly tfp's Dirichlet KL.
    concentration = layer.concentration(scores, MASK)[:1]
    tfd = tfp.distributions
    np.testing.assert_allclose(
        masked_dirichlet_kl(concentration, tf.fill([1, 5], 0.7), MASK[:1]),
        tfd.kl_divergence(tfd.Dirichlet(concentration), tfd.Dirichlet(tf.fill([1, 5], 0.7))), rtol=1e-5)


@pytest.mark.parametrize("temperature, from_prior", [(1.0, False), (0.0, False), (0.5, False), (1.0, True)])
def test_weights_sum_to_one_and_are_exactly_zero_on_padding(temperature, from_prior):
    layer = DirichletAttention(units=4, seed=1)
    weights, _ = layer(random_scores(1), MASK, temperature=temperature, from_prior=from_prior)
    np.testing.assert_allclose(tf.reduce_sum(weights, -1), 1.0, rtol=1e-6)
    assert np.all(weights.numpy()[~MASK.numpy()] == 0.0)
    assert np.all(weights.numpy() >= 0.0)
    np.testing.assert_array_equal(weights[2], [1, 0, 0, 0, 0])  # one real position: all the weight


def test_map_is_the_posterior_mean_and_deterministic():
    layer = DirichletAttention(units=4, seed=2)
    scores = random_scores(2)
    first, _ = layer(scores, MASK, temperature=0.0)
    second, _ = layer(scores, MASK, temperature=0.0, noise=tf.fill([3, 2], 99.0))
    np.testing.assert_array_equal(first, second)
    concentration = np.where(MASK.numpy(), np.log1p(np.exp(scores.numpy())) + 0.3, 0.0)
    np.testing.assert_allclose(first, concentration / concentration.sum(-1, keepdims=True), rtol=1e-5)


def test_draws_follow_the_dirichlet_mean_and_variance():
    """4,000 draws of one row: the empirical mean and variance of each weight match
    a_i / a0 and a_i (a0 - a_i) / (a0^2 (a0 + 1))."""
    layer = DirichletAttention(units=4, floor=0.5, seed=3)
    scores = tf.tile(tf.constant([[1.5, -0.5, 0.3, 0.0, 0.0]]), [4000, 1])
    mask = tf.tile(MASK[1:2], [4000, 1])
    weights, _ = layer(scores, mask)
    a = np.log1p(np.exp([1.5, -0.5, 0.3])) + 0.5
    a0 = a.sum()
    np.testing.assert_allclose(weights.numpy()[:, :3].mean(0), a / a0, atol=0.01)
    np.testing.assert_allclose(weights.numpy()[:, :3].var(0), a * (a0 - a) / (a0**2 * (a0 + 1)), rtol=0.1)


def test_gradients_reach_the_concentration_head_through_the_sample():
    """No KL term: the only path to the bilinear kernel (the scores, hence the concentrations) is the draw."""
    rng = np.random.default_rng(4)
    bilinear = BilinearAttention(units=3, memory_dim=4)
    layer = DirichletAttention(units=4, seed=4)
    states = tf.constant(rng.normal(size=(3, 5, 4)), tf.float32)
    query = tf.Variable(rng.normal(size=(3, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        memory = Memory(states, bilinear.keys(states), MASK, masked_mean(states, MASK))
        attention = layer.attend(bilinear, query, memory, temperature=1.0)
        loss = tf.reduce_sum(attention.context * tf.constant(rng.normal(size=(3, 4)), tf.float32))
    kernel_gradient, query_gradient = tape.gradient(loss, [bilinear.memory_kernel, query])
    assert np.all(np.isfinite(kernel_gradient)) and float(tf.reduce_max(tf.abs(kernel_gradient))) > 0
    assert float(tf.reduce_max(tf.abs(query_gradient[:2]))) > 0
    np.testing.assert_array_equal(query_gradient[2], 0.0)  # one real position: the weight is 1 whatever the scores
    np.testing.assert_allclose(attention.context, tf.einsum("bs,bsd->bd", attention.weights, states), rtol=1e-6)
    # Under gradient taps the decoder hands over the tapped softmax context, which this posterior
    # (drawing its own weights) cannot use: refused, naming the registry's draws='weights'.
    from tf_varattn.ops.gradient_taps import TappedAttention

    with pytest.raises(AttributeError, match="register it with draws='weights'"):
        layer.attend(TappedAttention(bilinear, (0.0, 0.0)), query, memory)


@pytest.mark.parametrize("from_prior", [False, True])
def test_sigma_is_each_weights_standard_deviation(from_prior):
    """``attend``'s sigma: sqrt(a_i (a0 - a_i) / (a0^2 (a0 + 1))) of the distribution drawn from
    (posterior, or the prior Dir(c) over the real positions), 0 on padding."""
    rng = np.random.default_rng(5)
    bilinear = BilinearAttention(units=3, memory_dim=4)
    layer = DirichletAttention(units=4, prior_concentration=2.0, seed=5)
    states = tf.constant(rng.normal(size=(3, 5, 4)), tf.float32)
    query = tf.constant(rng.normal(size=(3, 3)), tf.float32)
    memory = Memory(states, bilinear.keys(states), MASK, masked_mean(states, MASK))
    sigma = layer.attend(bilinear, query, memory, from_prior=from_prior).sigma.numpy()
    scores = bilinear.scores(query, memory.keys, MASK).numpy()
    for row, real in enumerate(MASK.numpy().sum(axis=1)):
        a = np.full(real, 2.0) if from_prior else np.log1p(np.exp(scores[row, :real])) + 0.3
        a0 = a.sum()
        np.testing.assert_allclose(sigma[row, :real], np.sqrt(a * (a0 - a) / (a0**2 * (a0 + 1))), rtol=1e-5)
        np.testing.assert_array_equal(sigma[row, real:], 0.0)


def test_noise_is_a_step_seed_reproducible_from_the_stream():
    layer = DirichletAttention(units=4, seed=5)
    stream = keras.random.SeedGenerator(7)
    noise = layer.draw_noise(6, 3, seed=stream)
    assert noise.shape == (6, 3, 2)
    np.testing.assert_array_equal(noise[:, 0], noise[:, 2])  # one seed pair per step
    stream.state.assign([7, 0])
    np.testing.assert_array_equal(layer.draw_noise(6, 3, seed=stream), noise)
    scores = random_scores(5)
    first, _ = layer(scores, MASK, noise=noise[0])
    again, _ = layer(scores, MASK, noise=noise[0])
    other, _ = layer(scores, MASK, noise=noise[1])
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first[:2], other[:2])


def test_bad_options_are_refused_with_their_valid_values():
    with pytest.raises(ValueError, match="choose one of: softplus, exp"):
        DirichletAttention(units=2, transform="relu")
    with pytest.raises(ValueError, match="floor must be > 0"):
        DirichletAttention(units=2, floor=0.0)
    with pytest.raises(ValueError, match="prior_concentration must be > 0"):
        DirichletAttention(units=2, prior_concentration=-1.0)
