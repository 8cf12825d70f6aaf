"""Generation plus the paper's metrics over a split (used after every epoch and by ``evaluate.py``)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from tf_varattn.data.vocab import TaskVocabulary, word_tokenize
from tf_varattn.decoding import Decoder
from tf_varattn.metrics import Pooling, bleu_scores, bleu_statistics, brevity_penalty, diversity


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


def pooling_of(vocab: TaskVocabulary, max_length: int) -> Pooling:
    """How the task's decoded samples are pooled for diversity (qgen's appended ``?`` never is)."""
    return Pooling(max_length, appended=1 if vocab.spec.append_question_mark else 0)


def _paired(references: Sequence[Sequence[str]], outputs: Sequence[Sequence[Sequence[str]]]) -> tuple[list, list]:
    """``(references, hypotheses)``: every output of ``outputs[i]`` beside ``references[i]``."""
    hypotheses = [sample for per_input in outputs for sample in per_input]
    paired = [reference for reference, per_input in zip(references, outputs) for _ in per_input]
    return paired, hypotheses


def score(references: Sequence[Sequence[str]], outputs: Sequence[Sequence[Sequence[str]]],
          pooling: Optional[Pooling] = None) -> dict:
    """BLEU-1..4 of every output against its input's reference; with several samples per input,
    also entropy, Dist-1 and Dist-2 of each input's pooled samples (``pooling``, required then),
    averaged (Table 2 / 4 columns)."""
    metrics = bleu_scores(*_paired(references, outputs))
    if max(len(per_input) for per_input in outputs) > 1:
        if pooling is None:
            raise ValueError("scoring several samples per input needs the pooling of their words (metrics.Pooling).")
        metrics.update({k: round(v, 4) for k, v in diversity(outputs, pooling).items()})
    return metrics


def output_length(references: Sequence[Sequence[str]], outputs: Sequence[Sequence[Sequence[str]]]) -> dict:
    """Mean output length in tokens (``length``, every sample counted) and BLEU's brevity penalty
    of all outputs against their inputs' references (``brevity_penalty``): what BLEU's length
    term sees."""
    paired, hypotheses = _paired(references, outputs)
    totals = bleu_statistics(paired, hypotheses, max_order=1).sum(axis=0)
    return {"length": round(float(totals[0]) / max(len(hypotheses), 1), 3),
            "brevity_penalty": round(float(brevity_penalty(totals)), 4)}


# How test outputs are scored (docs/reference-code.md, last section): "ours" compares our
# tokenized references with the outputs as decoded; "reference" is the released code's scoring:
# the test set without its last partial batch, references word_tokenize'd from the raw CSV text,
# hypotheses and pooled samples re-tokenized with word_tokenize; "reference_cut" (a hypothesis,
# not the released code) is "reference" with every reference cut to the target length limit.
SCORINGS = ("ours", "reference", "reference_cut")
KEEP_ALL = Pooling(max_length=sys.maxsize)  # words already pooled: keep every one


def rescore(outputs: "SplitOutputs", raw_targets: Sequence[str], pooling: Pooling, scoring: str = "ours",
            batch_size: int = 100, target_limit: int = 20) -> dict:
    """``{"scoring", "inputs", "map"[, "sample_runs", "sample"]}`` of ``outputs`` under ``scoring``
    (SCORINGS); ``raw_targets``: the split's target column as in the CSV (row i for input i)."""
    if scoring not in SCORINGS:
        raise ValueError(f"scoring={scoring!r} is not valid; choose one of: {', '.join(SCORINGS)}.")
    inputs = len(outputs.map)
    if scoring == "ours":
        references = outputs.references

        def retokenize(tokens):
            return list(tokens)
    else:
        if len(raw_targets) < inputs:
            raise ValueError(f"{inputs} outputs but only {len(raw_targets)} raw targets; score them against their own split.")
        inputs -= inputs % batch_size  # the released code drops the last partial batch at test time too
        limit = target_limit if scoring == "reference_cut" else None
        references = [word_tokenize(text)[:limit] for text in raw_targets[:inputs]]

        cache: dict[str, list[str]] = {}  # samples repeat a lot: each text is tokenized once

        def retokenize(tokens):
            text = " ".join(tokens)
            if text not in cache:
                cache[text] = word_tokenize(text)
            return list(cache[text])
    if inputs == 0:
        raise ValueError(f"no input left to score: fewer outputs than one batch of {batch_size}.")
    result = {"scoring": scoring, "inputs": inputs,
              "map": score(references, [[retokenize(words)] for words in outputs.map[:inputs]])}
    if outputs.samples:
        runs = []
        for run in outputs.samples:
            run = run[:inputs]
            metrics = bleu_scores(*_paired(references, [[retokenize(sample) for sample in per_input] for per_input in run]))
            # Diversity pools the decoded words (whether an output hit the limit is a fact about
            # them), then re-tokenizes the kept words, as the released code did.
            pooled = [[retokenize(pooling.words(sample)) for sample in per_input] for per_input in run]
            metrics.update({k: round(v, 4) for k, v in diversity(pooled, KEEP_ALL).items()})
            runs.append(metrics)
        result["sample_runs"], result["sample"] = runs, average_runs(runs)
    return result


