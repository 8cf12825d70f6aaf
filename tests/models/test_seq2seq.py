import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_varattn.config import get_config
from tf_varattn.decoding import Decoder
from tf_varattn.models import Seq2Seq, build_model
from tf_varattn.training.step import make_train_step

VOCAB = 40
SMALL = dict(source_vocab_size=VOCAB, target_vocab_size=VOCAB, embedding_dim=16, encoder_units=8,
             decoder_units=16, latent_dim=4, attentional_dim=8, max_decode_length=8)


def small_model(preset, **overrides):
    keras.utils.set_random_seed(0)
    return build_model(get_config(preset, **{**SMALL, **overrides}))


def random_batch(seed=0, batch=6, source=7, target=6):
    rng = np.random.default_rng(seed)
    return {
        "source_ids": tf.constant(rng.integers(4, VOCAB, (batch, source)), tf.int32),
        "source_length": tf.constant(rng.integers(2, source + 1, batch), tf.int32),
        "target_ids": tf.constant(rng.integers(4, VOCAB, (batch, target)), tf.int32),
        "target_length": tf.constant(rng.integers(2, target + 1, batch), tf.int32),
    }


def with_changed_padding(batch):
    changed = dict(batch)
    for key in ("source", "target"):
        ids, length = batch[f"{key}_ids"].numpy().copy(), batch[f"{key}_length"].numpy()
        for row, n in enumerate(length):
            ids[row, n:] = (ids[row, n:] + 7) % VOCAB
        changed[f"{key}_ids"] = tf.constant(ids)
    return changed


@pytest.mark.parametrize("preset", ["ded_dattn", "ved_vattn_mean", "ved_vattn_dirichlet"])
def test_padding_is_inert_for_loss_and_outputs(preset):
    model = small_model(preset)
    batch = random_batch()
    snapshot = [v.numpy() for v in model.variables]  # includes the random generators' states
    first = model.compute_losses(batch, 0.5, training=True)
    for variable, value in zip(model.variables, snapshot):
        variable.assign(value)
    second = model.compute_losses(with_changed_padding(batch), 0.5, training=True)
    assert float(first["loss"]) == pytest.approx(float(second["loss"]), rel=1e-6)
    assert float(first["kl_attention"]) == pytest.approx(float(second["kl_attention"]), rel=1e-6)
    decoder = Decoder(model)
    sources = [list(ids[:n]) for ids, n in zip(batch["source_ids"].numpy(), batch["source_length"].numpy())]
    padded = decoder.decode_batch(batch["source_ids"], batch["source_length"])
    changed = decoder.decode_batch(with_changed_padding(batch)["source_ids"], batch["source_length"])
    np.testing.assert_array_equal(padded, changed)
    np.testing.assert_array_equal(padded, decoder.decode(sources))


@pytest.mark.parametrize("preset", ["ded", "ded_dattn", "ved_vattn_mean"])
def test_teacher_forced_decoder_equals_start_and_step_token_by_token(preset):
    """Values and gradients: the teacher-forced recurrence (input products up front, only the
    running sentences at each step, the attention memory's gradient deferred to after the loop)
    against ``model.start`` and ``model.step`` called once per token over the padded batch, as
    the searches call them; the packed outputs are zero at padded steps."""
    model = small_model(preset)
    batch = random_batch(seed=4)
    steps, size = batch["target_ids"].shape[1], batch["target_ids"].shape[0]
    start = model.start
    draws = start(batch["source_ids"], batch["source_length"], 1.0, steps)
    # The same z and attention noise for both computations; the encoder is recomputed (gradients).
    model.start = lambda *args, **kwargs: start(*args, **kwargs)._replace(
        latent=draws.latent, attention_noise=draws.attention_noise)
    real = tf.sequence_mask(batch["target_length"], steps, tf.float32)  # padded steps count in neither loss
    readout = tf.constant(np.random.default_rng(5).normal(size=(size, steps, model.decoder_cell.output_size)), tf.float32)
    readout *= real[:, :, None]
    variables = [v for v in model.trainable_variables if "latent" not in v.path]  # z itself is held fixed
    with tf.GradientTape(persistent=True) as tape:
        decoded = model.decode_teacher_forced(batch)
        recurrence_loss = tf.reduce_sum(decoded["outputs"] * readout) + tf.reduce_sum(decoded["kl_attention"])
        state = model.start(batch["source_ids"], batch["source_length"], 1.0, steps)
        input_ids = model.decoder_input_ids(batch["target_ids"])
        stepped_loss = 0.0
        for t in range(steps):
            logits, outputs, state = model.step(input_ids[:, t], state)
            output, kl = outputs["outputs"], outputs["kl_attention"]
            np.testing.assert_allclose(logits, model.output_projection(output), rtol=1e-6)
            np.testing.assert_allclose(decoded["outputs"][:, t], output * real[:, t, None], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(decoded["kl_attention"][:, t], kl * real[:, t], rtol=1e-5, atol=1e-5)
            stepped_loss += tf.reduce_sum(output * readout[:, t]) + tf.reduce_sum(kl * real[:, t])
    gradients = tape.gradient(recurrence_loss, variables)
    stepped_gradients = tape.gradient(stepped_loss, variables)
    for variable, gradient, expected in zip(variables, gradients, stepped_gradients):
        assert (gradient is None) == (expected is None), variable.path
        if expected is not None:
            np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-5, err_msg=variable.path)
    assert any("memory_kernel" in v.path for v, g in zip(variables, gradients) if g is not None) == (preset != "ded")


