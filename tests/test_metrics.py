import math

import pytest

import numpy as np

from tf_varattn.metrics import (
    Pooling,
    BLEU_WEIGHTS,
    bleu_from_statistics,
    bleu_scores,
    bleu_statistics,
    distinct_n,
    diversity,
    diversity_per_input,
    unigram_entropy,
)


def test_bleu_perfect_match_is_100():
    refs = [["a", "b", "c", "d"], ["e", "f", "g", "h", "i"]]
    assert bleu_scores(refs, refs) == {"bleu1": 100.0, "bleu2": 100.0, "bleu3": 100.0, "bleu4": 100.0}


def test_bleu_by_hand():
    # hyp "the cat sat on mat" vs ref "the cat sat on the mat": no brevity... c=5 < r=6 -> BP = exp(1 - 6/5).
    # p1 = 5/5, p2 = 3/4 (the cat, cat sat, sat on), p3 = 2/3, p4 = 1/2.
    refs, hyps = [["the", "cat", "sat", "on", "the", "mat"]], [["the", "cat", "sat", "on", "mat"]]
    bp = math.exp(1 - 6 / 5)
    p = [1.0, 3 / 4, 2 / 3, 1 / 2]
    expected = {
        "bleu1": bp * p[0],
        "bleu2": bp * math.exp(0.5 * math.log(p[0]) + 0.5 * math.log(p[1])),
        "bleu3": bp * math.exp(0.34 * math.log(p[0]) + 0.33 * math.log(p[1]) + 0.33 * math.log(p[2])),
        "bleu4": bp * math.exp(sum(0.25 * math.log(x) for x in p)),
    }
    assert bleu_scores(refs, hyps) == {k: round(v * 100, 2) for k, v in expected.items()}


def test_bleu_is_corpus_level_not_sentence_average():
    # Counts pooled over sentences: p1 = (2 + 0) / (2 + 2) = 1/2; lengths 4 vs 4 -> BP = 1.
    refs, hyps = [["a", "b"], ["c", "d"]], [["a", "b"], ["x", "y"]]
    assert bleu_scores(refs, hyps)["bleu1"] == 50.0
    # p2 = 1/2 too (one of two bigrams matches).
    assert bleu_scores(refs, hyps)["bleu2"] == 50.0


def test_bleu_empty_hypothesis_and_missing_orders_give_zero():
    assert bleu_scores([["a", "b"]], [[]]) == {"bleu1": 0.0, "bleu2": 0.0, "bleu3": 0.0, "bleu4": 0.0}
    # One-word hypothesis that matches: BLEU-1 = BP = exp(1 - 3), no bigrams -> BLEU-2 = 0.
    scores = bleu_scores([["a", "b", "c"]], [["a"]])
    assert scores["bleu1"] == round(math.exp(1 - 3) * 100, 2)
    assert scores["bleu2"] == 0.0


def test_bleu_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        bleu_scores([["a"], ["b"]], [["a"]])


def test_unigram_entropy_by_hand():
    assert unigram_entropy(["a", "a", "a"]) == 0.0
    assert unigram_entropy(["a", "b"]) == pytest.approx(math.log(2))
    # p = (1/2, 1/4, 1/4)
    assert unigram_entropy(["a", "b", "a", "c"]) == pytest.approx(0.5 * math.log(2) + 2 * 0.25 * math.log(4))
    assert unigram_entropy([]) == 0.0


def test_distinct_n_divides_by_token_count():
    tokens = ["a", "b", "a", "b", "c"]
    assert distinct_n(tokens, 1) == pytest.approx(3 / 5)
    assert distinct_n(tokens, 2) == pytest.approx(3 / 5)  # ab, ba, bc
    assert distinct_n(tokens, 6) == 0.0  # n larger than the stream
    assert distinct_n([], 1) == 0.0
    with pytest.raises(ValueError):
        distinct_n(tokens, 0)


QGEN = Pooling(max_length=4, appended=1)  # qgen: "?" appended after decoding
DIALOGUE = Pooling(max_length=4)


def test_diversity_pools_samples_and_averages_inputs():
    samples = [
        [["a", "b", "?"], ["a", "c", "?"]],  # pool a b a c
        [["x", "x", "?"], ["x", "x", "?"]],  # pool x x x x
    ]
    first = {"entropy": 0.5 * math.log(2) + 2 * 0.25 * math.log(4), "dist1": 3 / 4, "dist2": 3 / 4}  # ab ba ac
    second = {"entropy": 0.0, "dist1": 1 / 4, "dist2": 1 / 4}
    result = diversity(samples, QGEN)
    for key in first:
        assert result[key] == pytest.approx((first[key] + second[key]) / 2)
    # The same words in dialogue (nothing appended): "?" is a real word there and is pooled.
    kept = diversity(samples, DIALOGUE)
    # pool a b ? a c ?: 4 distinct of 6 unigrams.
    assert kept["dist1"] == pytest.approx((4 / 6 + 2 / 6) / 2)


