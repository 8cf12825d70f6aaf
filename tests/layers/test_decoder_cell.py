import numpy as np
import pytest
import tensorflow as tf

from tf_varattn.layers import AttentionDecoderCell, Memory, masked_mean


def memory(rng, batch=2, length=4, dim=6):
    states = tf.constant(rng.normal(size=(batch, length, dim)), tf.float32)
    mask = tf.constant([[True] * length] + [[True] * (length - 1) + [False]] * (batch - 1))
    return states, mask


def make_cell(attention, prior="mean"):
    return AttentionDecoderCell(units=5, input_dim=3, memory_dim=6, attention=attention, attentional_dim=4,
                                posterior_options={"prior": prior} if attention == "variational" else None)


def test_variational_cell_at_temperature_zero_equals_deterministic_cell():
    rng = np.random.default_rng(0)
    deterministic, variational = make_cell("deterministic"), make_cell("variational")
    for source, target in ((deterministic.lstm, variational.lstm), (deterministic.bilinear, variational.bilinear),
                           (deterministic.attentional_layer, variational.attentional_layer)):
        for s, t in zip(source.weights, target.weights):
            t.assign(s)
    states, mask = memory(rng)
    mem = Memory(states, deterministic.keys(states), mask, masked_mean(states, mask))
    inputs = tf.constant(rng.normal(size=(2, 3)), tf.float32)
    state = deterministic.initial_state(2)
    out_d, state_d, attention_d = deterministic(inputs, state=state, memory=mem)
    kl_d = attention_d.kl
    out_v, state_v, attention_v = variational(inputs, state=state, memory=mem, attention_temperature=0.0)
    kl_v = attention_v.kl
    np.testing.assert_array_equal(out_v, out_d)
    np.testing.assert_array_equal(state_v.attentional, state_d.attentional)
    np.testing.assert_array_equal(kl_d, 0.0)
    assert np.all(kl_v.numpy() > 0)
    out_s, _, _ = variational(inputs, state=state, memory=mem, attention_temperature=1.0)
    assert not np.allclose(out_s, out_d)


def test_input_feeding_and_gate():
    rng = np.random.default_rng(1)
    cell = make_cell("variational")
    states, mask = memory(rng)
    mem = Memory(states, cell.keys(states), mask, masked_mean(states, mask))
    inputs = tf.constant(rng.normal(size=(2, 3)), tf.float32)
    out, state, _ = cell(inputs, state=cell.initial_state(2), memory=mem, attention_temperature=0.0)
    assert out.shape == (2, 4) and state.attentional.shape == (2, 4)
    # The attentional vector of step j-1 is part of step j's input: a different one changes the output.
    out_a, _, _ = cell(inputs, state=state, memory=mem, attention_temperature=0.0)
    out_b, _, _ = cell(inputs, state=state._replace(attentional=state.attentional * 0), memory=mem, attention_temperature=0.0)
    assert not np.allclose(out_a, out_b)
    # Gate 0 (first stage of 2-stage training): no context, no KL.
    gated, _, attention = cell(inputs, state=state, memory=mem, attention_gate=0.0, attention_temperature=0.0)
    kl = attention.kl
    np.testing.assert_array_equal(attention.log_ratio, np.zeros(2))  # a gated-off attention adds no weight factor
    expected = tf.concat([cell.lstm(tf.concat([inputs, state.attentional], -1), [state.h, state.c])[0], tf.zeros([2, 6])], -1)
    np.testing.assert_allclose(gated, cell.attentional_layer(expected), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(kl, 0.0)


def test_no_attention_cell_outputs_h_and_rejects_bad_attention():
    cell = make_cell("none")
    out, state, attention = cell(tf.ones([2, 3]), state=cell.initial_state(2), memory=None)
    kl = attention.kl
    np.testing.assert_array_equal(out, state.h)
    assert cell.output_size == 5
    with pytest.raises(ValueError, match="choose one of: none, deterministic, variational"):
        make_cell("hard")
