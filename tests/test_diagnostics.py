"""Latent diagnostics and the bypass probe (tf_varattn/diagnostics.py)."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tf_varattn.data.corpora import TASKS
from tf_varattn.data.pipeline import EncodedSplit
from tf_varattn.decoding import Decoder, trace_attention
from tf_varattn.diagnostics import (
    LatentDiagnostics, active_units, bypass_probe, gaussian_mutual_information, probe_modes,
)

sys.path.insert(0, str(Path(__file__).parent / "models"))
sys.path.insert(0, str(Path(__file__).parent / "training"))
from test_seq2seq import small_model, toy_batch, toy_pairs  # noqa: E402


def test_mutual_information_against_closed_forms():
    # Identical posteriors: q(z) = q(z|x), so I(x; z) = 0 exactly.
    same = np.zeros((50, 3))
    assert gaussian_mutual_information(same, np.zeros((50, 3))) == pytest.approx(0.0, abs=1e-12)
    # N far-apart, sharp posteriors: the aggregate posterior is a mixture of N disjoint parts, I = log N.
    means = np.arange(40)[:, None] * np.array([[100.0, -50.0]])
    assert gaussian_mutual_information(means, np.full((40, 2), -3.0)) == pytest.approx(math.log(40), abs=1e-6)
    # z = x + noise with x ~ N(0, s^2) and posteriors N(x, 1): I -> 0.5 log(1 + s^2) for many inputs.
    x = np.random.default_rng(1).normal(scale=2.0, size=(4000, 1))  # not the estimator's seed 0
    assert gaussian_mutual_information(x, np.zeros((4000, 1))) == pytest.approx(0.5 * math.log(5.0), abs=0.05)


def test_active_units_count_dimensions_whose_mean_varies():
    means = np.stack([np.linspace(-1, 1, 30), np.full(30, 3.0), 0.05 * np.sin(np.arange(30))], axis=1)
    # variances: 0.36, 0, ~0.0012
    assert active_units(means) == 1
    assert active_units(means, threshold=0.001) == 2
    assert active_units(np.zeros((5, 0))) == 0


def toy_split(count=20, seed=0):
    sources, targets = toy_pairs(count, seed)
    return EncodedSplit([list(map(int, s)) for s in sources], [list(map(int, t)) for t in targets])


@pytest.mark.parametrize("preset", ["ded_dattn", "ved_dattn", "ved_vattn_mean", "ved_vattn_dirichlet"])
def test_latent_diagnostics_match_the_model_terms_and_leave_the_random_streams(preset):
    model = small_model(preset)
    split = toy_split()
    before = [v.numpy() for v in model.non_trainable_variables]
    result = LatentDiagnostics(model, batch_size=len(split), seed=4)(split)
    for variable, value in zip(model.non_trainable_variables, before):
        np.testing.assert_array_equal(variable.numpy(), value)
    # Against the model's own terms on the same single batch with the same draws (seed 4).
    model.reseed(4)
    decoded = model.decode_teacher_forced(toy_batch(split.source_ids, split.target_ids), training=False)
    tokens = sum(len(t) for t in split.target_ids)
    assert result["kl_z_per_token"] == pytest.approx(float(tf.reduce_sum(decoded["kl_z"])) / tokens, rel=1e-4)
    assert result["kl_attention_per_token"] == pytest.approx(
        float(tf.reduce_sum(decoded["kl_attention"])) / tokens, rel=1e-4, abs=1e-7)
    # In smaller batches the draws differ, the terms only a little; the random streams stay as they were.
    smaller = LatentDiagnostics(model, batch_size=8, seed=4)(split)
    assert smaller["kl_z_per_token"] == pytest.approx(result["kl_z_per_token"], rel=1e-4)
    assert result["active_units"] == active_units(decoded["z_mean"].numpy())
    if preset == "ded_dattn":
        assert result["kl_z_per_token"] == 0 and result["mutual_information"] == 0 and result["kl_attention_per_token"] == 0
    else:
        assert result["kl_z_per_token"] > 0 and 0 <= result["mutual_information"] <= math.log(len(split)) + 1e-6
    assert (result["kl_attention_per_token"] > 0) == (preset in ("ved_vattn_mean", "ved_vattn_dirichlet"))
    with pytest.raises(ValueError, match="at least one pair"):
        LatentDiagnostics(model)(EncodedSplit([], []))


def test_probe_modes_follow_the_latents_of_each_model():
    from tf_varattn.config import get_config

    assert probe_modes(get_config("ded_dattn")) == ["map"]
    assert probe_modes(get_config("ved_dattn")) == ["map", "z_prior"]
    assert probe_modes(get_config("ved_vattn_zero")) == ["map", "z_prior", "attention_prior"]
    assert probe_modes(get_config("ved_vattn_dirichlet")) == ["map", "z_prior", "attention_prior"]


def test_prior_draws_ignore_the_posterior():
    """z from the prior is the same for any source (same seed); the attention from the prior
    N(h̄, I) is h̄ plus the step's noise, whatever the query."""
    model = small_model("ved_vattn_mean")
    sources = tf.constant([[5, 6, 7, 8], [9, 10, 11, 0]])
    lengths = tf.constant([4, 3])
    model.reseed(3)
    state = model.start(sources, lengths, 1.0, steps=4, z_from_prior=True)
    model.reseed(3)
    other = model.start(tf.reverse(sources, [0]), tf.reverse(lengths, [0]), 1.0, steps=4, z_from_prior=True)
    np.testing.assert_allclose(state.latent.z, other.latent.z)
    assert not np.allclose(state.latent.z, state.latent.mean)
    _, step, _ = model.step(tf.constant([2, 2]), state, 1.0, attention_from_prior=True)
    posterior = model.decoder_cell.posterior
    context = state.memory.mean + state.attention_noise[:, 0]
    sample, _ = posterior(tf.zeros_like(context), prior_mean=state.memory.mean, noise=state.attention_noise[:, 0],
                          from_prior=True)
    np.testing.assert_allclose(sample, context, rtol=1e-6)


