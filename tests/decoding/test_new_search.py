"""A new search is one file: typical sampling (Meister et al., 2022) defined, registered and used
here through the scripts' code paths (flags, the comparison's rows, Decoder, generation), with
nothing changed in the package."""

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from tf_varattn.decoding import Decoder, Sampler, SearchOption, register_search
from tf_varattn.decoding import registry
from tf_varattn.decoding.registry import SEARCHES, comparison_rows, define_search_flags, get_search, search_from_flags


class TypicalSampler(Sampler):
    """A token drawn from the locally typical set: the tokens whose surprisal -log p is closest to
    the entropy H of the step's distribution, fewest first, until their mass reaches ``tau``."""

    name = "typical"
    options = (SearchOption("typical_tau", "tau", 0.95, "Mass of the locally typical set."), *Sampler.options)

    def __init__(self, tau=0.95, temperature=1.0, seed=0, min_length=0):
        if not 0 < tau <= 1:
            raise ValueError(f"typical_tau={tau!r} is not valid; it must be in (0, 1].")
        super().__init__(temperature, seed, min_length)
        self.tau = float(tau)

    def get_next_token(self, logits, seed):
        log_p = tf.nn.log_softmax(logits / self.temperature)
        p = tf.exp(log_p)
        entropy = -tf.reduce_sum(tf.math.multiply_no_nan(log_p, p), axis=-1, keepdims=True)  # EOS held back: p = 0
        distance = tf.abs(-log_p - entropy)
        order = tf.argsort(distance, axis=-1)
        mass_before = tf.math.cumsum(tf.gather(p, order, batch_dims=1), axis=-1, exclusive=True)
        cutoff = tf.reduce_max(tf.where(mass_before < self.tau, tf.gather(distance, order, batch_dims=1), -1.0), axis=-1)
        typical = tf.where(distance <= cutoff[:, None], log_p, -np.inf)
        return tf.random.stateless_categorical(typical, 1, seed, dtype=tf.int32)[:, 0]

    def _own_tag(self):
        return f"typical{self.tau:g}"


@pytest.fixture
def typical(registries_restored):
    """TypicalSampler registered for one test."""
    return register_search(TypicalSampler)


def test_typical_set_against_its_definition(typical):
    probabilities = np.array([[0.5, 0.3, 0.15, 0.05]], np.float32)
    entropy = -(probabilities * np.log(probabilities)).sum()  # 1.1437 nats
    distance = np.abs(-np.log(probabilities[0]) - entropy)  # token 1 (1.204) closest, then 0 (0.693), 2 (1.897)
    assert list(np.argsort(distance)) == [1, 0, 2, 3]
    logits = tf.constant(np.log(probabilities))
    draws = lambda tau: {int(get_search("typical", typical_tau=tau, seed=s).get_next_token(logits, [s, 0])[0])  # noqa: E731
                         for s in range(60)}
    assert draws(0.2) == {1}  # token 1's mass 0.3 already reaches 0.2
    assert draws(0.7) == {0, 1}  # 0.3 + 0.5 reaches 0.7
    assert draws(1.0) == {0, 1, 2, 3}


def test_a_search_defined_in_one_file_reaches_the_flags_the_comparison_and_decoding(typical):
    from tests.decoding.test_searches import SOURCES, tiny_model

    assert list(SEARCHES)[-1] == "typical" and not typical.deterministic
    assert ("typical", {}, "map", None) in comparison_rows()  # a sampled row of compare_searches.py
    values = flags.FlagValues()
    define_search_flags(values)
    values(["generate.py", "--search=typical", "--typical_tau=0.5", "--token_temperature=0.8", "--min_length=2"])
    search = search_from_flags(values)
    assert isinstance(search, TypicalSampler) and (search.tau, search.temperature, search.min_length) == (0.5, 0.8, 2)
    assert search.tag == "typical0.5_min2" and search.describe() == "typical (temperature 0.8), at least 2 tokens"
    assert "Mass of the locally typical set. (--search typical)" in values["typical_tau"].help
    decoder = Decoder(tiny_model(), search)
    decoder.reseed(3)
    first = decoder.decode(SOURCES, "map", num_samples=4)
    decoder.reseed(3)
    np.testing.assert_array_equal(first, decoder.decode(SOURCES, "map", num_samples=4))  # seeded
    assert first.shape[:2] == (len(SOURCES), 4) and len({tuple(row) for row in first.reshape(-1, first.shape[-1])}) > 1
    with pytest.raises(ValueError, match="typical_tau=1.5 is not valid"):
        get_search("typical", typical_tau=1.5)
    assert registry.search_options()["typical_tau"][2] == ["typical"]
