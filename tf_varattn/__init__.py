"""tf-varattn: Variational Attention for Sequence-to-Sequence Models in TensorFlow 2 / Keras.

A reproduction of Bahuleyan, Mou, Vechtomova and Poupart (COLING 2018).
The package is organised by concern:

* ``tf_varattn.data``      corpora, the reference tokenizer/vocabulary, tf.data, word2vec
* ``tf_varattn.metrics``   BLEU-1..4, unigram entropy, Dist-n
"""

__version__ = "0.1.0"
