import numpy as np
import tensorflow as tf

from tf_varattn.ops.recurrence import PackedSteps, recurrence


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