def test_start_draws_with_temperature_and_step_reads_its_noise_in_turn():
    model = small_model("ved_vattn_mean")
    batch = random_batch(seed=2)
    state = model.start(batch["source_ids"], batch["source_length"], 0.0, steps=5)
    np.testing.assert_array_equal(state.latent.z, state.latent.mean)  # tau_z = 0: the mean
    assert state.attention_noise.shape == (6, 5, model.decoder_cell.memory_dim)
    np.testing.assert_array_equal(state.time, 0)
    tokens = tf.fill([6], 2)
    _, first, after = model.step(tokens, state, 1.0)
    np.testing.assert_array_equal(after.time, 1)
    # Step 1 with step 0's noise gives step 0's outputs: the state's time picks the draw.
    _, again, _ = model.step(tokens, state._replace(attention_noise=tf.roll(state.attention_noise, 1, axis=1),
                                                    time=state.time + 1), 1.0)
    np.testing.assert_allclose(again["outputs"], first["outputs"], rtol=1e-6)
    _, other, _ = model.step(tokens, after._replace(cell=state.cell), 1.0)
    assert not np.allclose(other["outputs"], first["outputs"])


def test_fused_cross_entropy_gives_the_losses_and_gradients_of_plain_tensorflow():
    batch = random_batch(seed=5)
    results = []
    for xla_projection in (True, False):
        model = small_model("ved_vattn_mean", xla_projection=xla_projection)
        with tf.GradientTape() as tape:
            loss = model.compute_losses(batch, 0.5)["loss"]  # training=False: no random draws differ
        results.append([loss] + tape.gradient(loss, model.trainable_variables))
    for fused, plain in zip(*results):
        np.testing.assert_allclose(fused, plain, rtol=1e-4, atol=1e-6)


# That every preset learns is tested on pairs read as your own data, through the data pipeline
# (tests/data/test_own_data.py::test_every_preset_trains_on_own_pairs_and_its_loss_falls).


def test_train_step_logs_terms_and_follows_schedules():
    model = small_model("ved_vattn_mean")
    step = make_train_step(model)
    logs = [step(random_batch()) for _ in range(3)]
    expected = [0.0] + [round((math.tanh((i - 4500) / 1000) + 1) / 2, 6) for i in (1, 2)]
    assert [float(l["kl_weight"]) for l in logs] == pytest.approx(expected, abs=1e-7)
    assert float(logs[0]["learning_rate"]) == pytest.approx(0.005)
    assert all(float(logs[-1][key]) > 0 for key in ("reconstruction", "kl_z", "kl_attention", "l2"))


def test_attention_kl_switch_changes_the_objective():
    batch, losses = random_batch(), {}
    for mode in ("last_step", "sum"):
        model = small_model("ved_vattn_zero", attention_kl=mode)
        losses[mode] = model.compute_losses(batch, 1.0, training=False)
    # Same weights and temperature-1 noise: the sum over several steps exceeds the last step alone.
    assert float(losses["sum"]["kl_attention"]) > float(losses["last_step"]["kl_attention"])
    assert float(losses["sum"]["reconstruction"]) == pytest.approx(float(losses["last_step"]["reconstruction"]))


@pytest.mark.parametrize("preset", ["ved_vattn_mean", "ved_vattn_dirichlet"])
def test_map_decoding_is_deterministic_and_sampling_varies(preset):
    model = small_model(preset)
    decoder = Decoder(model)
    sources = [[5, 6, 7], [8, 9], [10, 11, 12, 13]]
    first, second = decoder.decode(sources, "map"), decoder.decode(sources, "map")
    np.testing.assert_array_equal(first, second)
    samples = decoder.decode(sources, "sample", num_samples=6)
    assert samples.shape == (3, 6, 8)
    assert any(len({tuple(s) for s in samples[i]}) > 1 for i in range(3))


