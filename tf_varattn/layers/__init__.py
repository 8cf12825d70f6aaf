"""Keras layers of the paper's models, each serialisable with ``get_config``."""

from tf_varattn.layers.attention import BilinearAttention, masked_mean
from tf_varattn.layers.bag_of_words import BagOfWords
from tf_varattn.layers.attention_posterior import AttentionPosterior, AttentionSample, DeterministicAttention
from tf_varattn.layers.dirichlet_attention import DirichletAttention, masked_dirichlet_kl
from tf_varattn.layers.decoder_cell import AttentionDecoderCell, CellState, Memory, make_attention_posterior
from tf_varattn.layers.latent import GaussianLatent, gaussian_kl
from tf_varattn.layers.recurrent import BidirectionalEncoder, LayerNormLSTMCell
from tf_varattn.layers.variational_attention import VariationalAttention

__all__ = [
    "AttentionDecoderCell",
    "AttentionPosterior",
    "AttentionSample",
    "BagOfWords",
    "BidirectionalEncoder",
    "BilinearAttention",
    "CellState",
    "DeterministicAttention",
    "DirichletAttention",
    "GaussianLatent",
    "LayerNormLSTMCell",
    "Memory",
    "VariationalAttention",
    "gaussian_kl",
    "make_attention_posterior",
    "masked_dirichlet_kl",
    "masked_mean",
]
