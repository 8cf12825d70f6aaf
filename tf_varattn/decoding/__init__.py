"""Decoding: :class:`Decoder` runs a search over a model's ``start`` / ``step``.

Searches, by registry name (:func:`get_search`, :mod:`tf_varattn.decoding.registry`): ``greedy``
(the paper's; MAP with the latent means), ``random`` (sampling with temperature), ``top_k``,
``top_p`` (nucleus) and ``beam``. A new token sampler is one :class:`Sampler` subclass that
overrides ``get_next_token``, names its :attr:`~Search.options` and carries ``@register_search``:
its flags, ``--search`` choice and comparison row follow from the registry.
"""

from __future__ import annotations

# Samplers first: the registry keeps this order (--search choices, compare_searches.py's rows).
from tf_varattn.decoding.samplers import GreedySampler, RandomSampler, Sampler, TopKSampler, TopPSampler
from tf_varattn.decoding.beam import BeamSearch, length_penalty
from tf_varattn.decoding.decoder import MODES, Decoder
from tf_varattn.decoding.registry import SEARCHES, define_search_flags, get_search, register_search, search_from_flags
from tf_varattn.decoding.search import Search, SearchOption
from tf_varattn.decoding.trace import AttentionTrace, trace_attention

__all__ = [
    "AttentionTrace", "BeamSearch", "Decoder", "GreedySampler", "MODES", "RandomSampler", "SEARCHES", "Sampler", "Search",
    "SearchOption", "TopKSampler", "TopPSampler", "define_search_flags", "get_search", "length_penalty",
    "register_search", "search_from_flags", "trace_attention",
]
