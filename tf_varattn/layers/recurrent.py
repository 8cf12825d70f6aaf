"""Layer-normalised LSTM cell and the bidirectional encoder (reference-notes "Architecture")."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tf_varattn")
class LayerNormLSTMCell(keras.layers.Layer):
    """LSTM cell with layer normalisation of each gate's pre-activation and of the new cell
    state (Ba et al., 2016), as TF1's ``LayerNormBasicLSTMCell``: gates i, j, f, o;
    c' = LN(c * sigmoid(f + forget_bias) + sigmoid(i) * tanh(j)); h' = tanh(c') * sigmoid(o).

    States are ``[h, c]``; the output is ``h``.
    """

    def __init__(self, units: int, input_dim: int, forget_bias: float = 1.0, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.units, self.input_dim, self.forget_bias, self.epsilon = units, input_dim, forget_bias, epsilon
        self.state_size = [units, units]
        self.output_size = units
        self.kernel = self.add_weight(name="kernel", shape=(input_dim + units, 4 * units), initializer="glorot_uniform")
        self.gate_gamma = self.add_weight(name="gate_gamma", shape=(4, units), initializer="ones")
        self.gate_beta = self.add_weight(name="gate_beta", shape=(4, units), initializer="zeros")
        self.state_gamma = self.add_weight(name="state_gamma", shape=(units,), initializer="ones")
        self.state_beta = self.add_weight(name="state_beta", shape=(units,), initializer="zeros")
        self.built = True

    def _normalize(self, x, gamma, beta):
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        return (x - mean) * tf.math.rsqrt(variance + self.epsilon) * gamma + beta

    def call(self, inputs, states, training=None):
        h, c = states[0], states[1]
        gates = tf.matmul(tf.concat([inputs, h], axis=-1), self.kernel)
        gates = self._normalize(tf.reshape(gates, [-1, 4, self.units]), self.gate_gamma, self.gate_beta)
        i, j, f, o = tf.unstack(gates, axis=1)
        new_c = c * tf.sigmoid(f + self.forget_bias) + tf.sigmoid(i) * tf.tanh(j)
        new_c = self._normalize(new_c, self.state_gamma, self.state_beta)
        new_h = tf.tanh(new_c) * tf.sigmoid(o)
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
    neither update the states nor change any output at a real position.
    """

    def __init__(self, units: int, input_dim: int, dropout: float = 0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.input_dim, self.dropout, self.seed = units, input_dim, dropout, seed
        self.input_dropout = keras.layers.Dropout(dropout, seed=seed)
        self.forward_rnn = keras.layers.RNN(
            LayerNormLSTMCell(units, input_dim, name="forward_cell"), return_sequences=True, return_state=True
        )
        self.backward_rnn = keras.layers.RNN(
            LayerNormLSTMCell(units, input_dim, name="backward_cell"),
            return_sequences=True,
            return_state=True,
            go_backwards=True,
        )
        self.forward_rnn.build((None, None, input_dim))
        self.backward_rnn.build((None, None, input_dim))

    def call(self, embedded, source_mask, training=None):
        inputs = self.input_dropout(embedded, training=training)
        forward, forward_h, forward_c = self.forward_rnn(inputs, mask=source_mask, training=training)
        backward, backward_h, backward_c = self.backward_rnn(inputs, mask=source_mask, training=training)
        outputs = tf.concat([forward, tf.reverse(backward, axis=[1])], axis=-1)
        outputs = outputs * tf.cast(source_mask, outputs.dtype)[:, :, None]
        return outputs, tf.concat([forward_h, backward_h], -1), tf.concat([forward_c, backward_c], -1)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "input_dim": self.input_dim,
            "dropout": self.dropout,
            "seed": self.seed,
        }
