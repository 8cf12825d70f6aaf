import numpy as np
import pytest

from tf_varattn.metrics import Pooling, bleu_scores, diversity
from tf_varattn.uncertainty import PerInputScores, bootstrap_interval, paired_bootstrap, resample_weights

POOLING = Pooling(max_length=20, appended=1)  # qgen-like outputs ending in "?"


def _outputs(rng, inputs, samples, vocab):
    words = [f"w{i}" for i in range(vocab)]
    return [[list(rng.choice(words, size=rng.integers(2, 7))) + ["?"] for _ in range(samples)] for _ in range(inputs)]


@pytest.fixture
def corpus():
    rng = np.random.default_rng(0)
    references = [list(rng.choice(["w0", "w1", "w2", "w3"], size=5)) + ["?"] for _ in range(60)]
    runs = [_outputs(rng, 60, 3, 4), _outputs(rng, 60, 3, 4)]
    return references, runs


def _score(references, outputs):
    paired = [r for r, per_input in zip(references, outputs) for _ in per_input]
    return {**bleu_scores(paired, [s for per_input in outputs for s in per_input]), **diversity(outputs, POOLING)}


def test_full_sample_weights_give_the_averaged_metrics_of_the_runs(corpus):
    references, runs = corpus
    scores = PerInputScores.from_outputs(references, runs, POOLING)
    ones = np.ones([1, len(references)])
    per_run = [_score(references, outputs) for outputs in runs]
    for name in ("bleu1", "bleu4", "entropy", "dist1", "dist2"):
        expected = np.mean([metrics[name] for metrics in per_run])
        assert scores.metric(name, ones)[0] == pytest.approx(expected, abs=0.006 if name.startswith("bleu") else 1e-12)


def test_a_resample_scores_as_the_resampled_corpus(corpus):
    references, runs = corpus
    scores = PerInputScores.from_outputs(references, runs, POOLING)
    weights = resample_weights(len(references), resamples=2, seed=3)
    drawn = np.repeat(np.arange(len(references)), weights[1].astype(int))
    resampled = [[outputs[i] for i in drawn] for outputs in runs]
    per_run = [_score([references[i] for i in drawn], outputs) for outputs in resampled]
    for name in ("bleu2", "dist1"):
        expected = np.mean([metrics[name] for metrics in per_run])
        assert scores.metric(name, weights)[1] == pytest.approx(expected, abs=0.006 if name.startswith("bleu") else 1e-12)


def test_resample_weights_draw_every_input_set_once_on_average():
    weights = resample_weights(50, resamples=400, seed=1)
    assert weights.shape == (400, 50)
    assert np.all(weights.sum(axis=1) == 50)
    assert weights.mean() == pytest.approx(1.0)


def test_interval_of_a_mean_matches_the_standard_error():
    # Entropy is a per-input mean: its bootstrap interval is about +-1.96 sd / sqrt(N).
    rng = np.random.default_rng(5)
    values = rng.normal(2.0, 0.5, size=400)
    scores = PerInputScores(bleu=np.zeros([1, 400, 10]), diversity=np.stack([values, values, values], -1)[None])
    interval = bootstrap_interval(scores, "entropy", resamples=4000, seed=2)
    half_width = 1.96 * values.std() / np.sqrt(len(values))
    assert interval["value"] == pytest.approx(values.mean())
    assert interval["high"] - interval["value"] == pytest.approx(half_width, rel=0.1)
    assert interval["value"] - interval["low"] == pytest.approx(half_width, rel=0.1)


def test_paired_test_finds_a_real_difference_and_none_between_equals(corpus):
    references, runs = corpus
    varied = PerInputScores.from_outputs(references, runs, POOLING)
    repeated = PerInputScores.from_outputs(references, [[[per_input[0]] * 3 for per_input in outputs] for outputs in runs], POOLING)
    result = paired_bootstrap(varied, repeated, "dist1", resamples=500)
    assert result["difference"] > 0 and result["low"] > 0
    assert result["p_value"] == pytest.approx(1 / 500)
    same = paired_bootstrap(varied, varied, "entropy", resamples=500)
    assert same["difference"] == 0 and same["p_value"] == 1.0


def test_paired_test_rejects_different_inputs(corpus):
    references, runs = corpus
    scores = PerInputScores.from_outputs(references, runs, POOLING)
    fewer = PerInputScores.from_outputs(references[:10], [outputs[:10] for outputs in runs], POOLING)
    with pytest.raises(ValueError, match="same inputs: 60 vs 10"):
        paired_bootstrap(scores, fewer, "dist1")


def test_seed_spread_and_welch_interval_against_closed_forms():
    from tf_varattn.uncertainty import seed_difference, seed_spread

    assert seed_spread([1.0, 2.0, 3.0]) == {"n": 3, "mean": 2.0, "sd": 1.0}
    assert seed_spread([4.0]) == {"n": 1, "mean": 4.0, "sd": None}
    # Variances 1 and 1 over 3 runs each: se = sqrt(2 / 3), Welch df = (2/3)^2 / (2 * (1/3)^2 / 2) = 4,
    # t(0.975, 4) = 2.776445 (tables), so -3 +- 2.776445 * 0.816497.
    result = seed_difference([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert result["difference"] == -3.0 and result["df"] == pytest.approx(4.0)
    assert result["low"] == pytest.approx(-3 - 2.776445 * np.sqrt(2 / 3), abs=1e-5)
    assert result["high"] == pytest.approx(-3 + 2.776445 * np.sqrt(2 / 3), abs=1e-5)
    # Unequal spreads: df between min(n) - 1 = 2 and n1 + n2 - 2 = 4.
    assert 2 < seed_difference([1.0, 1.1, 0.9], [4.0, 6.0, 5.0])["df"] < 4
    assert seed_difference([1.0], [2.0, 3.0])["low"] is None
