"""What every search is: given the model and the state :meth:`Seq2Seq.start` returned, the
output token ids, using only :meth:`Seq2Seq.step`."""

from __future__ import annotations

import dataclasses
from typing import Any

import tensorflow as tf

from tf_varattn.data.vocab import EOS_ID


@dataclasses.dataclass(frozen=True)
class SearchOption:
    """One option of a search: its flag (and ``get_search`` keyword), the constructor's argument,
    the default and a one-line meaning."""

    flag: str
    argument: str
    default: Any
    help: str


class Search:
    """``search(model, state, attention_temperature, max_length) -> ids [B, max_length]`` (int32,
    PAD after EOS). ``name`` is the registry name; :attr:`tag` names output files; ``reseed``
    restarts any randomness of the search itself (token sampling). A random search also takes
    ``seed=`` (a stateless seed ``[2]``) to draw from instead of its stream (an exported model).

    ``min_length`` (0: none, the paper's decoding) makes EOS impossible until an output has that
    many tokens; a search applies it to each step's scores with :meth:`suppress_end`."""

    name = "search"
    min_length = 0
    # The search's own options (besides min_length, which every search takes) and whether it is
    # deterministic: the same latents give the same output (no token is sampled).
    options: tuple[SearchOption, ...] = ()
    deterministic = True

    def __call__(self, model, state, attention_temperature, max_length) -> tf.Tensor:
        raise NotImplementedError

    def _set_min_length(self, min_length: int) -> None:
        if not (isinstance(min_length, int) and min_length >= 0):
            raise ValueError(f"min_length={min_length!r} is not valid; it must be an integer >= 0 (0: EOS may come first).")
        self.min_length = min_length

    def suppress_end(self, scores: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        """``scores [K, V]`` (logits or log probabilities) of the token at ``step`` (0-based), with EOS
        at -inf while ``step < min_length``."""
        if not self.min_length:
            return scores
        no_end = tf.one_hot(EOS_ID, tf.shape(scores)[-1], on_value=-float("inf"), off_value=0.0, dtype=scores.dtype)
        return tf.where(step < self.min_length, scores + no_end, scores)

    def _own_tag(self) -> str:
        return self.name

    def _own_description(self) -> str:
        return self.name

    @property
    def tag(self) -> str:
        """Short and file-name safe: ``greedy``, ``beam5``, ``top_p0.9``, ``greedy_min5`` ..."""
        return self._own_tag() + (f"_min{self.min_length}" if self.min_length else "")

    def describe(self) -> str:
        return self._own_description() + (f", at least {self.min_length} tokens" if self.min_length else "")

    def reseed(self, seed: int) -> None:
        """Nothing to restart in a deterministic search."""
