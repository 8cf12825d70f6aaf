"""The paper's models: one configurable :class:`Seq2Seq` and its objective (Eq. 8)."""

from tf_varattn.models.seq2seq import Seq2Seq, build_model, make_optimizer

__all__ = ["Seq2Seq", "build_model", "make_optimizer"]
