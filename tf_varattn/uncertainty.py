"""How sure the test metrics are: bootstrap intervals over test inputs and a paired bootstrap test.

Test inputs are resampled with replacement (Koehn, 2004); every metric is recomputed on
each resample from per-input quantities (BLEU's sufficient statistics, each input's
entropy / Dist-n), so a thousand resamples of the whole test set take a moment. With
several sampling runs (seeds), each resample scores every run on the same inputs and
averages the runs, as the point estimate does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tf_varattn.metrics import (
    BLEU_WEIGHTS, DIVERSITY_METRICS, Pooling, bleu_from_statistics, bleu_statistics, diversity_per_input)


@dataclass(frozen=True)
class PerInputScores:
    """Per-input quantities of one model's sampling rows: ``bleu [S, N, K]`` statistics summed over
    each input's samples and ``diversity [S, N, 3]`` (entropy, Dist-1, Dist-2), for S runs of N inputs."""

    bleu: np.ndarray
    diversity: np.ndarray

    @classmethod
    def from_outputs(cls, references: Sequence[Sequence[str]], runs: Sequence[Sequence[Sequence[Sequence[str]]]],
                     pooling: Pooling) -> "PerInputScores":
        """``runs[s][i]`` are the samples (token lists) of input ``i`` in sampling run ``s``; their
        words pooled for diversity by ``pooling``."""
        bleu, spread = [], []
        for outputs in runs:
            if len(outputs) != len(references):
                raise ValueError(f"a sampling run has {len(outputs)} inputs, the references {len(references)}.")
            counts = [len(per_input) for per_input in outputs]
            stats = bleu_statistics(references, [sample for per_input in outputs for sample in per_input],
                                    reference_of=np.repeat(np.arange(len(references)), counts))
            bleu.append(np.add.reduceat(stats, np.cumsum([0] + counts[:-1]), axis=0))
            spread.append(diversity_per_input(outputs, pooling))
        return cls(np.stack(bleu), np.stack(spread))

    @property
    def num_inputs(self) -> int:
        return self.bleu.shape[1]

    def metric(self, name: str, weights: np.ndarray) -> np.ndarray:
        """``name`` (``bleu1``..``bleu4`` x100, or a diversity metric) for each row of input
        ``weights [B, N]`` (how often each input is drawn), averaged over the runs: ``[B]``."""
        if name in BLEU_WEIGHTS:
            totals = np.einsum("bn,snk->sbk", weights, self.bleu)
            return 100 * bleu_from_statistics(totals, BLEU_WEIGHTS[name]).mean(axis=0)
        column = DIVERSITY_METRICS.index(name)
        return (weights @ self.diversity[:, :, column].T).mean(axis=1) / weights.sum(axis=1)


@functools.lru_cache(maxsize=4)
def resample_weights(num_inputs: int, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """``[resamples, num_inputs]``: how often each input is drawn in each bootstrap resample
    (read-only; drawn once per arguments, since every metric of every run reuses them)."""
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(num_inputs, np.full(num_inputs, 1.0 / num_inputs), size=resamples).astype(np.float64)
    weights.setflags(write=False)
    return weights


def bootstrap_interval(scores: PerInputScores, name: str, resamples: int = 1000, seed: int = 0,
                       level: float = 0.95) -> dict[str, float]:
    """Point estimate and the percentile bootstrap interval of ``name``."""
    point = float(scores.metric(name, np.ones([1, scores.num_inputs]))[0])
    values = scores.metric(name, resample_weights(scores.num_inputs, resamples, seed))
    low, high = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return {"value": point, "low": float(low), "high": float(high)}


def paired_bootstrap(first: PerInputScores, second: PerInputScores, name: str, resamples: int = 1000,
                     seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """``first - second`` on the same inputs: the difference, its interval, and the two-sided
    p-value of "no difference" (twice the share of resamples on the smaller side of 0;
    at best ``1 / resamples``)."""
    if first.num_inputs != second.num_inputs:
        raise ValueError(f"paired test needs the same inputs: {first.num_inputs} vs {second.num_inputs}.")
    ones = np.ones([1, first.num_inputs])
    point = float(first.metric(name, ones)[0] - second.metric(name, ones)[0])
    weights = resample_weights(first.num_inputs, resamples, seed)
    differences = first.metric(name, weights) - second.metric(name, weights)
    low, high = np.percentile(differences, [50 * (1 - level), 50 * (1 + level)])
    tail = min(np.mean(differences <= 0), np.mean(differences >= 0))
    return {"difference": point, "low": float(low), "high": float(high),
            "p_value": float(max(min(1.0, 2 * tail), 1.0 / resamples))}


# -- across training runs (seeds) -------------------------------------------------------------------

def seed_spread(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (n - 1) of one metric over training runs; ``sd`` is
    None with fewer than two runs."""
    values = np.asarray(values, np.float64)
    if values.size == 0:
        raise ValueError("seed_spread needs at least one run's value.")
    sd = float(values.std(ddof=1)) if values.size > 1 else None
    return {"n": int(values.size), "mean": float(values.mean()), "sd": sd}


def seed_difference(first: Sequence[float], second: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """``mean(first) - mean(second)`` over independent training runs of two models, with Welch's
    t-interval (Welch-Satterthwaite degrees of freedom); None bounds with fewer than two runs of
    either model or no spread at all."""
    from scipy.stats import t

    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    difference = float(first.mean() - second.mean())
    if first.size < 2 or second.size < 2:
        return {"difference": difference, "low": None, "high": None, "df": None}
    a, b = first.var(ddof=1) / first.size, second.var(ddof=1) / second.size
    if a + b == 0:
        return {"difference": difference, "low": None, "high": None, "df": None}
    df = (a + b) ** 2 / (a ** 2 / (first.size - 1) + b ** 2 / (second.size - 1))
    half = float(t.ppf(0.5 + level / 2, df) * np.sqrt(a + b))
    return {"difference": difference, "low": difference - half, "high": difference + half, "df": float(df)}
