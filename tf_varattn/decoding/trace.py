"""What the attention did while decoding one input: the weights and, for a random attention, the
posterior's standard deviation (sigma_a of the Gaussian, each weight's for the Dirichlet) of every
step of a greedy MAP decoding (for ``experiments/plot_attention.py``)."""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import numpy as np
import tensorflow as tf

from tf_varattn.data.vocab import EOS_ID, GO_ID


class AttentionTrace(NamedTuple):
    output_ids: list[int]  # the greedy MAP output, EOS included when reached
    weights: np.ndarray  # [steps, source length] alpha_j of each step
    sigma: np.ndarray  # [steps, D] sigma_a (Gaussian), [steps, source length] each weight's (Dirichlet), else [steps, 0]
    attention: str  # the model's attention: deterministic, variational or dirichlet


def trace_attention(model, source_ids: Sequence[int], max_length: Optional[int] = None) -> AttentionTrace:
    """Greedy decoding of one source with the latents at their posterior means (MAP, as the paper's
    MAP rows), recording each step's attention: :meth:`Seq2Seq.start`, then :meth:`Seq2Seq.step`."""
    if not model.decoder_cell.attends:
        raise ValueError("This model has no attention (attention='none'): there is nothing to trace.")
    max_length = max_length or model.settings.max_decode_length
    ids = tf.constant([list(source_ids)], tf.int32)
    state = model.start(ids, tf.constant([len(source_ids)], tf.int32), 0.0, steps=max_length)
    tokens, outputs, weights, sigmas = tf.constant([GO_ID]), [], [], []
    for _ in range(max_length):
        logits, step, state = model.step(tokens, state, 0.0)
        weights.append(step["attention_weights"][0].numpy())
        sigmas.append(step["attention_sigma"][0].numpy())
        tokens = tf.argmax(logits, axis=-1, output_type=tf.int32)
        outputs.append(int(tokens[0]))
        if outputs[-1] == EOS_ID:
            break
    return AttentionTrace(outputs, np.stack(weights), np.stack(sigmas), model.settings.attention)
