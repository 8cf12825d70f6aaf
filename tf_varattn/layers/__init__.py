"""Keras layers of the paper's models, each serialisable with ``get_config``."""

from tf_varattn.layers.attention import BilinearAttention, masked_mean
from tf_varattn.layers.decoder_cell import AttentionDecoderCell, DecoderState, Memory
from tf_varattn.layers.latent import GaussianLatent, gaussian_kl
from tf_varattn.layers.recurrent import BidirectionalEncoder, LayerNormLSTMCell
from tf_varattn.layers.variational_attention import VariationalAttention

__all__ = [
    "AttentionDecoderCell",
    "BidirectionalEncoder",
    "BilinearAttention",
    "DecoderState",
    "GaussianLatent",
    "LayerNormLSTMCell",
    "Memory",
    "VariationalAttention",
    "gaussian_kl",
    "masked_mean",
]
