"""Greedy decoding, batched and compiled: MAP (temperatures 0) or sampling (reference-notes "Inference").

MAP uses the posterior means of z and of the attention vectors (tau_z = tau_a = 0);
sampling draws both with the given temperatures (default 1) and decodes each input
``num_samples`` times. Decoding stops after ``max_decode_length`` tokens or as soon
as every sequence of the batch has produced EOS.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from tf_varattn.data.pipeline import pad_sequences
from tf_varattn.data.vocab import EOS_ID, GO_ID, PAD_ID
from tf_varattn.progress import Progress

MODES = ("map", "sample")


class GreedyDecoder:
    """Greedy decoder over a :class:`~tf_varattn.models.Seq2Seq`; one compiled graph per model."""

    def __init__(self, model, max_length: Optional[int] = None):
        self.model = model
        self.max_length = max_length or model.settings.max_decode_length
        self._decode_batch = tf.function(self._decode_graph, reduce_retracing=True)

    def _decode_graph(self, source_ids, source_length, z_temperature, attention_temperature):
        model, max_length = self.model, self.max_length
        memory, final_h, final_c = model.encode(source_ids, source_length, training=False)
        z, _, _, _ = model.sample_latent(final_h, z_temperature)
        batch = tf.shape(source_ids)[0]
        noise = model.step_noise(max_length, batch)
        outputs = tf.TensorArray(tf.int32, size=max_length)

        def keep_going(step, tokens, state, finished, outputs):
            return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(finished)))

        def body(step, tokens, state, finished, outputs):
            inputs = tf.concat([model.target_embedding(tokens), z], axis=-1)
            output, state, _ = model.decoder_cell(
                inputs, state=state, memory=memory, attention_gate=model.attention_gate,
                attention_temperature=attention_temperature, attention_noise=noise[step],
            )
            # Only the unfinished sequences go through the output projection (its cost dominates).
            active = tf.where(tf.logical_not(finished))
            active_tokens = tf.argmax(model.output_projection(tf.gather_nd(output, active)), axis=-1, output_type=tf.int32)
            next_tokens = tf.tensor_scatter_nd_update(tf.fill(tf.shape(tokens), PAD_ID), active, active_tokens)
            return step + 1, next_tokens, state, finished | tf.equal(next_tokens, EOS_ID), outputs.write(step, next_tokens)

        initial = (
            tf.constant(0), tf.fill([batch], GO_ID), model.initial_decoder_state(final_h, final_c),
            tf.zeros([batch], tf.bool), outputs,
        )
        steps, _, _, _, outputs = tf.while_loop(keep_going, body, initial, maximum_iterations=max_length)
        ids = tf.transpose(outputs.gather(tf.range(steps)))
        return tf.pad(ids, [[0, 0], [0, max_length - steps]], constant_values=PAD_ID)

    def decode_batch(self, source_ids, source_length, mode="map", num_samples=1, z_temperature=1.0, attention_temperature=1.0):
        """``[B, S]`` sources -> ``[B, num_samples, max_length]`` token ids (PAD after EOS)."""
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} is not valid; choose one of: {', '.join(MODES)}.")
        if mode == "map":
            z_temperature = attention_temperature = 0.0
        source_ids = tf.repeat(tf.convert_to_tensor(source_ids, tf.int32), num_samples, axis=0)
        source_length = tf.repeat(tf.convert_to_tensor(source_length, tf.int32), num_samples, axis=0)
        ids = self._decode_batch(source_ids, source_length, tf.constant(z_temperature, tf.float32), tf.constant(attention_temperature, tf.float32))
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
        bar = Progress(len(sources), f"decoding ({mode})", unit="input") if progress else None
        # Batches of similar source length (less padding); results go back to input order.
        order = np.argsort([len(s) for s in sources], kind="stable")
        results = []
        for start in range(0, len(sources), batch_size):
            chunk = [list(sources[i]) for i in order[start : start + batch_size]]
            ids, lengths = pad_sequences(chunk)
            results.append(self.decode_batch(ids, lengths, mode, num_samples, z_temperature, attention_temperature))
            if bar is not None:
                bar.add(len(chunk))
        in_length_order = np.concatenate(results, axis=0)
        decoded = np.empty_like(in_length_order)
        decoded[order] = in_length_order
        return decoded
