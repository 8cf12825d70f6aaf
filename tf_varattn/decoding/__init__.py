"""Decoding: :class:`Decoder` runs a search over a model's ``start`` / ``step``.

Searches, by registry name (:func:`get_search`): ``greedy`` (the paper's; MAP with the latent
means), ``random`` (sampling with temperature), ``top_k``, ``top_p`` (nucleus) and ``beam``.
A new token sampler is a :class:`Sampler` subclass overriding ``get_next_token`` and one entry
of :data:`SEARCHES`.
"""

from __future__ import annotations

from tf_varattn.decoding.beam import BeamSearch, length_penalty
from tf_varattn.decoding.decoder import MODES, Decoder
from tf_varattn.decoding.samplers import GreedySampler, RandomSampler, Sampler, TopKSampler, TopPSampler
from tf_varattn.decoding.search import Search
from tf_varattn.decoding.trace import AttentionTrace, trace_attention

SEARCHES = {
    "greedy": GreedySampler,
    "random": RandomSampler,
    "top_k": TopKSampler,
    "top_p": TopPSampler,
    "beam": BeamSearch,
}


def get_search(name: str, beam_size: int = 5, length_penalty: float = 0.6, top_k: int = 10, top_p: float = 0.9,
               temperature: float = 1.0, seed: int = 0, min_length: int = 0) -> Search:
    """The search registered as ``name``, with the options that apply to it (the others are ignored;
    ``min_length`` applies to every search)."""
    if name not in SEARCHES:
        raise ValueError(f"search={name!r} is not valid; choose one of: {', '.join(SEARCHES)}.")
    if name == "beam":
        return BeamSearch(beam_size, length_penalty, min_length=min_length)
    if name == "top_k":
        return TopKSampler(top_k, temperature, seed, min_length=min_length)
    if name == "top_p":
        return TopPSampler(top_p, temperature, seed, min_length=min_length)
    return SEARCHES[name](temperature, seed, min_length=min_length)


def define_search_flags() -> None:
    """The absl flags of :func:`search_from_flags` (``evaluate.py``, ``generate.py``)."""
    from absl import flags

    flags.DEFINE_enum("search", "greedy", list(SEARCHES), "How tokens are chosen: greedy is the paper's decoding.")
    flags.DEFINE_integer("beam_size", 5, "Hypotheses kept per input (--search beam).")
    flags.DEFINE_float("length_penalty", 0.6, "alpha of the length normalisation ((5 + |Y|) / 6) ** alpha (--search beam).")
    flags.DEFINE_integer("top_k", 10, "Tokens sampled from (--search top_k).")
    flags.DEFINE_float("top_p", 0.9, "Probability mass of the nucleus (--search top_p).")
    flags.DEFINE_float("token_temperature", 1.0, "Softmax temperature of token sampling (random, top_k, top_p).")
    flags.DEFINE_integer("min_length", 0, "No EOS before an output has this many tokens (every search; 0: the paper's "
                         "decoding, EOS may come first). Its files are named after it (test_metrics-greedy_min5.json).")


def search_from_flags() -> Search:
    from absl import flags

    values = flags.FLAGS
    return get_search(values.search, values.beam_size, values.length_penalty, values.top_k, values.top_p,
                      values.token_temperature, min_length=values.min_length)


__all__ = [
    "AttentionTrace", "BeamSearch", "Decoder", "GreedySampler", "MODES", "RandomSampler", "SEARCHES", "Sampler", "Search",
    "TopKSampler", "TopPSampler", "define_search_flags", "get_search", "length_penalty", "search_from_flags",
    "trace_attention",
]
