"""The library's compiled functions (the training step, the decoding graph, the latent diagnostics):
``tf.function`` without AutoGraph.

AutoGraph rewrites Python control flow on tensors (``if``, ``while``) into graph ops. The library's
graph code has none to rewrite: its loops are ``tf.while_loop``s and its branches on tensors are
``tf.where``s, or Python branches on settings. AutoGraph would still parse and transform the source of
every method the trace reaches, once per process, a cost each short script pays again. Without it
the graphs are the same, op for op (``tests/ops/test_graph_function.py``).

A layer of your own that branches in Python on a tensor's value fails at trace time with
TensorFlow's "Using a symbolic `tf.Tensor` as a Python `bool` is not allowed". Write that branch
with ``tf.cond``/``tf.where``, or decorate the method with ``tf.function``: a ``tf.function``
called inside is traced with AutoGraph and inlined.
"""

import tensorflow as tf


def graph_function(function, **options):
    """``tf.function(function, autograph=False, **options)``."""
    return tf.function(function, autograph=False, **options)
