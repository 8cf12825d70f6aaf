import numpy as np
import tensorflow as tf

from tf_varattn.layers import BidirectionalEncoder, LayerNormLSTMCell, PackedSteps, recurrence
from tf_varattn.layers.recurrent import layer_norm as tf_layer_norm


def layer_norm(x, gamma, beta, eps=1e-5):
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * gamma + beta


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_layer_norm_value_and_hand_written_gradient_match_numpy_and_finite_differences():
    rng = np.random.default_rng(3)
    x, gamma, beta = rng.normal(size=(3, 2, 5)), rng.normal(size=5), rng.normal(size=5)
    upstream = rng.normal(size=(3, 2, 5))
    np.testing.assert_allclose(tf_layer_norm(x, gamma, beta), layer_norm(x, gamma, beta), rtol=1e-10, atol=1e-12)
    # The hand-written gradient of the normalisation against central differences of the numpy formula.
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(tf_layer_norm(xt, gamma, beta) * upstream)
    gradient = tape.gradient(loss, xt).numpy()
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = 1e-6
        numeric[index] = np.sum((layer_norm(x + step, gamma, beta) - layer_norm(x - step, gamma, beta)) * upstream) / 2e-6
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-8)
    # Rows that differ only by a constant shift normalise identically, so the gradient sums to zero per row.
    np.testing.assert_allclose(gradient.sum(-1), 0.0, atol=1e-10)


