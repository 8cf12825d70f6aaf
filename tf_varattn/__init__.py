"""tf-varattn: Variational Attention for Sequence-to-Sequence Models in TensorFlow 2 / Keras.

A reproduction of Bahuleyan, Mou, Vechtomova and Poupart (COLING 2018).
The package is organised by concern:

* ``tf_varattn.data``      corpora, the reference tokenizer/vocabulary, tf.data, word2vec
* ``tf_varattn.metrics``   BLEU-1..4, unigram entropy, Dist-n

A trained run in three lines: ``model = tf_varattn.load(run_dir)``, then
``model.generate(["the war ended in 1783 ."], num_samples=5)`` (:mod:`tf_varattn.api`).
"""

__version__ = "0.1.0"

__all__ = ["TrainedModel", "load", "__version__"]


def __getattr__(name):
    """``tf_varattn.load`` and ``tf_varattn.TrainedModel`` (:mod:`tf_varattn.api`), imported on first
    use, so that ``import tf_varattn`` alone does not import TensorFlow."""
    if name in ("load", "TrainedModel"):
        from tf_varattn import api

        return getattr(api, name)
    raise AttributeError(f"module 'tf_varattn' has no attribute {name!r}")
