"""Tables 2 and 4: the paper's rows, ours (with 95% bootstrap intervals for the sampling rows),
the paired test of VED+VAttn-h̄ against VED+DAttn, and the output lengths, from the runs' files."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from tf_varattn.config import config_differences, get_config
from tf_varattn.evaluation import SplitOutputs
from tf_varattn.metrics import bleu_statistics, brevity_penalty
from tf_varattn.reporting.paper import HEADERS, METRICS, NAMES, TABLES, cell, difference_cell
from tf_varattn.reporting.seeds import SEED_FOLDER, training_runs
from tf_varattn.reporting.run_files import read_json, run_pooling, settings_differences  # noqa: F401
from tf_varattn.uncertainty import PerInputScores, bootstrap_interval, paired_bootstrap


# Sampling rows get a 95% bootstrap interval for these; the paired test compares these models.
INTERVAL_METRICS = ("bleu4", "entropy", "dist1")
PAIRED_METRICS = ("bleu4", "entropy", "dist1", "dist2")
PAIRED_MODELS = ("ved_vattn_mean", "ved_dattn")
BOOTSTRAP_RESAMPLES = 1000


@dataclass(frozen=True)
class RunScores:
    """Per-input quantities of a run's committed test outputs (``test_outputs.jsonl.gz``): BLEU
    statistics of the MAP outputs ``[N, K]``, the sampling runs' scores and how many different
    outputs each input's samples hold, averaged over inputs and runs (None without samples)."""

    map_bleu: np.ndarray
    sampling: Optional[PerInputScores]
    distinct_samples: Optional[float] = None

    @property
    def map(self) -> PerInputScores:
        """The MAP outputs as one run of one output per input, for the BLEU metrics (no diversity: NaN)."""
        return PerInputScores(self.map_bleu[None], np.full([1, len(self.map_bleu), 3], np.nan))


def _compute_run_scores(run: Path) -> Optional[RunScores]:
    path = run / "test_outputs.jsonl.gz"
    if not path.is_file():
        return None
    outputs = SplitOutputs.read(path)
    map_bleu = bleu_statistics(outputs.references, outputs.map)
    if not outputs.samples:
        return RunScores(map_bleu, None)
    distinct = [len({tuple(sample) for sample in per_input}) for run in outputs.samples for per_input in run]
    return RunScores(map_bleu, PerInputScores.from_outputs(outputs.references, outputs.samples, run_pooling(run)),
                     float(np.mean(distinct)))


_RUN_SCORES: dict[Path, Optional[RunScores]] = {}


def run_scores(run: Path) -> Optional[RunScores]:
    """The run's :class:`RunScores`, if it has test outputs (read and scored once per run)."""
    if run not in _RUN_SCORES:
        _RUN_SCORES[run] = _compute_run_scores(run)
    return _RUN_SCORES[run]


def _sampling_scores(run: Path) -> Optional[PerInputScores]:
    scores = run_scores(run)
    return scores.sampling if scores is not None else None


def table_runs(table: str, runs_root: os.PathLike) -> list[Path]:
    """The run directories whose outputs ``table`` reads (the paper's rows, then the extra ones)."""
    spec = TABLES[table]
    names = dict.fromkeys([preset for preset, _ in spec["paper"]] + list(spec["extra"]))
    return [Path(runs_root) / spec["task"] / name for name in names]


def preload_scores(runs: Iterable[Path], workers: Optional[int] = None) -> None:
    """Reads and scores the test outputs of ``runs`` side by side in ``workers`` processes
    (default: one per core), so that rendering the tables reads each run's outputs once, in
    parallel. Without ``fork`` (or with one worker) they are scored in turn."""
    pending = [run for run in dict.fromkeys(runs)
               if run not in _RUN_SCORES and (run / "test_outputs.jsonl.gz").is_file()]
    workers = min(workers or os.cpu_count() or 1, len(pending))
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            _RUN_SCORES.update(zip(pending, pool.map(_compute_run_scores, pending)))
    for run in pending:
        run_scores(run)


def _interval_cell(metric: str, interval: Optional[dict]) -> str:
    if interval is None:
        return "–"
    return f"[{cell(metric, interval['low'])}, {cell(metric, interval['high'])}]"


def _paired_note(root: Path) -> list[str]:
    first, second = (_sampling_scores(root / preset) for preset in PAIRED_MODELS)
    if first is None or second is None:
        return []
    parts = []
    for metric in PAIRED_METRICS:
        result = paired_bootstrap(first, second, metric, BOOTSTRAP_RESAMPLES)
        parts.append(f"{HEADERS[metric]} {difference_cell(metric, result)}, "
                     f"p {'< ' if result['p_value'] <= 1 / BOOTSTRAP_RESAMPLES else '= '}"
                     f"{max(result['p_value'], 1 / BOOTSTRAP_RESAMPLES):.3f}")
    names = " − ".join(NAMES[preset] for preset in PAIRED_MODELS)
    return [f"Paired bootstrap over test inputs ({BOOTSTRAP_RESAMPLES} resamples), sampling, {names}: "
            + "; ".join(parts) + "."]


