"""Layer-normalised LSTM cell and the bidirectional encoder (docs/reference-code.md "Architecture")."""

from __future__ import annotations

import keras
import tensorflow as tf

from tf_varattn.ops.layer_norm import layer_norm
from tf_varattn.ops.recurrence import recurrence


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

    def __init__(self, units: int, input_dim: int, dropout: float = 0.0, seed=None, independent_dropout: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.units, self.input_dim, self.dropout, self.seed = units, input_dim, dropout, seed
        self.independent_dropout = independent_dropout
        self.input_dropout = keras.layers.Dropout(dropout, seed=seed)
        # The released code: each direction's cell drew its own input dropout mask.
        self.backward_dropout = (keras.layers.Dropout(dropout, seed=None if seed is None else seed + 7919)
                                 if independent_dropout else None)
        self.forward_cell = LayerNormLSTMCell(units, input_dim, name="forward_cell")
        self.backward_cell = LayerNormLSTMCell(units, input_dim, name="backward_cell")

    def call(self, embedded, source_mask, training=None):
        inputs = self.input_dropout(embedded, training=training)
        backward_inputs = inputs if self.backward_dropout is None else self.backward_dropout(embedded, training=training)
        forward, forward_h, forward_c = self.forward_cell.run(self.forward_cell.input_gates(inputs), source_mask)
        backward, backward_h, backward_c = self.backward_cell.run(
            self.backward_cell.input_gates(backward_inputs), source_mask, reverse=True
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
            "independent_dropout": self.independent_dropout,
        }
