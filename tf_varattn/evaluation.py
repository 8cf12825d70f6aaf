"""Generation plus the paper's metrics over a split (used after every epoch and by ``evaluate.py``)."""

from __future__ import annotations

from typing import Optional, Sequence

from tf_varattn.data.vocab import TaskVocabulary
from tf_varattn.decoding import GreedyDecoder
from tf_varattn.metrics import bleu_scores, diversity


def generate(
    decoder: GreedyDecoder,
    vocab: TaskVocabulary,
    sources: Sequence[Sequence[int]],
    mode: str = "map",
    num_samples: int = 1,
    z_temperature: float = 1.0,
    attention_temperature: float = 1.0,
    batch_size: int = 100,
    progress: bool = False,
) -> list[list[list[str]]]:
    """Decoded token lists ``[input][sample]`` (qgen: ``?`` appended, as the reference evaluates)."""
    ids = decoder.decode(sources, mode, num_samples, z_temperature, attention_temperature, batch_size, progress)
    return [[vocab.decode_target(sample) for sample in per_input] for per_input in ids]


def score(references: Sequence[Sequence[str]], outputs: Sequence[Sequence[Sequence[str]]], drop_last_token: bool = True) -> dict:
    """BLEU-1..4 of every output against its input's reference; with several samples per input,
    also entropy, Dist-1 and Dist-2 of each input's pooled samples, averaged (Table 2 / 4 columns)."""
    hypotheses = [sample for per_input in outputs for sample in per_input]
    paired = [reference for reference, per_input in zip(references, outputs) for _ in per_input]
    metrics = bleu_scores(paired, hypotheses)
    if max(len(per_input) for per_input in outputs) > 1:
        metrics.update({k: round(v, 4) for k, v in diversity(outputs, drop_last_token).items()})
    return metrics


def evaluate_split(
    decoder: GreedyDecoder,
    vocab: TaskVocabulary,
    sources: Sequence[Sequence[int]],
    references: Sequence[Sequence[str]],
    mode: str,
    num_samples: int,
    limit: Optional[int] = None,
    **generate_options,
) -> tuple[dict, list[list[list[str]]]]:
    """Metrics and outputs for the first ``limit`` inputs (all when ``None``)."""
    sources, references = sources[:limit], references[:limit]
    outputs = generate(decoder, vocab, sources, mode, num_samples, **generate_options)
    return score(references, outputs), outputs