def toy_pairs(n=20, seed=0):
    rng = np.random.default_rng(seed)
    sources = [list(rng.integers(4, VOCAB, rng.integers(3, 7))) for _ in range(n)]
    targets = [list(reversed(s))[:5] + [3] for s in sources]  # reversed prefix, then EOS
    return sources, targets


def toy_batch(sources, targets):
    from tf_varattn.data.pipeline import pad_sequences

    source_ids, source_length = pad_sequences(sources)
    target_ids, target_length = pad_sequences(targets)
    return {"source_ids": tf.constant(source_ids), "source_length": tf.constant(source_length),
            "target_ids": tf.constant(target_ids), "target_length": tf.constant(target_length)}


def test_small_model_overfits_toy_set_and_reloads_with_identical_outputs(tmp_path):
    sources, targets = toy_pairs()
    model = small_model("ved_vattn_mean", dropout=0.0, word_dropout=0.0, l2_weight=0.0, learning_rate=0.01)
    step = make_train_step(model)
    batch = toy_batch(sources, targets)
    decoder = Decoder(model)
    for _ in range(40):
        for _ in range(10):
            step(batch)
        decoded = decoder.decode(sources)
        matches = sum(list(row[0][: len(t)]) == t for row, t in zip(decoded, targets))
        if matches == len(targets):
            break
    assert matches == len(targets)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, Seq2Seq) and restored.settings == model.settings
    np.testing.assert_array_equal(Decoder(restored).decode(sources), decoded)


def test_two_stage_gate_follows_epoch():
    model = small_model("ved_dattn_2stage")
    assert float(model.attention_gate) == 0.0
    model.set_epoch(5)
    assert float(model.attention_gate) == 0.0
    model.set_epoch(6)
    assert float(model.attention_gate) == 1.0


def test_word_dropout_replaces_decoder_inputs_by_pad_only_while_training():
    model = small_model("ved_vattn_mean")
    targets = tf.constant(np.full((200, 10), 7), tf.int32)
    dropped = model.decoder_input_ids(targets, training=True).numpy()
    assert (dropped[:, 0] == 2).all()  # GO is never dropped
    rate = (dropped[:, 1:] == 0).mean()
    assert 0.2 < rate < 0.3 and set(np.unique(dropped[:, 1:])) == {0, 7}
    assert (model.decoder_input_ids(targets, training=False).numpy()[:, 1:] == 7).all()
    assert (small_model("ded_dattn").decoder_input_ids(targets, training=True).numpy()[:, 1:] == 7).all()


def test_collapse_remedies_add_their_terms_to_the_objective_and_leave_the_model_as_it_was():
    batch, weight = random_batch(seed=3), 0.5
    plain = small_model("ved_dattn")
    with_bow = small_model("ved_dattn", bow_loss_weight=2.0, bow_hidden_units=6)
    floored = small_model("ved_dattn", free_bits=0.3)
    # The remedies add variables after the paper's, so the paper's start from the same values.
    for a, b in zip(plain.weights, with_bow.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert len(with_bow.trainable_variables) == len(plain.trainable_variables) + 4
    base = plain.compute_losses(batch, weight)
    bow = with_bow.compute_losses(batch, weight)
    assert float(bow["bag_of_words"]) > 0
    assert float(bow["kl_z"]) == pytest.approx(float(base["kl_z"]), rel=1e-6)
    l2_extra = 0.001 * sum(float(tf.nn.l2_loss(v)) for v in with_bow.bag_of_words.trainable_variables if "bias" not in v.path)
    size = int(batch["source_ids"].shape[0])
    assert float(bow["loss"]) == pytest.approx(float(base["loss"]) + 2.0 * size * float(bow["bag_of_words"]) + l2_extra,
                                               rel=1e-5)
    # Free bits: the batch's KL_z term becomes B * sum_i max(0.3, mean KL_i); the logged KL_z stays the KL.
    free = floored.compute_losses(batch, weight)
    assert float(free["kl_z"]) == pytest.approx(float(base["kl_z"]), rel=1e-6)
    mean_per_dim = np.mean(0.5 * (np.exp(2 * base["z_log_sigma"]) + base["z_mean"] ** 2 - 1) - base["z_log_sigma"], 0)
    floor_term = size * np.maximum(mean_per_dim, 0.3).sum()
    assert float(free["loss"]) == pytest.approx(float(base["loss"]) + weight * (floor_term - size * float(base["kl_z"])),
                                                rel=1e-5)
