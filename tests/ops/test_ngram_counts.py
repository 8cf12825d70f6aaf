import collections

import numpy as np
import pytest

from tf_varattn.ops.ngram_counts import clipped_matches


def _counter_matches(references, hypotheses, reference_of, n):
    """The plain computation: one Counter per sentence, as corpus BLEU counts."""
    grams = lambda s: collections.Counter(tuple(s[i : i + n]) for i in range(len(s) - n + 1))  # noqa: E731
    return [sum(min(c, grams(references[r])[g]) for g, c in grams(h).items()) for h, r in zip(hypotheses, reference_of)]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", range(3))
def test_clipped_matches_equal_counter_counts(n, seed):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(6)]
    sentence = lambda: [str(w) for w in rng.choice(words, size=rng.integers(0, 9))]  # noqa: E731
    references = [sentence() for _ in range(15)]
    hypotheses = [sentence() for _ in range(60)]
    reference_of = rng.integers(0, len(references), size=len(hypotheses))
    expected = _counter_matches(references, hypotheses, reference_of, n)
    assert clipped_matches(references, hypotheses, reference_of, 4)[:, n - 1].tolist() == expected


def test_clipping_and_sentences_without_ngrams():
    # "a a a" against "a a": 2 of 3 unigrams match (clipped), 1 of 2 bigrams.
    references, hypotheses = [["a", "a"], []], [["a", "a", "a"], ["a"], [], ["a", "a"]]
    matches = clipped_matches(references, hypotheses, [0, 0, 0, 1], 3)
    assert matches.tolist() == [[2, 1, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0]]
    assert clipped_matches(references, [[]], [1], 3).tolist() == [[0, 0, 0]]
