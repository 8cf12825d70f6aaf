"""Decoding a list of sources with a model and a search: batched by length, compiled, in input order.

Two latent modes (docs/reference-code.md "Inference"): ``"map"`` uses the posterior means of z and of
the attention vectors (tau_z = tau_a = 0); ``"sample"`` draws both with the given temperatures
(default 1). The paper's rows are the greedy search in both modes; the other searches choose the
tokens differently (:mod:`tf_varattn.decoding`). Two more modes serve the bypass probe
(:mod:`tf_varattn.diagnostics`): ``"z_prior"`` draws z from its prior N(0, I) and keeps the
attention at its posterior mean; ``"attention_prior"`` keeps z at its mean and draws every
attention step from the attention's prior.
"""

from __future__ import annotations

import functools

from typing import Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from tf_varattn.data.pipeline import pad_sequences
from tf_varattn.decoding.registry import get_search
from tf_varattn.decoding.search import Search
from tf_varattn.interrupts import stop_point
from tf_varattn.layers import random_draws
from tf_varattn.ops.graph_function import graph_function
from tf_varattn.progress import Progress

MODES = ("map", "sample", "z_prior", "attention_prior")


class _AttentionFromPrior:
    """The model as the searches see it, its every step drawing the attention from the prior."""

    def __init__(self, model):
        self.model = model

    def step(self, tokens, state, attention_temperature=1.0, logit_rows=None):
        return self.model.step(tokens, state, attention_temperature, logit_rows, attention_from_prior=True)

    def __getattr__(self, name):
        return getattr(self.model, name)


DECODE_SIGNATURE = (tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32),
                    tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.float32))


class Decoder:
    """``Decoder(model, search)``: one compiled graph (``model.start``, then ``search``) per model and search."""

    def __init__(self, model, search: Optional[Union[Search, str]] = None, max_length: Optional[int] = None, **options):
        self.model = model
        self.search = search if isinstance(search, Search) else get_search(search or "greedy", **options)
        self.max_length = max_length or model.settings.max_decode_length
        self._compiled = {}  # (z_from_prior, attention_from_prior) -> the decoding graph, traced once

    def _decode_batch(self, source_ids, source_length, z_temperature, attention_temperature, z_from_prior=False,
                      attention_from_prior=False):
        """The compiled :meth:`decode_graph`: one graph per latent mode, with any batch and source
        length (a fixed signature), so that decoding never traces again (no retracing warnings)."""
        key = (bool(z_from_prior), bool(attention_from_prior))
        if key not in self._compiled:
            self._compiled[key] = graph_function(
                functools.partial(self.decode_graph, z_from_prior=key[0], attention_from_prior=key[1]),
                input_signature=DECODE_SIGNATURE)
        return self._compiled[key](source_ids, source_length, z_temperature, attention_temperature)

    def decode_graph(self, source_ids, source_length, z_temperature, attention_temperature, z_from_prior=False,
                      attention_from_prior=False, seed=None):
        """``[B, S]`` sources -> ``[B, max_length]`` ids, as graph ops (not compiled here: the caller
        traces it, as :meth:`decode_batch` and an exported model do): ``model.start``, then the
        search. ``seed`` (a stateless seed ``[2]``): every draw (z, the attention, the search's
        tokens) comes from it instead of the random streams."""
        state = self.model.start(source_ids, source_length, z_temperature, steps=self.max_length,
                                 z_from_prior=z_from_prior, seed=None if seed is None else random_draws.fold_in(seed, 0))
        model = _AttentionFromPrior(self.model) if attention_from_prior else self.model
        if seed is None or self.search.deterministic:  # a deterministic search draws nothing of its own
            return self.search(model, state, attention_temperature, self.max_length)
        return self.search(model, state, attention_temperature, self.max_length, seed=random_draws.fold_in(seed, 1))

    def reseed(self, seed: int) -> None:
        """Restarts every random stream of decoding (z's, the attention's and the search's) at ``seed``."""
        self.model.reseed(seed)
        self.search.reseed(seed)

    def decode_batch(self, source_ids, source_length, mode="map", num_samples=1, z_temperature=1.0,
                     attention_temperature=1.0):
        """``[B, S]`` sources -> ``[B, num_samples, max_length]`` token ids (PAD after EOS)."""
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} is not valid; choose one of: {', '.join(MODES)}.")
        if mode == "map":
            z_temperature = attention_temperature = 0.0
        elif mode == "z_prior":  # a prior draw of z, the attention at its posterior mean
            z_temperature, attention_temperature = 1.0, 0.0
        elif mode == "attention_prior":  # z at its posterior mean, prior draws of the attention
            z_temperature, attention_temperature = 0.0, 1.0
        source_ids = tf.repeat(tf.convert_to_tensor(source_ids, tf.int32), num_samples, axis=0)
        source_length = tf.repeat(tf.convert_to_tensor(source_length, tf.int32), num_samples, axis=0)
        ids = self._decode_batch(source_ids, source_length, tf.constant(z_temperature, tf.float32),
                                 tf.constant(attention_temperature, tf.float32), mode == "z_prior",
                                 mode == "attention_prior")
        return tf.reshape(ids, [-1, num_samples, self.max_length]).numpy()

    def decode(
        self,
        sources: Sequence[Sequence[int]],
        mode: str = "map",
        num_samples: int = 1,
        z_temperature: float = 1.0,
        attention_temperature: float = 1.0,
        batch_size: int = 100,
        progress: bool = False,
    ) -> np.ndarray:
        """Encoded sources (lists of ids) -> ``[N, num_samples, max_length]`` ids, in input order."""
        if not len(sources):
            return np.zeros([0, num_samples, self.max_length], np.int32)
        bar = Progress(len(sources), f"decoding ({mode}, {self.search.describe()})", unit="input") if progress else None
        # Batches of similar source length (less padding); results go back to input order.
        order = np.argsort([len(s) for s in sources], kind="stable")
        results = []
        for start in range(0, len(sources), batch_size):
            chunk = [list(sources[i]) for i in order[start : start + batch_size]]
            ids, lengths = pad_sequences(chunk)
            results.append(self.decode_batch(ids, lengths, mode, num_samples, z_temperature, attention_temperature))
            if bar is not None:
                bar.add(len(chunk))
            stop_point()  # a Ctrl-C or SIGTERM deferred by the caller (tf_varattn.interrupts) stops here
        in_length_order = np.concatenate(results, axis=0)
        decoded = np.empty_like(in_length_order)
        decoded[order] = in_length_order
        return decoded