@pytest.mark.parametrize("preset", ["ved_dattn", "ved_vattn_zero", "ved_vattn_dirichlet"])
def test_bypass_probe_reports_each_prior_and_its_gap(preset):
    from tf_varattn.data.vocab import Vocabulary

    model = small_model(preset)
    decoder = Decoder(model)
    split = toy_split(12, seed=1)

    class TinyVocab:  # decode_target as in the task vocabulary, with word ids as words
        target = Vocabulary([f"w{i}" for i in range(4, 40)])
        spec = TASKS["dialogue"]  # nothing appended to the outputs

        def decode_target(self, ids):
            return self.target.decode(ids)

    vocab = TinyVocab()
    references = [vocab.decode_target(t) for t in split.target_ids]
    result = bypass_probe(decoder, vocab, split.source_ids, references, seed=0, batch_size=5)
    assert set(result) == {*probe_modes(model.settings), *(f"gap_{m}" for m in probe_modes(model.settings)[1:])}
    for mode in probe_modes(model.settings)[1:]:
        assert result[f"gap_{mode}"] == pytest.approx(result["map"]["bleu4"] - result[mode]["bleu4"], abs=0.006)
    # The MAP row is the ordinary MAP decoding; the prior rows are reproducible for the seed.
    map_ids = decoder.decode(split.source_ids, "map")
    assert result["map"] == bypass_probe(decoder, vocab, split.source_ids, references, modes=["map"])["map"]
    # A MAP row measured already (evaluate.py's) is used as it is, not decoded again.
    given = {**result["map"], "bleu4": 50.0}
    reused = bypass_probe(decoder, vocab, split.source_ids, references, seed=0, batch_size=5, map_metrics=given)
    assert reused["map"] == given and reused["gap_z_prior"] == round(50.0 - result["z_prior"]["bleu4"], 2)
    decoder.reseed(0)
    first = decoder.decode(split.source_ids, "z_prior")
    decoder.reseed(0)
    np.testing.assert_array_equal(decoder.decode(split.source_ids, "z_prior"), first)
    assert first.shape == map_ids.shape


@pytest.mark.parametrize("preset", ["ved_dattn", "ved_vattn_mean", "ved_vattn_dirichlet"])
def test_attention_trace_follows_greedy_map_decoding(preset):
    model = small_model(preset)
    trace = trace_attention(model, [5, 6, 7, 8, 9])
    ids = Decoder(model).decode([[5, 6, 7, 8, 9]], "map")[0, 0]
    steps = len(trace.output_ids)
    np.testing.assert_array_equal(ids[:steps], trace.output_ids)
    assert trace.weights.shape == (steps, 5)
    np.testing.assert_allclose(trace.weights.sum(axis=1), 1.0, rtol=1e-5)
    # sigma_a per dimension (2 x encoder units), each Dirichlet weight's std, nothing for DAttn.
    assert trace.sigma.shape == (steps, {"ved_vattn_mean": 16, "ved_vattn_dirichlet": 5, "ved_dattn": 0}[preset])
    assert np.all(trace.sigma > 0)
    assert trace.attention == model.settings.attention
    with pytest.raises(ValueError, match="no attention"):
        trace_attention(small_model("ded"), [5, 6])
