import numpy as np

from tf_varattn.layers import BidirectionalEncoder, LayerNormLSTMCell


def layer_norm(x, gamma, beta, eps=1e-5):
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * gamma + beta


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


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
