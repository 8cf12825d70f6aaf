"""What every search is: given the model and the state :meth:`Seq2Seq.start` returned, the
output token ids, using only :meth:`Seq2Seq.step`."""

from __future__ import annotations

import tensorflow as tf


class Search:
    """``search(model, state, attention_temperature, max_length) -> ids [B, max_length]`` (int32,
    PAD after EOS). ``name`` is the registry name; :attr:`tag` names output files; ``reseed``
    restarts any randomness of the search itself (token sampling)."""

    name = "search"

    def __call__(self, model, state, attention_temperature, max_length) -> tf.Tensor:
        raise NotImplementedError

    @property
    def tag(self) -> str:
        """Short and file-name safe: ``greedy``, ``beam5``, ``top_p0.9`` ..."""
        return self.name

    def describe(self) -> str:
        return self.name

    def reseed(self, seed: int) -> None:
        """Nothing to restart in a deterministic search."""
