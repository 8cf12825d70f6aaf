"""``graph_function`` (tf.function without AutoGraph) builds the graphs AutoGraph builds, op for op,
so every number stays: the training step, the decoding graph of each kind of search and the latent
diagnostics. A branch on a tensor of one's own still works inside a nested ``tf.function``."""

import re

import numpy as np

import keras
import pytest
import tensorflow as tf

from tf_varattn.config import get_config
from tf_varattn.decoding import Decoder
from tf_varattn.decoding.decoder import DECODE_SIGNATURE
from tf_varattn.diagnostics import LatentDiagnostics
from tf_varattn.models import build_model
from tf_varattn.ops.graph_function import graph_function
from tf_varattn.training.step import BATCH_SIGNATURE, make_train_step, train_step

SMALL = dict(source_vocab_size=30, target_vocab_size=30, embedding_dim=8, encoder_units=4, decoder_units=8,
             latent_dim=2, attentional_dim=4, max_decode_length=5, attention_start_epoch=0)


def canonical(graph) -> list:
    """Every node of a graph and of its functions (loop bodies, gradients), as text, with TensorFlow's
    per-process counters (``body_1234``, ``CustomGradient-5678``) taken out."""
    graph_def = graph.as_graph_def()
    functions = sorted((str(f.signature), [str(n) for n in f.node_def], sorted(f.ret.items()))
                       for f in graph_def.library.function)
    return [re.sub(r"([_-])\d{3,}", r"\1N", str(part)) for part in ([str(n) for n in graph_def.node], functions)]


def model_for(preset):
    keras.utils.set_random_seed(0)
    return build_model(get_config(preset, **SMALL))


@pytest.mark.parametrize("preset", ["ved_vattn_mean", "ved_vattn_dirichlet"])  # DED: the reference-output guard
def test_the_training_step_is_autographs_graph(preset):
    model = model_for(preset)
    with_autograph = tf.function(lambda batch: train_step(model, batch), input_signature=[BATCH_SIGNATURE])
    ours = make_train_step(model)
    assert canonical(ours.get_concrete_function().graph) == canonical(with_autograph.get_concrete_function().graph)


@pytest.mark.parametrize("search, mode", [("greedy", "map"), ("top_k", "sample"), ("beam", "map"),
                                          ("greedy", "attention_prior")])
def test_the_decoding_graph_is_autographs_graph(search, mode):
    decoder = Decoder(model_for("ved_vattn_mean"), search)
    flags = (mode == "z_prior", mode == "attention_prior")
    with_autograph = tf.function(decoder.decode_graph).get_concrete_function(*DECODE_SIGNATURE, *flags)
    decoder.decode_batch(np.array([[5, 6]]), np.array([2]), mode)  # compiles the graph of this mode
    ours = decoder._compiled[flags].get_concrete_function()
    assert canonical(ours.graph) == canonical(with_autograph.graph)


def test_the_diagnostics_graph_is_autographs_graph():
    model = model_for("ved_vattn_mean")
    diagnostics = LatentDiagnostics(model)
    with_autograph = tf.function(lambda batch: model.decode_teacher_forced(batch, training=False))
    ours = diagnostics._decode.get_concrete_function(BATCH_SIGNATURE)
    assert canonical(ours.graph) == canonical(with_autograph.get_concrete_function(BATCH_SIGNATURE).graph)


def test_a_python_branch_on_a_tensor_needs_its_own_tf_function():
    def clipped(x):
        if tf.reduce_sum(x) > 0:  # a Python branch on a tensor's value
            return x
        return -x

    with pytest.raises(Exception, match="as a Python `bool` is not allowed"):
        graph_function(clipped)(tf.constant([-1.0, -2.0]))
    inner = tf.function(clipped)  # traced with AutoGraph, inlined in the graph
    assert graph_function(lambda x: inner(x) * 2)(tf.constant([-1.0, -2.0])).numpy().tolist() == [2.0, 4.0]
