"""Diagnostics of bypassing (Sec. 2.4's argument, measured): does the decoder use the latents?

* :class:`LatentDiagnostics`: KL_z and KL_att per target token, the active units of z (Burda et
  al.: dimensions whose posterior mean varies across inputs, variance above 0.01), and the mutual
  information I(x; z) under the aggregate posterior, estimated on a set of pairs.
* :func:`bypass_probe`: BLEU of MAP decoding (latents at their posterior means) against the same
  decoding with z drawn from its prior N(0, I), and with every attention step drawn from its prior
  where the attention is random. A small gap means the decoder ignores that latent.
"""

from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence

import numpy as np
import tensorflow as tf

from tf_varattn.attention_registry import get_attention
from tf_varattn.data.pipeline import EncodedSplit, make_dataset
from tf_varattn.evaluation import DecodingPasses, evaluate_split
from tf_varattn.ops.graph_function import graph_function

ACTIVE_UNIT_THRESHOLD = 0.01


class preserved_random_state:
    """``with preserved_random_state(model):`` restores the states of the model's random generators
    on exit: a diagnostic pass leaves training's random streams exactly where they were."""

    def __init__(self, model):
        self.variables = [v for v in model.non_trainable_variables if "seed_generator" in v.path]

    def __enter__(self):
        self.saved = [variable.numpy() for variable in self.variables]
        return self

    def __exit__(self, *exc):
        for variable, value in zip(self.variables, self.saved):
            variable.assign(value)
        return False


def gaussian_mutual_information(mean: np.ndarray, log_sigma: np.ndarray, seed: int = 0) -> float:
    """I(x; z) = E_x E_q(z|x)[log q(z|x) - log q(z)] for diagonal Gaussians q(z|x_n) =
    N(mean[n], exp(log_sigma[n])), q(z) their mixture over the N inputs (the aggregate posterior,
    as in He et al., 2019): one z_n drawn from each posterior, log q(z_n) by log-sum-exp over all N
    posteriors. In nats; between 0 and log N."""
    mean, log_sigma = np.asarray(mean, np.float64), np.asarray(log_sigma, np.float64)
    count, dim = mean.shape
    if count < 2 or dim == 0:
        return 0.0
    sigma = np.exp(log_sigma)
    z = mean + sigma * np.random.default_rng(seed).standard_normal(mean.shape)

    def log_density(points, means, log_sigmas):  # [c, 1, D] against [N, D] -> [c, N]
        return -0.5 * (((points - means) / np.exp(log_sigmas)) ** 2 + 2 * log_sigmas + math.log(2 * math.pi)).sum(-1)

    own = log_density(z, mean, log_sigma)  # log q(z_n | x_n)
    chunk = max(1, 2_000_000 // (count * dim))  # [chunk, N, D] float64 blocks of about 16 MB
    aggregate = []
    for start in range(0, count, chunk):
        block = log_density(z[start:start + chunk, None, :], mean[None], log_sigma[None])
        peak = block.max(axis=1, keepdims=True)
        aggregate.append(peak[:, 0] + np.log(np.exp(block - peak).sum(axis=1)) - math.log(count))
    return float(np.mean(own - np.concatenate(aggregate)))


def active_units(mean: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Dimensions of z whose posterior mean varies across inputs: Var_x(E_q(z|x)[z_d]) > threshold."""
    mean = np.asarray(mean)
    return int((mean.var(axis=0) > threshold).sum()) if mean.size else 0


class LatentDiagnostics:
    """``LatentDiagnostics(model)(pairs)`` -> ``{"kl_z_per_token", "kl_attention_per_token",
    "active_units", "mutual_information"}`` on the pairs of an :class:`EncodedSplit`.

    The KL terms come from the teacher-forced decoder in inference mode (no dropout); KL_att is
    summed over every real target step. Its draws (z, the attention) start from ``seed``, and the
    model's random streams are left as they were.
    """

    def __init__(self, model, batch_size: int = 100, seed: int = 0):
        self.model, self.batch_size, self.seed = model, batch_size, seed
        self._decode = graph_function(lambda batch: model.decode_teacher_forced(batch, training=False),
                                      reduce_retracing=True)

    def __call__(self, pairs: EncodedSplit, limit: Optional[int] = None) -> dict:
        if limit is not None:
            pairs = EncodedSplit(pairs.source_ids[:limit], pairs.target_ids[:limit])
        if not len(pairs):
            raise ValueError("LatentDiagnostics needs at least one pair.")
        tokens, kl_z, kl_attention, means, log_sigmas = 0, 0.0, 0.0, [], []
        with preserved_random_state(self.model):
            self.model.reseed(self.seed)  # the draws depend on the weights and the seed only
            for batch in make_dataset(pairs, self.batch_size, shuffle=False):
                decoded = self._decode(batch)
                tokens += int(tf.reduce_sum(batch["target_length"]))
                kl_z += float(tf.reduce_sum(decoded["kl_z"]))
                kl_attention += float(tf.reduce_sum(decoded["kl_attention"]))
                means.append(decoded["z_mean"].numpy())
                log_sigmas.append(decoded["z_log_sigma"].numpy())
        mean, log_sigma = np.concatenate(means), np.concatenate(log_sigmas)
        return {
            "kl_z_per_token": kl_z / tokens,
            "kl_attention_per_token": kl_attention / tokens,
            "active_units": active_units(mean),
            "mutual_information": gaussian_mutual_information(mean, log_sigma, self.seed),
        }


def probe_modes(config) -> list[str]:
    """The decodings the probe compares for a model: MAP, then each latent it has drawn from its prior."""
    return (["map"] + (["z_prior"] if config.variational else [])
            + (["attention_prior"] if get_attention(config.attention).random else []))


def bypass_probe(decoder, vocab, sources: Sequence[Sequence[int]], references: Sequence[Sequence[str]],
                 seed: int = 0, batch_size: int = 100, limit: Optional[int] = None, progress: bool = False,
                 modes: Optional[Iterable[str]] = None, map_metrics: Optional[dict] = None,
                 passes: Optional[DecodingPasses] = None) -> dict:
    """Greedy decoding of every input in each of :func:`probe_modes` (prior draws from ``seed``):
    ``{mode: BLEU-1..4}`` plus ``gap_<mode>``, the BLEU-4 lost when that latent comes from the prior.
    ``map_metrics``: the MAP row already measured on the same inputs (greedy MAP is deterministic),
    so it is not decoded again; ``passes``: reuse the decodings finished earlier (:class:`DecodingPasses`)."""
    result = {} if map_metrics is None else {"map": map_metrics}
    for mode in modes or probe_modes(decoder.model.settings):
        if mode in result:
            continue
        result[mode], _ = evaluate_split(decoder, vocab, sources, references, mode, 1, limit=limit, seed=seed,
                                         passes=passes, batch_size=batch_size, progress=progress)
    for mode in list(result):
        if mode != "map":
            result[f"gap_{mode}"] = round(result["map"]["bleu4"] - result[mode]["bleu4"], 2)
    return result
