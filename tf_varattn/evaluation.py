"""Generation plus the paper's metrics over a split (used after every epoch and by ``evaluate.py``)."""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from typing import Optional, Sequence

from tf_varattn.data.vocab import TaskVocabulary
from tf_varattn.decoding import Decoder
from tf_varattn.metrics import bleu_scores, diversity


def generate(
    decoder: Decoder,
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


def sampling_batch_size(num_samples: int, batch_size: int = 100) -> int:
    """Inputs decoded together when each gets ``num_samples`` outputs: ``batch_size * 10 //
    num_samples`` (about ``10 * batch_size`` sequences a batch). Batches fix the random draws, so
    every sampling evaluation uses this one rule and its runs are reproducible across scripts."""
    return max(1, batch_size * 10 // num_samples)


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
    decoder: Decoder,
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


def average_runs(per_run: Sequence[dict]) -> dict:
    """The mean of each metric over sampling runs (BLEU to 2 decimals, diversity to 4)."""
    return {name: round(sum(run[name] for run in per_run) / len(per_run), 2 if name.startswith("bleu") else 4)
            for name in per_run[0]}


@dataclass
class SplitOutputs:
    """What a model produced for a split: the sources (as in the data file), the tokenized
    references, MAP outputs ``[N]`` and the samples of each sampling run ``[runs][N][num_samples]``
    (token lists)."""

    sources: list[str]
    references: list[list[str]]
    map: list[list[str]]
    samples: list[list[list[list[str]]]]

    def write(self, path: os.PathLike) -> None:
        """One JSON line per input (``source``, ``reference``, ``map``, ``samples`` per run), gzip-compressed."""
        temporary = f"{path}.tmp"
        with gzip.open(temporary, "wt", encoding="utf-8", compresslevel=9) as stream:
            for index, (source, reference, output) in enumerate(zip(self.sources, self.references, self.map)):
                line = {"source": source, "reference": " ".join(reference), "map": " ".join(output),
                        "samples": [[" ".join(sample) for sample in run[index]] for run in self.samples]}
                stream.write(json.dumps(line, ensure_ascii=False) + "\n")
        os.replace(temporary, path)

    @classmethod
    def read(cls, path: os.PathLike) -> "SplitOutputs":
        sources, references, outputs, samples = [], [], [], None
        with gzip.open(path, "rt", encoding="utf-8") as stream:
            for number, line in enumerate(stream, start=1):
                try:
                    record = json.loads(line)
                    sources.append(record["source"])
                    references.append(record["reference"].split())
                    outputs.append(record["map"].split())
                    runs = [[sample.split() for sample in run] for run in record["samples"]]
                except (ValueError, KeyError, AttributeError) as error:
                    raise ValueError(f"{path}, line {number}: not an outputs record ({error}).") from None
                samples = samples or [[] for _ in runs]
                if len(runs) != len(samples):
                    raise ValueError(f"{path}, line {number}: {len(runs)} sampling runs, earlier lines {len(samples)}.")
                for run, run_samples in zip(samples, runs):
                    run.append(run_samples)
        return cls(sources, references, outputs, samples or [])