def test_layer_norm_lstm_cell_matches_numpy():
    rng = np.random.default_rng(0)
    cell = LayerNormLSTMCell(units=3, input_dim=2)
    cell.gate_gamma.assign(rng.normal(size=(4, 3)))
    cell.gate_beta.assign(rng.normal(size=(4, 3)))
    x, h, c = rng.normal(size=(2, 2)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    out, (new_h, new_c) = cell(x.astype(np.float32), [h.astype(np.float32), c.astype(np.float32)])
    gates = np.concatenate([x, h], -1) @ cell.kernel.numpy()
    gates = layer_norm(gates.reshape(2, 4, 3), cell.gate_gamma.numpy(), cell.gate_beta.numpy())
    i, j, f, o = gates[:, 0], gates[:, 1], gates[:, 2], gates[:, 3]
    expected_c = layer_norm(c * sigmoid(f + 1.0) + sigmoid(i) * np.tanh(j), 1.0, 0.0)
    expected_h = np.tanh(expected_c) * sigmoid(o)
    np.testing.assert_allclose(new_c, expected_c, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new_h, expected_h, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(out, new_h)


def test_encoder_padding_is_inert_and_final_states_match_unpadded_run():
    rng = np.random.default_rng(1)
    encoder = BidirectionalEncoder(units=4, input_dim=3)
    inputs = rng.normal(size=(1, 5, 3)).astype(np.float32)
    mask = np.array([[True, True, True, False, False]])
    outputs, h, c = encoder(inputs, source_mask=mask)
    alone, h_alone, c_alone = encoder(inputs[:, :3], source_mask=mask[:, :3])
    np.testing.assert_allclose(outputs[:, :3], alone, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, h_alone, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, c_alone, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(outputs[:, 3:], 0.0)
    inputs[:, 3:] = 99.0
    outputs2, h2, _ = encoder(inputs, source_mask=mask)
    np.testing.assert_array_equal(outputs2, outputs)
    np.testing.assert_array_equal(h2, h)
    assert outputs.shape == (1, 5, 8) and h.shape == (1, 8)


def test_encoder_equals_the_cells_stepped_over_each_real_sequence():
    rng = np.random.default_rng(2)
    encoder = BidirectionalEncoder(units=3, input_dim=2)
    for cell in (encoder.forward_cell, encoder.backward_cell):
        cell.gate_gamma.assign(rng.normal(size=(4, 3)))
        cell.state_beta.assign(rng.normal(size=(3,)))
    lengths = [4, 2, 1]
    inputs = rng.normal(size=(3, 4, 2)).astype(np.float32)
    mask = np.arange(4)[None, :] < np.array(lengths)[:, None]
    outputs, final_h, final_c = encoder(inputs, source_mask=mask)
    for row, n in enumerate(lengths):
        states = {}
        for name, cell, order in (("forward", encoder.forward_cell, range(n)),
                                  ("backward", encoder.backward_cell, reversed(range(n)))):
            h, c = np.zeros((1, 3), np.float32), np.zeros((1, 3), np.float32)
            for t in order:
                out, (h, c) = cell(inputs[row:row + 1, t], [h, c])
                half = slice(0, 3) if name == "forward" else slice(3, 6)
                np.testing.assert_allclose(outputs[row, t, half], out[0], rtol=1e-5, atol=1e-6)
            states[name] = (h[0], c[0])
        np.testing.assert_allclose(final_h[row], np.concatenate([states["forward"][0], states["backward"][0]]),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(final_c[row], np.concatenate([states["forward"][1], states["backward"][1]]),
                                   rtol=1e-5, atol=1e-6)


def test_recurrence_stacks_outputs_returns_final_state_and_differentiates():
    # state_t = 0.5 * state_{t-1} + x_t; outputs (state_t, x_t * state_{t-1}); closed forms below.
    x = tf.constant(np.random.default_rng(0).normal(size=(5, 3, 2)), tf.float32)

    def step(state, x_t):
        return 0.5 * state + x_t, (0.5 * state + x_t, x_t * state)

    with tf.GradientTape() as tape:
        tape.watch(x)
        specs = (tf.TensorSpec([None, 2]), tf.TensorSpec([None, 2]))
        (states, products), final = tf.function(lambda x: recurrence(step, x, tf.ones([3, 2]), specs))(x)
        loss = tf.reduce_sum(final)
    expected, previous, expected_products = [], np.ones((3, 2)), []
    for t in range(5):
        expected_products.append(x[t].numpy() * previous)
        previous = 0.5 * previous + x[t].numpy()
        expected.append(previous)
    np.testing.assert_allclose(states.numpy(), np.stack(expected), rtol=1e-6)
    np.testing.assert_allclose(products.numpy(), np.stack(expected_products), rtol=1e-6)
    np.testing.assert_allclose(final.numpy(), expected[-1], rtol=1e-6)
    # d final / d x_t = 0.5 ** (T - 1 - t)
    gradient = tape.gradient(loss, x).numpy()
    np.testing.assert_allclose(gradient[:, 0, 0], [0.5 ** (4 - t) for t in range(5)], rtol=1e-6)


def test_packed_steps_order_rows_and_round_trip():
    lengths = tf.constant([2, 4, 1, 4])
    packed = PackedSteps(lengths, 5)
    np.testing.assert_array_equal(packed.order, [1, 3, 0, 2])  # longest first, ties in batch order
    np.testing.assert_array_equal(packed.rows, [4, 3, 2, 2, 0])
    x = tf.reshape(tf.range(4 * 5, dtype=tf.float32), [4, 5])  # x[b, t] = 5 b + t
    packed_x = packed.pack(x, time_major=False)
    # step 0 of rows 1, 3, 0, 2; step 1 of rows 1, 3, 0; steps 2 and 3 of rows 1, 3
    np.testing.assert_array_equal(packed_x, [5, 15, 0, 10, 6, 16, 1, 7, 17, 8, 18])
    np.testing.assert_array_equal(packed.pack(tf.transpose(x)), packed_x)
    real = tf.sequence_mask(lengths, 5, tf.float32)
    np.testing.assert_array_equal(packed.unpack(packed_x), x * real)
    np.testing.assert_array_equal(packed.unpack(packed_x, time_major=True), tf.transpose(x * real))


def test_packed_recurrence_equals_the_padded_one_on_real_steps():
    """Each step sees only the running rows; outputs, and gradients of every real step, as padded
    (the last step has no running row)."""
    rng = np.random.default_rng(1)
    lengths = tf.constant([3, 5, 1, 5, 2])
    x = tf.constant(rng.normal(size=(5, 6, 2)), tf.float32)  # [B, T, 2]
    initial = tf.constant(rng.normal(size=(5, 2)), tf.float32)
    weight = tf.constant(rng.normal(size=(2, 2)), tf.float32)
    real = tf.sequence_mask(lengths, 6, tf.float32)[:, :, None]
    readout = tf.constant(rng.normal(size=(5, 6, 2)), tf.float32) * real

    def step(state, x_t):
        new_state = tf.tanh(tf.matmul(state, weight) + x_t)
        return new_state, new_state * x_t

    packed = PackedSteps(lengths, 6)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, initial])
        spec = tf.TensorSpec([None, 2])
        padded_outputs, _ = recurrence(step, tf.transpose(x, [1, 0, 2]), initial, spec)
        padded_outputs = tf.transpose(padded_outputs, [1, 0, 2]) * real
        packed_outputs, final = tf.function(lambda x, s: recurrence(step, packed.pack(x, False), s, spec, packed))(x, initial)
        packed_outputs = packed.unpack(packed_outputs)
        padded_loss, packed_loss = (tf.reduce_sum(o * readout) for o in (padded_outputs, packed_outputs))
    assert final is None
    np.testing.assert_allclose(packed_outputs, padded_outputs, rtol=1e-6, atol=1e-7)
    for expected, actual in zip(tape.gradient(padded_loss, [x, initial]), tape.gradient(packed_loss, [x, initial])):
        np.testing.assert_allclose(tf.convert_to_tensor(actual), expected, rtol=1e-5, atol=1e-6)


def test_config_roundtrip():
    clone = BidirectionalEncoder.from_config(BidirectionalEncoder(units=4, input_dim=3, dropout=0.2, seed=1).get_config())
    assert (clone.units, clone.input_dim, clone.dropout, clone.seed) == (4, 3, 0.2, 1)
    cell = LayerNormLSTMCell.from_config(LayerNormLSTMCell(units=2, input_dim=5, forget_bias=0.5).get_config())
    assert (cell.units, cell.input_dim, cell.forget_bias) == (2, 5, 0.5)
