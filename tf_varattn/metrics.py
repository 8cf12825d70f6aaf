"""The paper's metrics: BLEU-1..4 (quality) and unigram entropy, Dist-1, Dist-2 (diversity).

Computed as the reference code did (``docs/reference-notes.md``, "Inference and metrics").
"""

from __future__ import annotations

import collections
import math
import warnings
from typing import Sequence

from nltk.translate.bleu_score import corpus_bleu

BLEU_WEIGHTS = {
    "bleu1": (1.0,),
    "bleu2": (0.5, 0.5),
    "bleu3": (0.34, 0.33, 0.33),
    "bleu4": (0.25, 0.25, 0.25, 0.25),
}


def bleu_scores(references: Sequence[Sequence[str]], hypotheses: Sequence[Sequence[str]]) -> dict[str, float]:
    """Corpus BLEU-1..4 (NLTK, one tokenized reference per hypothesis, no smoothing), x100, 2 decimals."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses.")
    if not hypotheses:
        raise ValueError("BLEU needs at least one hypothesis.")
    list_of_references = [[list(reference)] for reference in references]
    hypotheses = [list(hypothesis) for hypothesis in hypotheses]
    scores = {}
    with warnings.catch_warnings():
        # NLTK warns when an n-gram order has no match; the score is then 0, as intended.
        warnings.simplefilter("ignore", UserWarning)
        for name, weights in BLEU_WEIGHTS.items():
            scores[name] = round(corpus_bleu(list_of_references, hypotheses, weights=weights) * 100, 2)
    return scores


def unigram_entropy(tokens: Sequence[str]) -> float:
    """-sum_w p(w) ln p(w) over the unigram distribution of ``tokens`` (0 for no tokens)."""
    if not tokens:
        return 0.0
    total = len(tokens)
    return -sum(count / total * math.log(count / total) for count in collections.Counter(tokens).values())


def distinct_n(tokens: Sequence[str], n: int) -> float:
    """Distinct n-grams of the token stream divided by the number of tokens (0 for no tokens)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    if not tokens:
        return 0.0
    ngrams = {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}
    return len(ngrams) / len(tokens)


def diversity(samples: Sequence[Sequence[Sequence[str]]], drop_last_token: bool = True) -> dict[str, float]:
    """Entropy, Dist-1 and Dist-2 per input over its pooled samples, averaged over inputs.

    ``samples[i]`` holds the sampled outputs (token lists) of input ``i``. With
    ``drop_last_token`` (the reference's behaviour) the last token of every sample
    is dropped before pooling, as if it were EOS. Bigrams cross sample boundaries.
    """
    if not samples:
        raise ValueError("diversity needs at least one input's samples.")
    totals = {"entropy": 0.0, "dist1": 0.0, "dist2": 0.0}
    for outputs in samples:
        pool = [token for output in outputs for token in (output[:-1] if drop_last_token else output)]
        totals["entropy"] += unigram_entropy(pool)
        totals["dist1"] += distinct_n(pool, 1)
        totals["dist2"] += distinct_n(pool, 2)
    return {name: value / len(samples) for name, value in totals.items()}
