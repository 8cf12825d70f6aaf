"""The paper's metrics: BLEU-1..4 (quality) and unigram entropy, Dist-1, Dist-2 (diversity).

Computed as the reference code did (``docs/reference-code.md``, "Inference and metrics").
"""

from __future__ import annotations

import collections
import math
import sys
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from tf_varattn.ops.ngram_counts import clipped_matches

BLEU_WEIGHTS = {
    "bleu1": (1.0,),
    "bleu2": (0.5, 0.5),
    "bleu3": (0.34, 0.33, 0.33),
    "bleu4": (0.25, 0.25, 0.25, 0.25),
}
DIVERSITY_METRICS = ("entropy", "dist1", "dist2")


def bleu_statistics(references: Sequence[Sequence[str]], hypotheses: Sequence[Sequence[str]],
                    reference_of: Optional[Sequence[int]] = None, max_order: int = 4) -> np.ndarray:
    """Corpus BLEU's sufficient statistics per hypothesis, ``[H, 2 + 2 * max_order]`` int64:
    hypothesis length, reference length, then for n = 1..max_order the clipped n-gram matches
    and NLTK's denominator ``max(1, hypothesis n-grams)``. Summed over any subset of rows they
    give that subset's corpus BLEU (:func:`bleu_from_statistics`), which makes bootstraps cheap.

    Hypothesis ``h`` is scored against ``references[reference_of[h]]`` (default: ``references[h]``).
    """
    if reference_of is None:
        if len(references) != len(hypotheses):
            raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses.")
        reference_of = np.arange(len(hypotheses))
    reference_of = np.asarray(reference_of, np.int64)
    if len(reference_of) != len(hypotheses):
        raise ValueError(f"reference_of has {len(reference_of)} entries for {len(hypotheses)} hypotheses.")
    stats = np.zeros([len(hypotheses), 2 + 2 * max_order], np.int64)
    stats[:, 0] = [len(hypothesis) for hypothesis in hypotheses]
    stats[:, 1] = np.asarray([len(reference) for reference in references], np.int64)[reference_of]
    stats[:, 2::2] = clipped_matches(references, hypotheses, reference_of, max_order)
    for n in range(1, max_order + 1):
        stats[:, 2 * n + 1] = np.maximum(1, stats[:, 0] - n + 1)
    return stats


def brevity_penalty(totals: np.ndarray) -> np.ndarray:
    """BLEU's brevity penalty from summed statistics ``[..., K]`` (:func:`bleu_statistics`): 1 when
    the hypotheses are longer in total than their references (c > r), else exp(1 - r / c); 0
    without hypothesis tokens."""
    totals = np.asarray(totals, np.float64)
    hypothesis_length, reference_length = totals[..., 0], totals[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        brevity = np.where(hypothesis_length > reference_length, 1.0,
                           np.exp(1.0 - reference_length / np.maximum(hypothesis_length, 1)))
    return np.where(hypothesis_length == 0, 0.0, brevity)


def bleu_from_statistics(totals: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """Corpus BLEU (0..1) from summed statistics ``[..., 2 + 2 * max_order]`` (leading axes batch),
    as NLTK's ``corpus_bleu`` without smoothing: 0 without unigram matches; an order without
    matches contributes ``log(tiny float)``, so the score is 0 to many digits."""
    totals = np.asarray(totals, np.float64)
    brevity = brevity_penalty(totals)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_precision = 0.0
        for n, weight in enumerate(weights, start=1):
            matches, total = totals[..., 2 * n], totals[..., 2 * n + 1]
            log_precision = log_precision + weight * np.where(
                matches > 0, np.log(matches) - np.log(total), math.log(sys.float_info.min))
    return np.where(totals[..., 2] == 0, 0.0, brevity * np.exp(log_precision))


def bleu_scores(references: Sequence[Sequence[str]], hypotheses: Sequence[Sequence[str]]) -> dict[str, float]:
    """Corpus BLEU-1..4 (as NLTK's, one tokenized reference per hypothesis, no smoothing), x100, 2 decimals."""
    if not hypotheses:
        raise ValueError("BLEU needs at least one hypothesis.")
    totals = bleu_statistics(references, hypotheses).sum(axis=0)
    return {name: round(float(bleu_from_statistics(totals, weights)) * 100, 2) for name, weights in BLEU_WEIGHTS.items()}


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


@dataclass(frozen=True)
class Pooling:
    """Which words of a decoded sample are pooled for diversity, as the released code does
    (``docs/reference-code.md``, last section): it drops the last element of the decoded ids,
    which is EOS when the output ended (every word kept) and the last word when the output ran to
    ``max_length`` tokens without EOS. ``appended`` tokens were added after decoding (qgen's
    ``?``) and are never pooled."""

    max_length: int
    appended: int = 0

    def words(self, output: Sequence[str]) -> Sequence[str]:
        words = output[: len(output) - self.appended]
        return words[:-1] if len(words) >= self.max_length else words


def diversity_per_input(samples: Sequence[Sequence[Sequence[str]]], pooling: Pooling) -> np.ndarray:
    """``[N, 3]``: entropy, Dist-1 and Dist-2 of each input's pooled samples.

    ``samples[i]`` holds the sampled outputs (token lists) of input ``i``; the words of each are
    pooled by ``pooling``. Bigrams cross sample boundaries.
    """
    rows = []
    for outputs in samples:
        pool = [token for output in outputs for token in pooling.words(output)]
        rows.append((unigram_entropy(pool), distinct_n(pool, 1), distinct_n(pool, 2)))
    return np.asarray(rows, np.float64).reshape(-1, len(DIVERSITY_METRICS))


def diversity(samples: Sequence[Sequence[Sequence[str]]], pooling: Pooling) -> dict[str, float]:
    """Entropy, Dist-1 and Dist-2 per input (:func:`diversity_per_input`), averaged over inputs."""
    if not samples:
        raise ValueError("diversity needs at least one input's samples.")
    means = diversity_per_input(samples, pooling).mean(axis=0)
    return {name: float(value) for name, value in zip(DIVERSITY_METRICS, means)}
