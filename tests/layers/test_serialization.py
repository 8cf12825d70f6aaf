"""Every layer's serialisation round trip (in the style of keras-hub's layer tests): serialise,
deserialise, copy the weights; the whole config and the outputs must be equal."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_varattn.attention_registry import ATTENTION_POSTERIORS, posterior_options
from tf_varattn.config import Config
from tf_varattn.layers import (
    AttentionDecoderCell, BidirectionalEncoder, BilinearAttention, DeterministicAttention, DirichletAttention, GaussianLatent,
    LayerNormLSTMCell, Memory, VariationalAttention, masked_mean,
)

rng = np.random.default_rng(0)
STATES = tf.constant(rng.normal(size=(2, 4, 6)), tf.float32)
MASK = tf.constant([[True] * 4, [True, True, True, False]])
CONTEXT = tf.constant(rng.normal(size=(2, 6)), tf.float32)
NOISE = tf.constant(rng.normal(size=(2, 6)), tf.float32)


def memory(cell):
    return Memory(STATES, cell.keys(STATES), MASK, masked_mean(STATES, MASK))


CASES = {
    "bilinear_attention": (lambda: BilinearAttention(units=5, memory_dim=6, name="att"),
                           lambda layer: layer(tf.ones([2, 5]), memory=STATES, memory_mask=MASK)),
    "deterministic_attention": (lambda: DeterministicAttention(units=6, name="posterior"),
                                lambda layer: layer(CONTEXT, prior_mean=CONTEXT)),
    "variational_attention": (lambda: VariationalAttention(units=6, prior="zero", seed=3, name="posterior"),
                              lambda layer: layer(CONTEXT, temperature=0.7, noise=NOISE)),
    "dirichlet_attention": (lambda: DirichletAttention(units=6, transform="exp", floor=0.3, prior_concentration=2.0,
                                                       seed=3, name="posterior"),
                            lambda layer: layer(CONTEXT[:, :4], MASK, temperature=0.7, noise=tf.fill([2, 2], 5.0))),
    "gaussian_latent": (lambda: GaussianLatent(latent_dim=3, input_dim=6, seed=2, name="latent"),
                        lambda layer: layer(CONTEXT, temperature=0.7, noise=NOISE[:, :3])),
    "lstm_cell": (lambda: LayerNormLSTMCell(units=4, input_dim=6, forget_bias=0.5, epsilon=1e-4, name="cell"),
                  lambda layer: layer(CONTEXT, [tf.ones([2, 4]), tf.zeros([2, 4])])),
    "encoder": (lambda: BidirectionalEncoder(units=3, input_dim=6, dropout=0.2, seed=1, name="encoder"),
                lambda layer: layer(STATES, source_mask=MASK)),
}
# A decoder cell per registered attention, with the options a config gives it (non-default ones where
# the posterior has them: the zero prior, another Dirichlet floor).
OPTIONS = {"variational": dict(attention_prior="zero"), "dirichlet": dict(dirichlet_floor=0.2)}
for attention in ATTENTION_POSTERIORS:
    CASES[f"decoder_cell_{attention}"] = (
        lambda attention=attention: AttentionDecoderCell(
            units=5, input_dim=3, memory_dim=6, attention=attention, attentional_dim=4, name="cell",
            posterior_options=posterior_options(Config(attention=attention, **OPTIONS.get(attention, {})))),
        lambda layer: layer(tf.ones([2, 3]), state=layer.initial_state(2), memory=memory(layer),
                            attention_temperature=0.5, attention_noise=NOISE[:, :layer.draw_noise(1, 1).shape[-1]]),
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_serialisation_round_trip_keeps_config_and_outputs(case):
    make, call = CASES[case]
    layer = make()
    outputs = call(layer)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()
    call(restored)  # builds any lazily built weights
    assert len(restored.weights) == len(layer.weights)
    restored.set_weights(layer.get_weights())
    for expected, actual in zip(tf.nest.flatten(outputs), tf.nest.flatten(call(restored))):
        np.testing.assert_array_equal(actual, expected)


def test_every_registered_posterior_has_a_round_trip_case():
    layers = {type(make()) for make, _ in CASES.values()}
    for name, kind in ATTENTION_POSTERIORS.items():
        assert not kind.attends or kind.layer_class() in layers, name
