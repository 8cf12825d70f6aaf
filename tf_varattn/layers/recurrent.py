"""Layer-normalised LSTM cell and the bidirectional encoder (reference-notes "Architecture")."""

from __future__ import annotations

from typing import Optional

import keras
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


def layer_norm(x, gamma, beta, epsilon: float = 1e-5):
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` over the last axis (Ba et al., 2016).

    The normalisation has its closed-form gradient, ``dx = (g - mean(g) - x_hat * mean(g * x_hat))
    / sqrt(var + epsilon)`` for ``g = dL/dx_hat``: a third of the operations of the automatic
    gradient of ``tf.nn.moments``, which matters inside recurrences (``results/benchmarks.md``).
    """

    @tf.custom_gradient
    def normalize(x):
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        inverse_std = tf.math.rsqrt(variance + epsilon)
        normalized = (x - mean) * inverse_std

        def gradient(upstream):
            centered = upstream - tf.reduce_mean(upstream, axis=-1, keepdims=True)
            return inverse_std * (centered - normalized * tf.reduce_mean(upstream * normalized, axis=-1, keepdims=True))

        return normalized, gradient

    return normalize(x) * gamma + beta


@keras.saving.register_keras_serializable(package="tf_varattn")
class LayerNormLSTMCell(keras.layers.Layer):
    """LSTM cell with layer normalisation of each gate's pre-activation and of the new cell
    state (Ba et al., 2016), as TF1's ``LayerNormBasicLSTMCell``: gates i, j, f, o;
    c' = LN(c * sigmoid(f + forget_bias) + sigmoid(i) * tanh(j)); h' = tanh(c') * sigmoid(o).

    States are ``[h, c]``; the output is ``h``. The kernel's first ``input_dim`` rows read the
    input, the rest read ``h``: sequence layers compute :meth:`input_gates` for all steps in
    one matrix product and only ``h @ recurrent_kernel`` inside the recurrence.
    """

    def __init__(self, units: int, input_dim: int, forget_bias: float = 1.0, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.units, self.input_dim, self.forget_bias, self.epsilon = units, input_dim, forget_bias, epsilon
        self.kernel = self.add_weight(name="kernel", shape=(input_dim + units, 4 * units), initializer="glorot_uniform")
        self.gate_gamma = self.add_weight(name="gate_gamma", shape=(4, units), initializer="ones")
        self.gate_beta = self.add_weight(name="gate_beta", shape=(4, units), initializer="zeros")
        self.state_gamma = self.add_weight(name="state_gamma", shape=(units,), initializer="ones")
        self.state_beta = self.add_weight(name="state_beta", shape=(units,), initializer="zeros")
        self.built = True

    def input_gates(self, inputs, first_row: int = 0):
        """``inputs [..., n] @ kernel[first_row:first_row + n]``: the gates' input part, for any leading shape."""
        width = inputs.shape[-1]
        flat = tf.reshape(inputs, [-1, width])
        gates = tf.matmul(flat, self.kernel[first_row:first_row + width])
        return tf.reshape(gates, tf.concat([tf.shape(inputs)[:-1], [4 * self.units]], 0))

    @property
    def recurrent_kernel(self):
        return self.kernel[self.input_dim:]

    def update(self, gates, c):
        """``(h', c')`` from the full gate pre-activations ``[B, 4u]`` and ``c [B, u]``."""
        gates = layer_norm(tf.reshape(gates, [-1, 4, self.units]), self.gate_gamma, self.gate_beta, self.epsilon)
        i, j, f, o = tf.unstack(gates, axis=1)
        new_c = c * tf.sigmoid(f + self.forget_bias) + tf.sigmoid(i) * tf.tanh(j)
        new_c = layer_norm(new_c, self.state_gamma, self.state_beta, self.epsilon)
        return tf.tanh(new_c) * tf.sigmoid(o), new_c

    def run(self, input_gates, mask, reverse: bool = False):
        """The recurrence over ``input_gates [B, S, 4u]`` (from :meth:`input_gates`) with ``mask [B, S]``.

        Starts from zero states; masked steps keep the states and output zeros. ``reverse``
        runs from the last position to the first. Returns ``(outputs [B, S, u], h_N, c_N)``.
        """
        gates, mask = tf.transpose(input_gates, [1, 0, 2]), tf.transpose(mask)[:, :, None]
        if reverse:
            gates, mask = tf.reverse(gates, [0]), tf.reverse(mask, [0])
        recurrent_kernel = self.recurrent_kernel

        def step(state, elements):
            h, c = state
            gates_t, mask_t = elements
            new_h, new_c = self.update(gates_t + tf.matmul(h, recurrent_kernel), c)
            return (tf.where(mask_t, new_h, h), tf.where(mask_t, new_c, c)), tf.where(mask_t, new_h, 0.0)

        zeros = tf.zeros([tf.shape(input_gates)[0], self.units], input_gates.dtype)
        outputs, (h, c) = recurrence(
            step, (gates, mask), (zeros, zeros), tf.TensorSpec([None, self.units], input_gates.dtype)
        )
        if reverse:
            outputs = tf.reverse(outputs, [0])
        return tf.transpose(outputs, [1, 0, 2]), h, c

    def call(self, inputs, states, training=None):
        h, c = states[0], states[1]
        new_h, new_c = self.update(tf.matmul(tf.concat([inputs, h], axis=-1), self.kernel), c)
        return new_h, [new_h, new_c]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "input_dim": self.input_dim,
            "forget_bias": self.forget_bias,
            "epsilon": self.epsilon,
        }


@keras.saving.register_keras_serializable(package="tf_varattn")
class BidirectionalEncoder(keras.layers.Layer):
    """One bidirectional layer of layer-normalised LSTMs with input dropout.

    ``call(embedded [B, S, E], source_mask [B, S])`` returns ``(outputs [B, S, 2u], h_N [B, 2u], c_N [B, 2u])``:
    h_N concatenates the final forward and backward h states (the summary z is computed from),
    c_N the c states (with h_N, the initial decoder state of DED models). Masked positions
    neither update the states nor change any output at a real position (the backward
    direction starts at each sequence's last real token).

    Each direction's input products are computed for all steps in one matrix product.
    """

    def __init__(self, units: int, input_dim: int, dropout: float = 0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.input_dim, self.dropout, self.seed = units, input_dim, dropout, seed
        self.input_dropout = keras.layers.Dropout(dropout, seed=seed)
        self.forward_cell = LayerNormLSTMCell(units, input_dim, name="forward_cell")
        self.backward_cell = LayerNormLSTMCell(units, input_dim, name="backward_cell")

    def call(self, embedded, source_mask, training=None):
        inputs = self.input_dropout(embedded, training=training)
        forward, forward_h, forward_c = self.forward_cell.run(self.forward_cell.input_gates(inputs), source_mask)
        backward, backward_h, backward_c = self.backward_cell.run(
            self.backward_cell.input_gates(inputs), source_mask, reverse=True
        )
        outputs = tf.concat([forward, backward], axis=-1)
        return outputs, tf.concat([forward_h, backward_h], -1), tf.concat([forward_c, backward_c], -1)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "input_dim": self.input_dim,
            "dropout": self.dropout,
            "seed": self.seed,
        }