class DecodingPasses:
    """The finished decoding passes of one evaluation, kept on disk so that a stopped evaluation
    resumes after its last finished pass instead of decoding the split again.

    One file per pass, ``<directory>/<mode>-<samples>[-seed<seed>].json.gz``, holding the pass's
    outputs and everything that fixed them: ``identity`` (the evaluation's: checkpoint, search,
    split) and the pass's own settings (mode, samples per input, seed, batch size, temperatures,
    a digest of the inputs). A pass is reused only when all of them match; otherwise it is decoded
    again and its file replaced. ``reused`` names the passes read back; :meth:`clear` removes the
    files once the evaluation's results are written."""

    def __init__(self, directory: os.PathLike, identity: dict):
        self.directory, self.identity, self.used, self.reused = Path(directory), identity, [], []

    def outputs(self, name: str, settings: dict, decode: Callable[[], list], progress: bool = False) -> list:
        """The outputs of pass ``name``: read back if it finished earlier with these settings, else ``decode()``d and kept."""
        path = self.directory / f"{name}.json.gz"
        self.used.append(path)
        settings = {**self.identity, **settings}
        if path.is_file():
            try:
                with gzip.open(path, "rt", encoding="utf-8") as stream:
                    saved = json.load(stream)
                if saved["settings"] == settings:
                    self.reused.append(name)
                    if progress:
                        print(f"{name}: reusing the pass finished earlier ({path})", flush=True)
                    return saved["outputs"]
            except (OSError, ValueError, KeyError, TypeError, EOFError):
                pass  # damaged or partly written: decoded again
        outputs = decode()
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.tmp")
        try:
            with gzip.open(temporary, "wt", encoding="utf-8") as stream:
                json.dump({"settings": settings, "outputs": outputs}, stream, ensure_ascii=False)
            os.replace(temporary, path)
        except OSError:
            temporary.unlink(missing_ok=True)  # a full disk leaves no half-written pass behind
            raise
        return outputs

    def clear(self) -> None:
        """Removes the passes this object read or wrote (and the directory, once empty)."""
        for path in self.used:
            path.unlink(missing_ok=True)
        if self.directory.is_dir() and not any(self.directory.iterdir()):
            self.directory.rmdir()


def _digest(sources: Sequence[Sequence[int]]) -> str:
    return hashlib.sha256(json.dumps([[int(token) for token in source] for source in sources]).encode()).hexdigest()


def evaluate_split(
    decoder: Decoder,
    vocab: TaskVocabulary,
    sources: Sequence[Sequence[int]],
    references: Sequence[Sequence[str]],
    mode: str,
    num_samples: int,
    limit: Optional[int] = None,
    seed: Optional[int] = None,
    passes: Optional[DecodingPasses] = None,
    **generate_options,
) -> tuple[dict, list[list[list[str]]]]:
    """Metrics and outputs for the first ``limit`` inputs (all when ``None``). ``seed``: restart
    decoding's random streams there first (:meth:`Decoder.reseed`); ``passes``: reuse this pass
    if it finished earlier (:class:`DecodingPasses`)."""
    sources, references = sources[:limit], references[:limit]

    def decode():
        if seed is not None:
            decoder.reseed(seed)
        return generate(decoder, vocab, sources, mode, num_samples, **generate_options)

    if passes is None:
        outputs = decode()
    else:
        settings = {"mode": mode, "num_samples": num_samples, "seed": seed, "inputs": len(sources),
                    "inputs_sha256": _digest(sources),
                    **{k: v for k, v in generate_options.items() if k != "progress"}}
        name = f"{mode}-{num_samples}" + ("" if seed is None else f"-seed{seed}")
        outputs = passes.outputs(name, settings, decode, generate_options.get("progress", False))
    return score(references, outputs, pooling_of(vocab, decoder.max_length)), outputs


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
        try:
            with gzip.open(temporary, "wt", encoding="utf-8", compresslevel=9) as stream:
                for index, (source, reference, output) in enumerate(zip(self.sources, self.references, self.map)):
                    line = {"source": source, "reference": " ".join(reference), "map": " ".join(output),
                            "samples": [[" ".join(sample) for sample in run[index]] for run in self.samples]}
                    stream.write(json.dumps(line, ensure_ascii=False) + "\n")
            os.replace(temporary, path)
        except OSError:
            Path(temporary).unlink(missing_ok=True)  # a full disk leaves no half-written file behind
            raise

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
