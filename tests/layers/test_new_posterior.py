"""A new attention distribution is one file: a Gaussian attention whose prior N(h̄, s^2 I) has a
learned scale s, defined and registered here and used through the scripts' code paths (config
flags, data, Trainer, load_run, Decoder, the bypass probe, serialisation), nothing changed in the
package."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from absl import flags

from tf_varattn.attention_registry import AttentionKind, register_attention_posterior
from tf_varattn.layers import AttentionPosterior
from tf_varattn.layers.latent import reparameterize

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="tests")
class LearnedScaleAttention(AttentionPosterior):
    """q(a_j|x) = N(a_det_j, sigma_a) as the paper's (sigma_a = exp(Linear(a_det_j)) here), prior
    N(h̄, s^2 I) with log s a trained scalar starting at log ``initial_prior_scale``."""

    def __init__(self, units, initial_prior_scale=1.0, seed=None, **kwargs):
        super().__init__(units, **kwargs)
        self.noise_dim, self.initial_prior_scale, self.seed = units, initial_prior_scale, seed
        self.log_sigma_layer = keras.layers.Dense(units, name="log_sigma")
        self.log_sigma_layer.build((None, units))
        self.log_prior_scale = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(math.log(initial_prior_scale)), name="log_prior_scale")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def draw_noise(self, steps, batch, seed=None):
        return keras.random.normal([steps, batch, self.units], seed=self.seed_generator if seed is None else seed)

    def sample_context(self, context, prior_mean=None, temperature=1.0, noise=None, from_prior=False):
        log_sigma = self.log_sigma_layer(context)
        noise = keras.random.normal(tf.shape(context), seed=self.seed_generator) if noise is None else noise
        prior_log_sigma = tf.fill(tf.shape(context), self.log_prior_scale)
        temperature = tf.cast(temperature, context.dtype)
        sample = (reparameterize(prior_mean, prior_log_sigma, temperature, noise) if from_prior
                  else reparameterize(context, log_sigma, temperature, noise))
        kl = tfd.kl_divergence(tfd.MultivariateNormalDiag(context, tf.exp(log_sigma)),
                               tfd.MultivariateNormalDiag(prior_mean, tf.exp(prior_log_sigma)))
        return sample, kl, tf.exp(log_sigma)

    def get_config(self):
        return {**super().get_config(), "initial_prior_scale": self.initial_prior_scale, "seed": self.seed}


KIND = AttentionKind("learned_scale", LearnedScaleAttention, random=True, description="learned prior scale")


@pytest.fixture
def learned_scale(registries_restored):
    """The new attention registered for one test."""
    return register_attention_posterior(KIND)


def test_its_kl_is_the_closed_form_of_two_diagonal_gaussians(learned_scale):
    layer = LearnedScaleAttention(3, initial_prior_scale=0.5)
    rng = np.random.default_rng(0)
    context, prior_mean = (tf.constant(rng.normal(size=(2, 3)), tf.float32) for _ in range(2))
    _, kl, sigma = layer.sample_context(context, prior_mean, noise=tf.zeros([2, 3]))
    mu, s, m = context.numpy(), sigma.numpy(), prior_mean.numpy()
    expected = np.sum(np.log(0.5 / s) + (s**2 + (mu - m) ** 2) / (2 * 0.25) - 0.5, axis=-1)
    np.testing.assert_allclose(kl, expected, rtol=1e-5)


def test_a_posterior_defined_in_one_file_trains_decodes_and_round_trips(learned_scale, tmp_path):
    from tests.data.test_own_data import write_aligned
    from tf_varattn import config_flags
    from tf_varattn.config import get_config
    from tf_varattn.data.prepare import prepare_task_data
    from tf_varattn.decoding import Decoder
    from tf_varattn.diagnostics import probe_modes
    from tf_varattn.evaluation import generate
    from tf_varattn.layers import AttentionDecoderCell
    from tf_varattn.training.loop import Trainer
    from tf_varattn.training.runs import load_run

    # train.py's flags: the new name is an --attention choice, its option a name=value pair.
    values = flags.FlagValues()
    config_flags.define_config_flags(values)
    values(["train.py", "--attention=learned_scale", "--attention_options=initial_prior_scale=0.5", "--epochs=2",
            "--embedding_dim=8", "--encoder_units=4", "--decoder_units=8", "--latent_dim=2", "--attentional_dim=4",
            "--batch_size=8", "--eval_subset=6", "--num_samples=2", "--max_decode_length=6",
            "--nopretrained_embeddings"])
    assert "learned_scale" in values["attention"].parser.enum_values
    words = [f"w{i}" for i in range(10)]
    pairs = [(" ".join(words[i % 10:i % 10 + 4]), " ".join(words[i % 10:i % 10 + 2])) for i in range(30)]
    train = write_aligned(tmp_path, "pairs", pairs)
    config = get_config("ved_vattn_mean", "custom", train_file=train, val_file=train,
                        **config_flags.config_overrides(values))
    assert (config.attention, config.attention_options) == ("learned_scale", {"initial_prior_scale": 0.5})
    run = tmp_path / "run"
    data = prepare_task_data(config, run)
    trainer = Trainer(config, run, data, log=lambda _: None, progress=False)
    posterior = trainer.model.decoder_cell.posterior
    assert isinstance(posterior, LearnedScaleAttention) and posterior.initial_prior_scale == 0.5
    history = trainer.fit()
    assert len(history) == 2 and history[-1]["val_kl_attention_per_token"] > 0
    # evaluate.py / generate.py's path: the run loads back, decodes and is probed.
    config, vocab, model, epoch = load_run(run)
    assert epoch == 2 and float(model.decoder_cell.posterior.log_prior_scale) != pytest.approx(math.log(0.5))
    assert probe_modes(config) == ["map", "z_prior", "attention_prior"]
    decoder = Decoder(model, "greedy")
    outputs = generate(decoder, vocab, data.encoded["val"].source_ids[:4], "sample", num_samples=2)
    assert len(outputs) == 4 and all(len(per_input) == 2 for per_input in outputs)
    prior_draws = decoder.decode(data.encoded["val"].source_ids[:4], "attention_prior")  # the bypass probe's
    assert prior_draws.shape[0] == 4
    # Serialisation: the cell rebuilds the new posterior from its config.
    cell = model.decoder_cell
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cell))
    assert isinstance(restored, AttentionDecoderCell) and isinstance(restored.posterior, LearnedScaleAttention)
    assert restored.get_config() == cell.get_config()


def test_unknown_options_and_a_ded_are_refused_in_one_line(learned_scale):
    from tf_varattn.config import get_config
    from tf_varattn.models import build_model

    with pytest.raises(ValueError, match="attention='learned_scale' needs variational=True"):
        get_config("ded", attention="learned_scale")
    config = get_config("ved_vattn_mean", attention="learned_scale", attention_options={"scale": 2.0})
    with pytest.raises(ValueError, match=r"LearnedScaleAttention does not take the options \['scale'\]"):
        build_model(config)


def test_a_posterior_without_its_density_ratio_is_told_what_the_likelihood_needs(learned_scale):
    from tf_varattn.config import get_config
    from tf_varattn.likelihood import log_weights
    from tf_varattn.models import build_model

    config = get_config("ved_vattn_mean", attention="learned_scale", source_vocab_size=20, target_vocab_size=20,
                        embedding_dim=8, encoder_units=4, decoder_units=8, latent_dim=2, attentional_dim=6)
    model = build_model(config)
    batch = {"source_ids": tf.constant([[5, 6, 7]]), "source_length": tf.constant([3]),
             "target_ids": tf.constant([[8, 3]]), "target_length": tf.constant([2])}
    with pytest.raises(ValueError, match="LearnedScaleAttention gives no log density ratio.*log_density_ratio"):
        log_weights(model, batch, 2)
