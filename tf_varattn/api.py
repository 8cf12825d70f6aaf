"""A trained model in three lines of Python:

    import tf_varattn
    model = tf_varattn.load("runs/qgen/ved_vattn_mean")
    model.generate(["the war ended in 1783 ."], num_samples=5)
    model.likelihood(["the war ended in 1783 ."], ["when did the war end ?"])

:func:`load` restores a run directory written by ``experiments/train.py`` (its evaluation epoch by
default); :meth:`TrainedModel.generate` tokenizes, encodes, decodes and detokenizes, as
``experiments/generate.py`` (a thin script over it) does; :meth:`TrainedModel.likelihood` scores
your own pairs as ``evaluate.py`` scores the test set (``test_likelihood.json``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence

from tf_varattn.runtime import import_tensorflow_quietly

import_tensorflow_quietly()  # tf_varattn.load is as quiet as the scripts

from tf_varattn.config import Config  # noqa: E402
from tf_varattn.data.vocab import TaskVocabulary  # noqa: E402
from tf_varattn.decoding import Decoder, Search, get_search  # noqa: E402
from tf_varattn.evaluation import generate as generate_tokens  # noqa: E402
from tf_varattn.training.runs import evaluation_epoch, load_run  # noqa: E402


@dataclass
class TrainedModel:
    """A restored run: its ``config``, vocabulary, Keras ``model`` and the ``epoch`` loaded."""

    run_dir: str
    config: Config
    vocab: TaskVocabulary
    model: object
    epoch: int

    @property
    def is_evaluation_epoch(self) -> bool:
        """Whether the loaded epoch is the run's evaluation epoch (the one its test numbers are of)."""
        return self.epoch == evaluation_epoch(self.config)

    def encode(self, sentences: Sequence[str]) -> list[list[int]]:
        """Source ids of raw sentences, tokenized and encoded as in training (lower-casing, the
        character filter, truncation, the vocabulary)."""
        return [self.vocab.encode_source(self.vocab.tokenize(sentence)) for sentence in sentences]

    def generate(self, sentences: Sequence[str], num_samples: int = 1, mode: str = "sample", search: str = "greedy",
                 seed: int = 0, z_temperature: float = 1.0, attention_temperature: float = 1.0, min_length: int = 0,
                 **search_options) -> list[list[str]]:
        """``num_samples`` outputs (strings) per sentence. ``mode``: ``"sample"`` draws z and the
        attention vectors (scaled by the temperatures), ``"map"`` uses their posterior means;
        ``search``: ``greedy`` (the paper's), ``beam``, ``top_k``, ``top_p``, ``random``, or one of
        your own, with its options by flag name (``beam_size=5``, ``top_p=0.9``), or a built
        :class:`~tf_varattn.decoding.Search`; ``seed`` fixes
        every random draw. With the means and a deterministic search, one output per sentence."""
        if mode not in ("sample", "map"):
            raise ValueError(f"mode={mode!r} is not valid; choose one of: sample, map.")
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}.")
        chosen = search if isinstance(search, Search) else get_search(search, seed=seed, min_length=min_length,
                                                                        **search_options)
        if mode == "map" and chosen.deterministic:
            num_samples = 1  # every output would be the same
        decoder = Decoder(self.model, chosen)
        decoder.reseed(seed)
        outputs = generate_tokens(decoder, self.vocab, self.encode(sentences), mode, num_samples, z_temperature,
                                  attention_temperature)
        return [[" ".join(tokens) for tokens in per_input] for per_input in outputs]

    def likelihood(self, sources: Sequence[str], targets: Sequence[str], num_samples: int = 50, seed: int = 0,
                   batch_size: int = 20) -> list[dict]:
        """How likely each target is given its source, one dict per pair, in nats: ``nll`` (the
        importance-weighted estimate of -log p(y | x) with ``num_samples`` joint draws of z and the
        attention path; exact for a model without random latents), ``negative_elbo`` at KL weight 1
        and its terms ``reconstruction``, ``kl_z``, ``kl_attention``, ``tokens`` (the target's, EOS
        included), ``nll_per_token`` and ``perplexity`` (None beyond a float). Sentences are
        tokenized and encoded as in training: a word outside the vocabulary is scored as UNK, and a
        target longer than the task's limit is cut. ``seed`` fixes the draws (``tf_varattn/likelihood.py``)."""
        from tf_varattn.data.pipeline import EncodedSplit
        from tf_varattn.likelihood import importance_weighted_log_likelihood, pair_likelihoods, perplexity

        if len(sources) != len(targets):
            raise ValueError(f"likelihood needs one target per source; got {len(sources)} sources and "
                             f"{len(targets)} targets.")
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}.")
        if not len(sources):
            return []
        limit = self.vocab.spec.max_target_length
        pairs = EncodedSplit(self.encode(sources),
                             [self.vocab.encode_target(self.vocab.tokenize(text, limit)) for text in targets])
        values = pair_likelihoods(self.model, pairs, num_samples, batch_size, seed)
        nll = -importance_weighted_log_likelihood(values["log_weights"])
        rows = []
        for i, tokens in enumerate(values["tokens"]):
            terms = {name: float(values[name][i]) for name in ("reconstruction", "kl_z", "kl_attention")}
            per_token = float(nll[i] / tokens)
            rows.append({"nll": float(nll[i]), "negative_elbo": sum(terms.values()), **terms, "tokens": int(tokens),
                         "nll_per_token": per_token, "perplexity": perplexity(per_token)})
        return rows


def load(run_dir: os.PathLike, checkpoint: Optional[int] = None) -> TrainedModel:
    """The run in ``run_dir`` restored from ``checkpoint`` (default: its evaluation epoch, else the
    newest); a run directory that lacks something raises ``RunError`` naming it."""
    config, vocab, model, epoch = load_run(run_dir, checkpoint)
    return TrainedModel(str(run_dir), config, vocab, model, epoch)
