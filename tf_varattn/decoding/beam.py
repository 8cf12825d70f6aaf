"""Beam search with length normalisation (Wu et al., 2016), through :meth:`Seq2Seq.step` only."""

from __future__ import annotations

import tensorflow as tf

from tf_varattn.data.vocab import EOS_ID, GO_ID, PAD_ID
from tf_varattn.decoding.registry import register_search
from tf_varattn.decoding.search import Search, SearchOption


def length_penalty(lengths, alpha: float):
    """lp(Y) = ((5 + |Y|) / 6) ** alpha; a hypothesis scores log P(Y|x) / lp(Y). alpha 0: no normalisation."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


@register_search
class BeamSearch(Search):
    """Keeps the ``beam_size`` best hypotheses of each input, ranked by log probability over
    :func:`length_penalty` (|Y| counts EOS); a hypothesis that produced EOS is kept with its
    score unchanged. Stops when every kept hypothesis has ended, or after ``max_length`` tokens,
    and returns each input's best. Every hypothesis of an input shares its z and attention noise
    (drawn once by ``start``). Only running hypotheses reach the output projection."""

    name = "beam"
    options = (SearchOption("beam_size", "beam_size", 5, "Hypotheses kept per input."),
               SearchOption("length_penalty", "alpha", 0.6, "alpha of the length normalisation ((5 + |Y|) / 6) ** alpha."))

    def __init__(self, beam_size: int = 5, alpha: float = 0.6, min_length: int = 0):
        if not (isinstance(beam_size, int) and beam_size >= 1):
            raise ValueError(f"beam_size={beam_size!r} is not valid; it must be an integer >= 1 (1 is greedy).")
        if not alpha >= 0:
            raise ValueError(f"length_penalty alpha={alpha!r} is not valid; it must be >= 0 (0: no length normalisation).")
        self._set_min_length(min_length)
        self.beam_size, self.alpha = beam_size, float(alpha)

    def _own_tag(self):
        return f"beam{self.beam_size}"

    def _own_description(self):
        return f"beam (size {self.beam_size}, alpha {self.alpha:g})"

    def __call__(self, model, state, attention_temperature, max_length):
        width = self.beam_size
        batch = tf.shape(state.time)[0]
        rows = batch * width
        state = tf.nest.map_structure(lambda x: tf.repeat(x, width, axis=0), state)  # [B * W, ...]
        vocab = model.output_projection.units
        # A finished hypothesis continues with PAD at no cost: its score stays as it was.
        ended_row = tf.one_hot(PAD_ID, vocab, on_value=0.0, off_value=-float("inf"))
        first = tf.concat([[0.0], tf.fill([width - 1], -float("inf"))], 0)  # one live hypothesis at the start

        def keep_going(step, tokens, state, log_probs, lengths, finished, sequences):
            return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(finished)))

        def body(step, tokens, state, log_probs, lengths, finished, sequences):
            flat_finished = tf.reshape(finished, [-1])
            active = tf.where(tf.logical_not(flat_finished))[:, 0]
            logits, _, state = model.step(tokens, state, attention_temperature, logit_rows=active)
            step_log_probs = tf.tensor_scatter_nd_update(
                tf.tile(ended_row[None], [rows, 1]), active[:, None],
                self.suppress_end(tf.nn.log_softmax(tf.cast(logits, tf.float32)), step)
            )
            total = log_probs[:, :, None] + tf.reshape(step_log_probs, [batch, width, vocab])
            new_lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)  # [B, W]
            scores = total / length_penalty(new_lengths, self.alpha)[:, :, None]
            _, best = tf.math.top_k(tf.reshape(scores, [batch, width * vocab]), k=width)  # [B, W]
            parents, next_tokens = best // vocab, tf.cast(best % vocab, tf.int32)
            log_probs = tf.gather(tf.reshape(total, [batch, width * vocab]), best, batch_dims=1)
            lengths = tf.gather(new_lengths, parents, batch_dims=1)
            parent_finished = tf.gather(finished, parents, batch_dims=1)
            next_tokens = tf.where(parent_finished, PAD_ID, next_tokens)
            finished = parent_finished | tf.equal(next_tokens, EOS_ID)
            sequences = tf.gather(sequences, parents, batch_dims=1)
            sequences = tf.where(tf.range(max_length)[None, None, :] == step, next_tokens[:, :, None], sequences)
            # Hypotheses of one input share its memory, z and noise: only the recurrent state is reordered.
            flat_parents = tf.reshape(parents + tf.range(batch)[:, None] * width, [-1])
            state = state._replace(cell=tf.nest.map_structure(lambda x: tf.gather(x, flat_parents), state.cell))
            return step + 1, tf.reshape(next_tokens, [-1]), state, log_probs, lengths, finished, sequences

        def body_keeping_shapes(*loop_vars):  # the loop's shapes are those it starts with
            return tf.nest.map_structure(lambda new, old: tf.ensure_shape(new, old.shape), body(*loop_vars), loop_vars)

        initial = (
            tf.constant(0), tf.fill([rows], GO_ID), state, tf.tile(first[None], [batch, 1]),
            tf.zeros([batch, width], tf.int32), tf.zeros([batch, width], tf.bool),
            tf.fill([batch, width, max_length], PAD_ID),
        )
        _, _, _, log_probs, lengths, _, sequences = tf.while_loop(
            keep_going, body_keeping_shapes, initial, maximum_iterations=max_length
        )
        best = tf.argmax(log_probs / length_penalty(lengths, self.alpha), axis=1, output_type=tf.int32)
        return tf.gather(sequences, best, batch_dims=1)