def render_table(table: str, runs_root: os.PathLike) -> str:
    """Markdown with, for each model and inference, the paper's row, ours and ours - paper; for
    sampling rows a 95% bootstrap interval over test inputs; then the paired test of
    VED+VAttn-h̄ against VED+DAttn. Runs beyond the paper's rows come last."""
    spec = TABLES[table]
    root = Path(runs_root) / spec["task"]
    lines = [f"# {spec['title']}", "",
             "| Model | Inference | Row | " + " | ".join(HEADERS[m] for m in METRICS) + " |",
             "| --- | --- | --- | " + " | ".join("---:" for _ in METRICS) + " |"]
    rows = [(preset, preset, {}, inference, NAMES[preset], dict(zip(METRICS, values)))
            for (preset, inference), values in spec["paper"].items()]
    for run_name, (preset, label, changes) in spec["extra"].items():
        rows += [(run_name, preset, changes, inference, label, None) for inference in ("map", "sample")]
    missing, off_paper = [], {}
    for run_name, preset, changes, inference, name, paper in rows:
        results = read_json(root / run_name / "test_metrics.json")
        ours = (results or {}).get(inference)
        label = f"{name} | {'MAP' if inference == 'map' else 'Sampling'}"
        if paper is not None:
            lines.append(f"| {label} | paper | " + " | ".join(cell(m, paper[m]) for m in METRICS) + " |")
        if ours is None:
            missing.append(run_name)
            lines.append(f"| {label} | ours | " + " | ".join("not run" for _ in METRICS) + " |")
            continue
        runs = len(results.get("sample_runs", [])) if inference == "sample" else 0
        differences = settings_differences(root / run_name, preset, spec["task"], changes)
        if differences:
            off_paper[run_name] = differences
        protocol = (read_json(root / run_name / "config.json") or {}).get("protocol", "ours")
        lines.append(f"| {label} | ours (epoch {results['checkpoint_epoch']}"
                     + (f", mean of {runs} runs" if runs > 1 else "")
                     + (f", {protocol} protocol" if protocol != "ours" else "")
                     + (f", {results['scoring']} scoring" if results.get("scoring", "ours") != "ours" else "")
                     + (f"; NOT the paper's settings: {', '.join(differences)}" if differences else "") + ") | "
                     + " | ".join(cell(m, ours.get(m)) for m in METRICS) + " |")
        if inference == "sample":
            scores = _sampling_scores(root / run_name)
            if scores is not None:
                intervals = {m: bootstrap_interval(scores, m, BOOTSTRAP_RESAMPLES) for m in INTERVAL_METRICS}
                lines.append(f"| {label} | ours, 95% interval | "
                             + " | ".join(_interval_cell(m, intervals.get(m)) for m in METRICS) + " |")
        if paper is not None:
            deltas = [None if paper[m] is None or ours.get(m) is None else ours[m] - paper[m] for m in METRICS]
            lines.append(f"| {label} | ours − paper | " + " | ".join(cell(m, d, signed=True) for m, d in zip(METRICS, deltas)) + " |")
    if off_paper:
        lines[0] += " — some rows NOT with the paper's settings"
    lines += _length_table(root, {run_name: name for run_name, _, _, _, name, _ in rows})
    lines += _scoring_table(root, {run_name: name for run_name, _, _, _, name, _ in rows})
    if spec.get("controlled_epochs"):  # Table 4's gap traced epoch by epoch (session 15)
        lines += _controlled_runs_table(root, spec["paper"], spec["controlled_epochs"])
    notes = []
    if missing:
        notes.append(f"Not run yet: {', '.join(dict.fromkeys(missing))}.")
    notes.append("Ours: sampling rows score 10 samples per test input (BLEU over all samples; diversity pools each "
                 "input's samples) and average the sampling runs (seeds), as the paper averages 3. Intervals: 95% "
                 f"percentile bootstrap over test inputs ({BOOTSTRAP_RESAMPLES} resamples), from the committed "
                 "`test_outputs.jsonl.gz`. Every row used our data protocol and our scoring unless its label names "
                 "another (`--protocol`, `evaluate.py --scoring`).")
    for run_name, (preset, label, changes) in spec["extra"].items():
        flags = " ".join(f"--{field}={value}" for field, value in changes.items())
        notes.append(f"{label}: the {NAMES[preset]} preset with `{flags}`." if changes else
                     f"{label}: the `{preset}` preset.")
    notes += _paired_note(root)
    lines += [""] + ["\n\n".join(notes)]
    return "\n".join(lines) + "\n"


