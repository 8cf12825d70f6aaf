"""How likely is the test set? The negative ELBO and an importance-weighted estimate of -log p(y | x).

The generative model of a VED with variational attention is p(y | x) = integral over z and the
attention path a_1..a_T of p(y | x, z, a) p(z) prod_j p(a_j), with p(z) = N(0, I) and p(a_j)
the attention prior (N(0, I) or N(h̄, I), Sec. 3.2). Under teacher forcing the model's posteriors
q(z | x) and q(a_j | ...) (each a_j depends on the steps before it) give a joint proposal, and

* the negative ELBO at KL weight 1 (Eq. 8 with lambda_KL = gamma_a = 1 and KL_att summed over
  every step, as Eq. 8 is written): E_q[-log p(y | x, z, a)] + KL_z + sum_j KL_att_j, its KL terms
  in closed form;
* the importance-weighted bound (Burda et al. 2016): with K joint draws (z_k, a_k) from q,
  log p(y | x) >= log (1/K) sum_k w_k, w_k = p(y | x, z_k, a_k) p(z_k) p(a_k) / q(z_k, a_k),
  which tightens as K grows and is the ELBO of the same draws at K = 1.

Deterministic parts have no latent term: a DED's weights are all p(y | x), so its estimate is its
exact likelihood. :func:`log_weights` gives the weights of a batch; :func:`split_likelihood` the
per-token figures of a split, with a bootstrap interval over its inputs.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from tf_varattn.attention_registry import get_attention
from tf_varattn.data.pipeline import EncodedSplit, make_dataset
from tf_varattn.diagnostics import preserved_random_state
from tf_varattn.layers.latent import gaussian_log_ratio
from tf_varattn.models.objective import attention_kl_per_sentence
from tf_varattn.ops.graph_function import graph_function
from tf_varattn.progress import Progress


# The K of the estimate's convergence table (those up to the K asked for).
CONVERGENCE_SAMPLES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def latent_log_ratio(z, mean, log_sigma):
    """``[B]`` log q(z | x) - log p(z) at the draw ``z``, p = N(0, I) (0 without z: ``[B, 0]``)."""
    return gaussian_log_ratio(z, mean, tf.exp(log_sigma))


def log_weights(model, batch, num_samples: int) -> dict:
    """K = ``num_samples`` joint draws per sentence from q under teacher forcing (inference mode: no
    dropout). Returns ``log_weights [B, K]`` (log p(y | x, z, a) + log p(z) + log p(a) - log q(z, a)),
    and the negative ELBO's terms ``reconstruction [B]`` (-log p(y | x, z, a) averaged over the K
    draws), ``kl_z [B]`` and ``kl_attention [B]`` (closed form, KL_att summed over every step)."""
    size = tf.shape(batch["target_ids"])[0]
    repeated = {name: tf.repeat(values, num_samples, axis=0) for name, values in batch.items()}
    decoded = model.decode_teacher_forced(repeated, training=False, log_ratios=True)
    negative_log_likelihood = model.sentence_cross_entropy(decoded["outputs"], repeated["target_ids"],
                                                           repeated["target_length"])
    attention_ratio = tf.reduce_sum(decoded["attention_log_ratio"], axis=1)  # 0 at padded steps
    weights = -negative_log_likelihood - attention_ratio - latent_log_ratio(decoded["z"], decoded["z_mean"],
                                                                             decoded["z_log_sigma"])
    per_draw = lambda values: tf.reshape(values, [size, num_samples])  # noqa: E731
    kl_attention = attention_kl_per_sentence(decoded["kl_attention"], repeated["target_length"], "sum")
    return {
        "log_weights": per_draw(weights),
        "reconstruction": tf.reduce_mean(per_draw(negative_log_likelihood), axis=1),
        "kl_z": tf.reduce_mean(per_draw(decoded["kl_z"]), axis=1),
        "kl_attention": tf.reduce_mean(per_draw(kl_attention), axis=1),
    }


def importance_weighted_log_likelihood(weights: np.ndarray, num_samples: Optional[int] = None) -> np.ndarray:
    """``[B]`` log (1/K) sum_k w_k from ``weights [B, K']`` (log weights), with the first K =
    ``num_samples`` of them (default all)."""
    weights = np.asarray(weights, np.float64)[:, :num_samples]
    top = weights.max(axis=1, keepdims=True)
    return (top[:, 0] + np.log(np.exp(weights - top).mean(axis=1)))


def perplexity(nll_per_token: float) -> Optional[float]:
    """exp(NLL per token); None where it is beyond a float (an NLL above 709 nats per token)."""
    return math.exp(nll_per_token) if nll_per_token < math.log(np.finfo(np.float64).max) else None


def per_token_interval(values: np.ndarray, tokens: np.ndarray, resamples: int = 1000, seed: int = 0,
                       level: float = 0.95) -> dict:
    """sum(values) / sum(tokens) and its percentile bootstrap interval over the inputs."""
    from tf_varattn.uncertainty import resample_weights

    resampled = resample_weights(len(values), resamples, seed)
    ratios = (resampled @ values) / (resampled @ tokens)
    low, high = np.percentile(ratios, [50 * (1 - level), 50 * (1 + level)])
    return {"value": float(values.sum() / tokens.sum()), "low": float(low), "high": float(high)}


def pair_likelihoods(model, pairs: EncodedSplit, num_samples: int = 50, batch_size: int = 20, seed: int = 0,
                     progress: bool = False, max_sentences: int = 1000) -> dict[str, np.ndarray]:
    """Per pair, in nats (EOS included): ``log_weights [N, K]`` (K = ``num_samples`` joint draws of z
    and the attention path from q; a model without a random latent has K equal weights, its exact
    log p(y | x)), the means over the draws of ``reconstruction``, ``kl_z`` and ``kl_attention`` (KL_att
    summed over every step) ``[N]``, and ``tokens [N]``. ``batch_size`` inputs are decoded together,
    their draws in passes of at most ``max_sentences`` sentences (the memory of the output softmax).
    The draws start from ``seed``; the model's random streams are left as they were."""
    if not len(pairs):
        raise ValueError("The likelihood needs at least one pair.")
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}.")
    # A model without any random latent (a DED) has one weight, p(y | x): one draw is its exact value.
    random = model.settings.variational or get_attention(model.settings.attention).random
    draws = num_samples if random else 1
    # The draws of a batch in passes of at most ``max_sentences`` sentences (memory: the output
    # softmax of every target token of every draw), each pass compiled once per size.
    per_pass = max(1, min(draws, max_sentences // batch_size))
    compiled = {}

    def compute(batch, count):
        if count not in compiled:
            compiled[count] = graph_function(lambda b: log_weights(model, b, count), reduce_retracing=True)
        return {name: values.numpy().astype(np.float64) for name, values in compiled[count](batch).items()}

    parts = {name: [] for name in ("log_weights", "reconstruction", "kl_z", "kl_attention", "tokens")}
    bar = Progress(len(pairs), "likelihood", unit="input") if progress else None
    with preserved_random_state(model):
        model.reseed(seed)  # the draws depend on the weights and the seed only
        for batch in make_dataset(pairs, batch_size, shuffle=False):
            passes = [compute(batch, min(per_pass, draws - done)) for done in range(0, draws, per_pass)]
            counts = [chunk["log_weights"].shape[1] for chunk in passes]
            weights = np.concatenate([chunk["log_weights"] for chunk in passes], axis=1)
            if draws < num_samples:
                weights = np.repeat(weights, num_samples, axis=1)  # a model without a random latent: all equal
            parts["log_weights"].append(weights)
            for name in ("reconstruction", "kl_z", "kl_attention"):  # means over all the draws
                parts[name].append(sum(chunk[name] * count for chunk, count in zip(passes, counts)) / sum(counts))
            parts["tokens"].append(batch["target_length"].numpy().astype(np.float64))
            if bar:
                bar.add(len(parts["tokens"][-1]))
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def split_likelihood(model, pairs: EncodedSplit, num_samples: int = 50, limit: Optional[int] = 1000,
                    batch_size: int = 20, seed: int = 0, progress: bool = False,
                    convergence: Sequence[int] = CONVERGENCE_SAMPLES, max_sentences: int = 1000) -> dict:
    """The likelihood figures of the first ``limit`` pairs (all with None), per target token (EOS
    included, as the training objective counts it): ``negative_elbo`` and its three terms,
    ``nll`` (the importance-weighted estimate of -log p(y | x) with ``num_samples`` draws),
    ``perplexity`` = exp(nll) (None beyond a float), each with a 95% bootstrap interval over the inputs, and
    ``convergence``: the estimate with the first K draws for each K in ``convergence`` up to
    ``num_samples``. The draws as in :func:`pair_likelihoods`."""
    if limit is not None:
        pairs = EncodedSplit(pairs.source_ids[:limit], pairs.target_ids[:limit])
    if not len(pairs):
        raise ValueError("split_likelihood needs at least one pair.")
    values = pair_likelihoods(model, pairs, num_samples, batch_size, seed, progress, max_sentences)
    tokens = values.pop("tokens")
    negative_elbo = values["reconstruction"] + values["kl_z"] + values["kl_attention"]
    nll = -importance_weighted_log_likelihood(values["log_weights"])
    result = {
        "inputs": len(tokens), "tokens": int(tokens.sum()), "num_samples": num_samples, "seed": seed,
        "batch_size": batch_size,
        "negative_elbo": per_token_interval(negative_elbo, tokens),
        **{name: per_token_interval(values[name], tokens) for name in ("reconstruction", "kl_z", "kl_attention")},
        "nll": per_token_interval(nll, tokens),
    }
    nll_interval = result["nll"]
    result["perplexity"] = {key: perplexity(value) for key, value in nll_interval.items()}
    result["convergence"] = [
        {"num_samples": k, "nll": float(-importance_weighted_log_likelihood(values["log_weights"], k).sum() / tokens.sum())}
        for k in convergence if k <= num_samples]
    if num_samples not in [row["num_samples"] for row in result["convergence"]]:
        result["convergence"].append({"num_samples": num_samples, "nll": nll_interval["value"]})
    return result
