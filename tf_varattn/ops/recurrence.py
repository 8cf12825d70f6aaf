"""Running a step function over time, and over only the sequences still running at each step
(:class:`PackedSteps`): the speed machinery under the encoder and the teacher-forced decoder.
Equivalence tests against the padded computation: ``tests/ops/test_recurrence.py``."""

from __future__ import annotations

from typing import Optional

import tensorflow as tf


class PackedSteps:
    """The real steps of a batch of sequences of different lengths, packed time-major.

    The rows are ordered by length, longest first (``order``; ties keep batch order), so the
    sequences still running at step ``t`` are the first ``rows[t]`` rows of that order. Packed
    tensors ``[N, ...]`` hold one row per real step (``N = sum(lengths)``): step 0 of every
    sequence, then step 1 of those still running, and so on. ``positions [N, 2]`` gives the
    ``(t, batch row)`` of each packed row, so :meth:`pack` and :meth:`unpack` convert from and to
    padded tensors in the caller's row order (gradients included).
    """

    def __init__(self, lengths, steps):
        lengths = tf.convert_to_tensor(lengths, tf.int32)
        self.size, self.steps = tf.shape(lengths)[0], steps
        self.order = tf.argsort(lengths, direction="DESCENDING", stable=True)
        running = tf.sequence_mask(tf.gather(lengths, self.order), steps)  # [B, T], rows longest first
        self.rows = tf.reduce_sum(tf.cast(running, tf.int32), axis=0)  # [T], non-increasing
        step_rank = tf.cast(tf.where(tf.transpose(running)), tf.int32)  # [N, 2]: (t, rank), time-major
        self.positions = tf.stack([step_rank[:, 0], tf.gather(self.order, step_rank[:, 1])], 1)

    def sort(self, x):
        """Batch-major ``x [B, ...]`` in the packed row order."""
        return tf.gather(x, self.order)

    def pack(self, x, time_major=True):
        """``x [T, B, ...]`` (or ``[B, T, ...]``) -> its real steps, packed: ``[N, ...]``."""
        if 0 in x.shape[2:]:  # gather_nd rejects empty parameters
            return tf.zeros(tf.concat([tf.shape(self.positions)[:1], tf.shape(x)[2:]], 0), x.dtype)
        return tf.gather_nd(x, self.positions if time_major else self.positions[:, ::-1])

    def unpack(self, packed, time_major=False):
        """Packed ``[N, ...]`` -> ``[B, T, ...]`` (or ``[T, B, ...]``) with zeros at the padded steps."""
        positions = self.positions if time_major else self.positions[:, ::-1]
        leading = [self.steps, self.size] if time_major else [self.size, self.steps]
        return tf.scatter_nd(positions, packed, tf.concat([leading, tf.shape(packed)[1:]], 0))


def recurrence(step, elements, initial_state, output_specs, packed: Optional[PackedSteps] = None):
    """Runs ``step(state, elements_t) -> (new_state, output_t)`` over time-major ``elements``.

    ``output_specs`` is the structure of ``tf.TensorSpec`` of one step's output. Returns
    ``(outputs [T, ...], final_state)``. Unlike ``tf.scan`` only the outputs are stacked,
    not the state of every step, so the backward pass has no unused per-step states to
    read or zero-fill.

    With ``packed`` (:class:`PackedSteps`), each step computes only the sequences still
    running: ``elements`` and the returned outputs are packed ``[N, ...]``, the state's rows
    are in ``packed.order`` and step ``t`` sees its first ``packed.rows[t]`` rows; the final
    state is not returned (``None``), since finished sequences leave it early.
    """
    flat_elements = tf.nest.flatten(elements)
    steps = tf.shape(flat_elements[0])[0] if packed is None else packed.steps
    flat_specs = tf.nest.flatten(output_specs)
    if packed is None:
        readers = [tf.TensorArray(e.dtype, size=steps, element_shape=e.shape[1:]).unstack(e) for e in flat_elements]
        writers = [tf.TensorArray(spec.dtype, size=steps, element_shape=spec.shape) for spec in flat_specs]
    else:
        readers = [
            tf.TensorArray(e.dtype, size=steps, infer_shape=False, element_shape=[None, *e.shape[1:]]).split(e, packed.rows)
            for e in flat_elements
        ]
        writers = [
            tf.TensorArray(spec.dtype, size=steps, infer_shape=False, element_shape=[None, *spec.shape[1:]])
            for spec in flat_specs
        ]

    def body(t, state, writers):
        if packed is not None:
            state = tf.nest.map_structure(lambda s: s[: packed.rows[t]], state)
        elements_t = tf.nest.pack_sequence_as(elements, [reader.read(t) for reader in readers])
        new_state, output = step(state, elements_t)
        return t + 1, new_state, [writer.write(t, o) for writer, o in zip(writers, tf.nest.flatten(output))]

    invariants = None
    if packed is not None:
        initial_state = tf.nest.map_structure(packed.sort, initial_state)
        invariants = (
            tf.TensorShape([]),
            tf.nest.map_structure(lambda s: tf.TensorShape([None, *s.shape[1:]]), initial_state),
            [tf.TensorShape(None)] * len(writers),
        )
    _, final_state, writers = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), initial_state, writers),
        shape_invariants=invariants, maximum_iterations=steps,
    )
    if packed is not None:
        return tf.nest.pack_sequence_as(output_specs, [writer.concat() for writer in writers]), None
    return tf.nest.pack_sequence_as(output_specs, [writer.stack() for writer in writers]), final_state