def _length_table(root: Path, labels: dict[str, str]) -> list[str]:
    """Lines of a table of output lengths and BLEU's brevity penalty, MAP and sampling, and the
    different outputs among an input's samples, for every run in ``labels`` (run name -> label)
    with test outputs; empty when none has them."""
    rows, reference_length = [], None
    for run_name, label in labels.items():
        scores = run_scores(root / run_name)
        if scores is None:
            continue
        totals = scores.map_bleu.sum(axis=0)
        inputs = scores.map_bleu.shape[0]
        reference_length = totals[1] / inputs
        cells = [f"{totals[0] / inputs:.2f}", f"{float(brevity_penalty(totals)):.3f}"]
        if scores.sampling is not None:
            per_run = scores.sampling.bleu.sum(axis=1)  # [runs, K]
            # Each sample is scored against its input's reference, so the mean sample length is the
            # length ratio times the mean reference length.
            cells += [f"{np.mean(per_run[:, 0] / per_run[:, 1]) * reference_length:.2f}",
                      f"{np.mean(brevity_penalty(per_run)):.3f}", f"{scores.distinct_samples:.2f}"]
        else:
            cells += ["–", "–", "–"]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    return ["", f"Output length (tokens per output as scored, mean over test inputs; the references: "
                f"{reference_length:.2f}), BLEU's brevity penalty (1 when the outputs are longer in total "
                "than the references, else exp(1 − r / c)) and the number of different outputs among an "
                "input's samples (mean over inputs and sampling runs); the paper reports none of them:", "",
            "| Model | MAP length | MAP brevity penalty | Sampling length | Sampling brevity penalty | "
            "Different samples per input |",
            "| --- | ---: | ---: | ---: | ---: | ---: |", *rows]


SCORING_LABELS = {
    "ours": "ours",
    "reference": "released",
    "reference_cut": "released, references cut to 20 tokens (hypothesis)",
}


def _scoring_table(root: Path, labels: dict[str, str]) -> list[str]:
    """Lines of a table of every run in ``labels`` with ``test_scoring.json`` (experiments/rescore.py)
    under each scoring: our scoring, the released code's, and the labelled hypothesis of references
    cut to the target limit; empty when no run has the file."""
    rows = []
    for run_name, label in labels.items():
        scored = read_json(root / run_name / "test_scoring.json")
        for scoring, name in SCORING_LABELS.items():
            result = (scored or {}).get(scoring)
            if result is None:
                continue
            for inference in ("map", "sample"):
                metrics = result.get(inference)
                if metrics is not None:
                    rows.append(f"| {label} | {'MAP' if inference == 'map' else 'Sampling'} | {name} | "
                                f"{result['inputs']} | " + " | ".join(cell(m, metrics.get(m)) for m in METRICS) + " |")
    if not rows:
        return []
    return ["", "The same outputs under other scorings (`experiments/rescore.py`, from the committed outputs and the "
                "test CSV): ours; the released code's (the test set without its last partial batch, references "
                "word_tokenize'd from the raw CSV text with case, \"NUM\" and the punctuation the vocabulary filters, "
                "outputs re-tokenized); and, as a hypothesis the released code does not make, its references cut to "
                "the 20 tokens a model is trained to produce:", "",
            "| Model | Inference | Scoring | Inputs | " + " | ".join(HEADERS[m] for m in METRICS) + " |",
            "| --- | --- | --- | ---: | " + " | ".join("---:" for _ in METRICS) + " |", *rows]


def _controlled_runs_table(root: Path, paper: dict, epochs: int = 3) -> list[str]:
    """Lines of a table of the validation numbers after each of the first ``epochs`` epochs of
    every paper model's table run and its runs in ``<task>/seeds/`` (other seeds, the released
    protocol), one row per run and epoch; empty when there are no such runs."""
    rows = []
    for preset in dict.fromkeys(preset for preset, _ in paper):
        runs = training_runs(root, preset)
        if len(runs) < 2:
            continue
        for run in runs:
            history, config = read_json(run / "history.json"), read_json(run / "config.json") or {}
            for entry in (history or [])[:epochs]:
                cells = [cell(m, entry.get(f"val_{m}")) for m in ("bleu1", "bleu2", "bleu3", "bleu4")]
                length, brevity = entry.get("val_length"), entry.get("val_brevity_penalty")
                cells += ["–" if length is None else f"{length:.2f}", "–" if brevity is None else f"{brevity:.3f}"]
                settings = ", ".join([config.get("protocol", "ours"),
                                      *settings_differences(run, preset, root.name, ignore=("seed",))])
                rows.append(f"| {NAMES[preset]} | `{run.relative_to(root).as_posix()}` | {settings} | "
                            f"{config.get('seed', 0)} | {entry['epoch']} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    return ["", f"Controlled runs: validation after each of the first {epochs} epochs (the first 1,000 validation "
                "inputs, 10 sampled outputs each, as after every epoch of training) of the table's run and of the "
                f"runs in `{SEED_FOLDER}/` (other training seeds; the released code's protocol, `--protocol=reference`; "
                "another setting, named with its value). "
                "Length: tokens per output; brevity: BLEU's brevity penalty (not recorded before session 15):", "",
            "| Model | Run | Protocol and settings | Seed | Epoch | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | Length | Brevity |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", *rows]
