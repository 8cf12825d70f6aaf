"""The searches against their definitions: greedy, beam (against brute-force enumeration),
top-k, nucleus and sampling with temperature (frequencies against the distribution)."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_varattn.config import get_config
from tf_varattn.data.vocab import EOS_ID, PAD_ID
from tf_varattn.decoding import (
    SEARCHES, BeamSearch, Decoder, GreedySampler, RandomSampler, TopKSampler, TopPSampler, get_search, length_penalty,
)
from tf_varattn.models import build_model

SOURCES = [[5, 6, 7], [8, 9], [10, 11, 12, 13], [4], [7, 7, 9, 12, 5]]


def tiny_model(vocab=40, max_length=8, preset="ved_vattn_mean", sharpen=4.0):
    """A random model whose output distributions are peaked enough for its searches to differ."""
    keras.utils.set_random_seed(0)
    model = build_model(get_config(
        preset, source_vocab_size=40, target_vocab_size=vocab, embedding_dim=8, encoder_units=4, decoder_units=8,
        latent_dim=3, attentional_dim=6, max_decode_length=max_length))
    projection = model.output_projection
    projection.kernel.assign(projection.kernel * sharpen)
    projection.bias.assign(np.random.default_rng(1).normal(size=vocab).astype(np.float32))
    return model


def sequence_scores(model, source, candidates, alpha):
    """log P(y | source) / lp(|y|) of every candidate y, with the latent means, by stepping the model."""
    count, steps = len(candidates), max(len(tokens) for tokens in candidates)
    state = model.start(tf.constant([source] * count), tf.constant([len(source)] * count), 0.0, steps=steps)
    padded = np.array([tokens + [PAD_ID] * (steps - len(tokens)) for tokens in candidates])
    previous, totals = tf.fill([count], 2), np.zeros(count)
    for t in range(steps):
        logits, _, state = model.step(previous, state, 0.0)
        log_probs = tf.nn.log_softmax(logits).numpy()[np.arange(count), padded[:, t]]
        totals += np.where([t < len(tokens) for tokens in candidates], log_probs, 0.0)
        previous = tf.constant(padded[:, t], tf.int32)
    return totals / length_penalty(np.array([len(tokens) for tokens in candidates]), alpha).numpy()


@pytest.mark.parametrize("preset", ["ded_dattn", "ved_vattn_mean"])
def test_beam_of_size_one_is_greedy(preset):
    model = tiny_model(preset=preset)
    greedy = Decoder(model, "greedy").decode(SOURCES)
    np.testing.assert_array_equal(Decoder(model, BeamSearch(1, alpha=0.6)).decode(SOURCES), greedy)
    beam = Decoder(model, BeamSearch(4)).decode(SOURCES)
    assert beam.shape == greedy.shape


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_beam_that_keeps_every_prefix_finds_the_best_sequence_by_enumeration(alpha):
    vocab, limit = 6, 3
    model = tiny_model(vocab=vocab, max_length=limit, sharpen=1.5)
    decoder = Decoder(model, BeamSearch(vocab ** 2, alpha))
    for source in SOURCES[:3]:
        candidates = []  # every output: ends with EOS, or has `limit` tokens
        for length in range(1, limit + 1):
            for prefix in itertools.product([t for t in range(vocab) if t != EOS_ID], repeat=length - 1):
                candidates.append(list(prefix) + [EOS_ID])
                if length == limit:
                    candidates += [list(prefix) + [t] for t in range(vocab) if t != EOS_ID]
        scores = sequence_scores(model, source, candidates, alpha)
        best = candidates[int(np.argmax(scores))]
        assert sorted(scores)[-1] - sorted(scores)[-2] > 1e-4  # a unique best
        found = decoder.decode([source])[0, 0]
        np.testing.assert_array_equal(found, best + [PAD_ID] * (limit - len(best)))


def test_top_k_of_one_and_nucleus_near_zero_are_greedy():
    model = tiny_model()
    greedy = Decoder(model, "greedy").decode(SOURCES, num_samples=3)
    for search in (TopKSampler(k=1), TopPSampler(p=1e-6)):
        np.testing.assert_array_equal(Decoder(model, search).decode(SOURCES, num_samples=3), greedy)


LOGITS = tf.math.log(tf.constant([[0.4, 0.25, 0.15, 0.1, 0.06, 0.04]]))


def frequencies(sampler, draws=40_000, logits=LOGITS):
    tokens = sampler.get_next_token(tf.tile(logits, [draws, 1]), tf.constant([4, 2], tf.int64))
    return np.bincount(tokens.numpy(), minlength=logits.shape[1]) / draws


def test_sampling_frequencies_match_the_distribution_with_temperature():
    probabilities = np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
    np.testing.assert_allclose(frequencies(RandomSampler()), probabilities, atol=0.01)
    tempered = probabilities ** 2 / (probabilities ** 2).sum()  # temperature 0.5 squares the probabilities
    np.testing.assert_allclose(frequencies(RandomSampler(temperature=0.5)), tempered, atol=0.01)


def test_top_k_samples_only_and_in_proportion_from_the_k_most_probable():
    observed = frequencies(TopKSampler(k=3))
    np.testing.assert_array_equal(observed[3:], 0)
    np.testing.assert_allclose(observed[:3], np.array([0.4, 0.25, 0.15]) / 0.8, atol=0.01)
    shuffled = tf.gather(LOGITS, [[3, 0, 5, 1, 4, 2]], axis=1, batch_dims=0)[0]  # top 3 at positions 1, 3, 5
    assert set(np.flatnonzero(frequencies(TopKSampler(k=3), logits=shuffled))) == {1, 3, 5}


def test_nucleus_samples_only_from_the_smallest_set_reaching_p():
    observed = frequencies(TopPSampler(p=0.75))  # 0.4 + 0.25 < 0.75 <= 0.4 + 0.25 + 0.15
    np.testing.assert_array_equal(observed[3:], 0)
    np.testing.assert_allclose(observed[:3], np.array([0.4, 0.25, 0.15]) / 0.8, atol=0.01)
    # Away from a tie, by more than rounding but less than any token's probability: one token more or less.
    np.testing.assert_array_equal(frequencies(TopPSampler(p=0.39), draws=2000)[1:], 0)  # the top token alone
    observed = frequencies(TopPSampler(p=0.41))
    np.testing.assert_array_equal(observed[2:], 0)
    np.testing.assert_allclose(observed[:2], np.array([0.4, 0.25]) / 0.65, atol=0.01)


@pytest.mark.parametrize("p, size", [(0.4, 1), (0.65, 2), (0.8, 3)])
def test_nucleus_at_an_exact_tie_is_the_set_whose_mass_equals_p_on_every_machine(p, size):
    """Mass before a token equal to p up to float rounding (0.39999998 on one CPU, 0.40000001 on
    another): the token is left out, so the set is the same everywhere."""
    probabilities = np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
    for nudge in (-3e-7, 0.0, 3e-7):  # rounding either way of the tie
        logits = tf.constant(np.log(probabilities + np.eye(6)[0] * nudge)[None], tf.float32)
        observed = frequencies(TopPSampler(p=p), draws=4000, logits=logits)
        np.testing.assert_array_equal(observed[size:], 0)
        assert (observed[:size] > 0).all()
    # A nucleus wider than the candidates looked at first comes from the whole vocabulary: the same set.
    observed = frequencies(TopPSampler(p=0.75, candidates=2))
    np.testing.assert_array_equal(observed[3:], 0)
    np.testing.assert_allclose(observed[:3], np.array([0.4, 0.25, 0.15]) / 0.8, atol=0.01)


def test_sampled_outputs_stay_in_the_vocabulary_end_with_pad_and_are_reproducible_for_a_seed():
    model = tiny_model()
    decoder = Decoder(model, "top_p", top_p=0.9)
    decoder.reseed(3)
    first = decoder.decode(SOURCES, "map", num_samples=4)
    decoder.reseed(3)
    np.testing.assert_array_equal(decoder.decode(SOURCES, "map", num_samples=4), first)
    assert len({tuple(sample) for sample in first.reshape(-1, first.shape[-1])}) > len(SOURCES)  # token sampling varies
    for sample in first.reshape(-1, first.shape[-1]):
        ends = np.flatnonzero(sample == EOS_ID)
        if len(ends):
            assert (sample[ends[0] + 1:] == PAD_ID).all()


@pytest.mark.parametrize("preset, search", [("ved_vattn_mean", "greedy"), ("ved_vattn_dirichlet", "greedy"),
                                            ("ved_dattn", "top_k")])
def test_a_stateless_seed_makes_decoding_a_function_of_its_inputs(preset, search):
    """Serving's decoding: z, the attention vectors and the tokens drawn from a seed tensor, never
    from (or moving) the random streams: the same seed twice gives the same outputs, with any
    draws from the streams between; another seed gives others."""
    model = tiny_model(preset=preset)
    decoder = Decoder(model, search)
    ids, lengths = (tf.repeat(tf.constant(x), 6, axis=0) for x in ([[5, 6, 7, 8], [8, 9, 0, 0]], [4, 2]))

    def decode(seed):
        return decoder.decode_graph(ids, lengths, tf.constant(1.0), tf.constant(1.0),
                                     seed=tf.constant([seed, 0], tf.int64)).numpy()

    streams = [v.numpy().copy() for v in model.variables if "seed_generator" in v.path]
    assert streams
    first = decode(11)
    assert [v.numpy().tolist() for v in model.variables if "seed_generator" in v.path] == [s.tolist() for s in streams]
    decoder.decode(SOURCES, "sample", num_samples=2)  # draws from the streams in between
    np.testing.assert_array_equal(decode(11), first)
    assert len({tuple(row) for row in first}) > 2  # samples of one input differ
    assert not np.array_equal(decode(12), first)


def test_registry_builds_every_search_and_rejects_bad_options():
    assert {type(get_search(name)) for name in SEARCHES} == set(SEARCHES.values())
    assert get_search("beam", beam_size=3).tag == "beam3" and get_search("top_p", top_p=0.8).tag == "top_p0.8"
    assert isinstance(get_search("greedy"), GreedySampler)
    with pytest.raises(ValueError, match="choose one of: greedy, random, top_k, top_p, beam"):
        get_search("viterbi")
    for bad in (dict(name="beam", beam_size=0), dict(name="top_k", top_k=0), dict(name="top_p", top_p=1.5),
                dict(name="random", token_temperature=0.0)):
        with pytest.raises(ValueError, match="is not valid"):
            get_search(**bad)
    with pytest.raises(ValueError, match=r"Unknown search option\(s\) \['temperature'\]; the searches take: "
                                         "token_temperature, top_k, top_p, beam_size, length_penalty"):
        get_search("random", temperature=0.5)
    # Each search says whether it samples, and which options it reads.
    assert [name for name, cls in SEARCHES.items() if cls.deterministic] == ["greedy", "beam"]
    assert [o.flag for o in SEARCHES["top_p"].options] == ["top_p", "token_temperature"]


def test_nucleus_rows_inside_and_beyond_the_candidates_in_one_batch():
    peaked = tf.math.log(tf.constant([[0.9, 0.05, 0.03, 0.01, 0.005, 0.005]]))
    rows = tf.concat([tf.tile(peaked, [500, 1]), tf.tile(LOGITS, [500, 1])], 0)
    tokens = TopPSampler(p=0.75, candidates=2).get_next_token(rows, tf.constant([1, 9], tf.int64)).numpy()
    assert set(tokens[:500]) == {0} and set(tokens[500:]) == {0, 1, 2}


def eos_first_model():
    """A tiny model whose most probable token is EOS at every step."""
    model = tiny_model()
    bias = model.output_projection.bias
    bias.assign(tf.tensor_scatter_nd_update(bias, [[EOS_ID]], [30.0]))
    return model


@pytest.mark.parametrize("name", list(SEARCHES))
def test_min_length_holds_back_eos_in_every_search(name):
    model = eos_first_model()
    plain = Decoder(model, get_search(name, beam_size=3, seed=1)).decode(SOURCES, "map", num_samples=2)
    assert (plain[..., 0] == EOS_ID).all()  # the model ends at once unless held back
    held = Decoder(model, get_search(name, beam_size=3, seed=1, min_length=3)).decode(SOURCES, "map", num_samples=2)
    for output in held.reshape(-1, held.shape[-1]):
        assert EOS_ID not in output[:3]
        assert output[3] == EOS_ID  # then EOS, the most probable token, comes at once


def test_min_length_greedy_is_the_argmax_without_eos_for_its_first_steps():
    model, limit = tiny_model(), 4
    source = SOURCES[2]
    ids = Decoder(model, GreedySampler(min_length=limit)).decode([source])[0, 0]
    state = model.start(tf.constant([source]), tf.constant([len(source)]), 0.0, steps=len(ids))
    previous = tf.fill([1], 2)
    for step, token in enumerate(ids):
        if step and ids[step - 1] == EOS_ID:
            break
        logits, _, state = model.step(previous, state, 0.0)
        logits = logits.numpy()[0]
        if step < limit:
            logits[EOS_ID] = -np.inf
        assert token == np.argmax(logits), step
        previous = tf.constant([token], tf.int32)


def test_min_length_zero_is_the_plain_search_and_names_its_files():
    model = tiny_model()
    for name in ("greedy", "beam"):
        np.testing.assert_array_equal(Decoder(model, get_search(name, min_length=0)).decode(SOURCES),
                                      Decoder(model, get_search(name)).decode(SOURCES))
    assert get_search("greedy", min_length=5).tag == "greedy_min5"
    assert get_search("beam", beam_size=3, min_length=2).tag == "beam3_min2"
    assert get_search("greedy", min_length=5).describe() == "greedy, at least 5 tokens"
    assert get_search("greedy").tag == "greedy" and get_search("greedy").describe() == "greedy"
    for bad in (-1, 2.5):
        with pytest.raises(ValueError, match="min_length=.* is not valid"):
            get_search("top_k", min_length=bad)