@pytest.mark.parametrize("pooling, output, pooled", [
    # Ended with EOS (fewer words than the limit): the released code drops EOS, every word stays.
    (DIALOGUE, ["a", "b", "c"], ["a", "b", "c"]),
    (QGEN, ["a", "b", "c", "?"], ["a", "b", "c"]),
    (DIALOGUE, [], []),
    (QGEN, ["?"], []),
    # Ran to the limit without EOS: the last word is what it drops.
    (DIALOGUE, ["a", "b", "c", "d"], ["a", "b", "c"]),
    (QGEN, ["a", "b", "c", "d", "?"], ["a", "b", "c"]),
])
def test_pooling_drops_eos_of_an_ended_output_and_the_last_word_of_one_cut_at_the_limit(pooling, output, pooled):
    assert list(pooling.words(output)) == pooled


def test_diversity_of_dialogue_samples_keeps_their_last_word():
    # Two ended replies "a b" and "a c": the pool is a b a c (the old rule pooled a a).
    result = diversity([[["a", "b"], ["a", "c"]]], DIALOGUE)
    assert result["dist1"] == pytest.approx(3 / 4) and result["dist2"] == pytest.approx(3 / 4)
    # A reply cut at the limit loses its last word: a b c | a b -> 3 distinct of 5, bigrams ab bc ca ab.
    result = diversity([[["a", "b", "c", "d"], ["a", "b"]]], DIALOGUE)
    assert result["dist1"] == pytest.approx(3 / 5) and result["dist2"] == pytest.approx(3 / 5)


def test_diversity_with_empty_outputs_is_zero():
    assert diversity([[["?"], ["?"]]], QGEN) == {"entropy": 0.0, "dist1": 0.0, "dist2": 0.0}


def _random_corpus(rng, size, vocab=5, max_length=7):
    words = [f"w{i}" for i in range(vocab)]
    sentence = lambda: [str(w) for w in rng.choice(words, size=rng.integers(0, max_length + 1))]  # noqa: E731
    return [sentence() for _ in range(size)], [sentence() for _ in range(size)]


@pytest.mark.filterwarnings("ignore:\\nThe hypothesis contains 0 counts:UserWarning")
@pytest.mark.parametrize("seed", range(5))
def test_bleu_statistics_reproduce_nltk_corpus_bleu(seed):
    from nltk.translate.bleu_score import corpus_bleu

    references, hypotheses = _random_corpus(np.random.default_rng(seed), 40)
    references[0] = references[0] or ["w1"]  # keep at least one non-empty reference
    totals = bleu_statistics(references, hypotheses).sum(axis=0)
    for weights in BLEU_WEIGHTS.values():
        expected = corpus_bleu([[r] for r in references], hypotheses, weights=weights)
        assert bleu_from_statistics(totals, weights) == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_bleu_statistics_of_a_subset_sum_to_the_subsets_bleu():
    references, hypotheses = _random_corpus(np.random.default_rng(7), 30)
    stats = bleu_statistics(references, hypotheses)
    subset = [0, 3, 3, 8, 20]  # with a repeat, as a bootstrap draws
    direct = bleu_scores([references[i] for i in subset], [hypotheses[i] for i in subset])
    batched = bleu_from_statistics(np.stack([stats[subset].sum(0), stats.sum(0)]), BLEU_WEIGHTS["bleu2"])
    assert round(float(batched[0]) * 100, 2) == direct["bleu2"]
    assert round(float(batched[1]) * 100, 2) == bleu_scores(references, hypotheses)["bleu2"]


def test_diversity_per_input_rows_average_to_diversity():
    samples = [[["a", "b", "?"], ["a", "c", "?"]], [["x", "x", "?"], ["x", "y", "?"]]]
    rows = diversity_per_input(samples, QGEN)
    assert rows.shape == (2, 3)
    assert rows[1, 1] == pytest.approx(2 / 4)  # x x x y: 2 distinct of 4
    assert dict(zip(("entropy", "dist1", "dist2"), rows.mean(0))) == pytest.approx(diversity(samples, QGEN))
