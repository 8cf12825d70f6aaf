"""Tables 2 and 4 (paper vs. ours, with bootstrap intervals), Figures 4 and 5 and the case study
(Table 3), all from the files that training and evaluation leave in the run directories."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from tf_varattn.config import RANDOM_ATTENTIONS, config_differences, get_config
from tf_varattn.evaluation import SplitOutputs
from tf_varattn.metrics import bleu_statistics, brevity_penalty
from tf_varattn.uncertainty import PerInputScores, bootstrap_interval, paired_bootstrap

METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "entropy", "dist1", "dist2")
HEADERS = {"bleu1": "BLEU-1", "bleu2": "BLEU-2", "bleu3": "BLEU-3", "bleu4": "BLEU-4",
           "entropy": "Entropy", "dist1": "Dist-1", "dist2": "Dist-2"}
NAMES = {"ded": "DED (w/o Attn)", "ded_dattn": "DED+DAttn", "ved_dattn": "VED+DAttn",
         "ved_dattn_2stage": "VED+DAttn (2-stage)", "ved_vattn_zero": "VED+VAttn-0", "ved_vattn_mean": "VED+VAttn-h̄"}
_ = None
# The paper's numbers: (preset, inference) -> metrics in METRICS order (None where not reported).
PAPER_TABLE2 = {
    ("ded", "map"): (29.31, 12.42, 6.55, 3.61, _, _, _),
    ("ded_dattn", "map"): (30.24, 14.33, 8.26, 4.96, _, _, _),
    ("ved_dattn", "map"): (31.02, 14.57, 8.49, 5.02, _, _, _),
    ("ved_dattn", "sample"): (30.87, 14.71, 8.61, 5.08, 2.214, 0.132, 0.176),
    ("ved_dattn_2stage", "map"): (28.88, 13.02, 7.33, 4.16, _, _, _),
    ("ved_dattn_2stage", "sample"): (29.25, 13.21, 7.45, 4.25, 2.241, 0.140, 0.188),
    ("ved_vattn_zero", "map"): (29.70, 14.17, 8.21, 4.92, _, _, _),
    ("ved_vattn_zero", "sample"): (30.22, 14.22, 8.28, 4.87, 2.320, 0.165, 0.231),
    ("ved_vattn_mean", "map"): (30.23, 14.30, 8.28, 4.93, _, _, _),
    ("ved_vattn_mean", "sample"): (30.47, 14.35, 8.39, 4.96, 2.316, 0.162, 0.228),
}
PAPER_TABLE4 = {
    ("ded_dattn", "map"): (_, 1.84, _, _, _, _, _),
    ("ved_dattn", "map"): (_, 1.68, _, _, _, _, _),
    ("ved_dattn", "sample"): (_, 1.68, _, _, 2.113, 0.311, 0.450),
    ("ved_vattn_mean", "map"): (_, 1.78, _, _, _, _, _),
    ("ved_vattn_mean", "sample"): (_, 1.79, _, _, 2.167, 0.324, 0.467),
}
# Runs beyond the paper's rows: run directory name -> (preset, label, config fields changed from the preset).
EXTRA_TABLE2 = {
    "ved_vattn_mean_kl_sum": ("ved_vattn_mean", "VED+VAttn-h̄, Eq. (8) as written", {"attention_kl": "sum"}),
    "ved_vattn_dirichlet": ("ved_vattn_dirichlet", "VED+DirAttn (beyond the paper)", {}),
}

TABLES = {
    "table2": {"task": "qgen", "paper": PAPER_TABLE2, "extra": EXTRA_TABLE2,
               "title": "Table 2: question generation (SQuAD, Du et al. split), test set"},
    "table4": {"task": "dialogue", "paper": PAPER_TABLE4, "extra": {},
               "title": "Table 4: dialogue (Cornell Movie-Dialogs), test set (the paper reports BLEU-2 only)"},
}
# Sampling rows get a 95% bootstrap interval for these; the paired test compares these models.
INTERVAL_METRICS = ("bleu4", "entropy", "dist1")
PAIRED_METRICS = ("bleu4", "entropy", "dist1", "dist2")
PAIRED_MODELS = ("ved_vattn_mean", "ved_dattn")
# <task>/retrain/<preset>: a paper model trained again with the same settings (for its diagnostics
# and attention pictures); it never replaces the table's run.
RETRAIN_FOLDER = "retrain"
BOOTSTRAP_RESAMPLES = 1000
CURVE_METRICS = (("bleu2", "BLEU-2"), ("bleu4", "BLEU-4"), ("entropy", "Entropy"), ("dist1", "Dist-1"))


def table_presets(table: str) -> list[str]:
    return list(dict.fromkeys(preset for preset, _ in TABLES[table]["paper"]))


def _read_json(path: Path) -> Optional[dict]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _cell(metric: str, value: Optional[float], signed: bool = False) -> str:
    """BLEU with 2 decimals, diversity with 3 (as the paper prints them)."""
    if value is None:
        return "–"
    digits = 2 if metric.startswith("bleu") else 3
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


@dataclass(frozen=True)
class RunScores:
    """Per-input quantities of a run's committed test outputs (``test_outputs.jsonl.gz``): BLEU
    statistics of the MAP outputs ``[N, K]`` and the sampling runs' scores (None without samples)."""

    map_bleu: np.ndarray
    sampling: Optional[PerInputScores]


def _compute_run_scores(run: Path) -> Optional[RunScores]:
    path = run / "test_outputs.jsonl.gz"
    if not path.is_file():
        return None
    outputs = SplitOutputs.read(path)
    return RunScores(bleu_statistics(outputs.references, outputs.map),
                     PerInputScores.from_outputs(outputs.references, outputs.samples) if outputs.samples else None)


_RUN_SCORES: dict[Path, Optional[RunScores]] = {}


def _run_scores(run: Path) -> Optional[RunScores]:
    """The run's :class:`RunScores`, if it has test outputs (read and scored once per run)."""
    if run not in _RUN_SCORES:
        _RUN_SCORES[run] = _compute_run_scores(run)
    return _RUN_SCORES[run]


def _sampling_scores(run: Path) -> Optional[PerInputScores]:
    scores = _run_scores(run)
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
        _run_scores(run)


def _interval_cell(metric: str, interval: Optional[dict]) -> str:
    if interval is None:
        return "–"
    return f"[{_cell(metric, interval['low'])}, {_cell(metric, interval['high'])}]"


def _paired_note(root: Path) -> list[str]:
    first, second = (_sampling_scores(root / preset) for preset in PAIRED_MODELS)
    if first is None or second is None:
        return []
    parts = []
    for metric in PAIRED_METRICS:
        result = paired_bootstrap(first, second, metric, BOOTSTRAP_RESAMPLES)
        parts.append(f"{HEADERS[metric]} {_cell(metric, result['difference'], signed=True)} "
                     f"[{_cell(metric, result['low'], signed=True)}, {_cell(metric, result['high'], signed=True)}], "
                     f"p {'< ' if result['p_value'] <= 1 / BOOTSTRAP_RESAMPLES else '= '}"
                     f"{max(result['p_value'], 1 / BOOTSTRAP_RESAMPLES):.3f}")
    names = " − ".join(NAMES[preset] for preset in PAIRED_MODELS)
    return [f"Paired bootstrap over test inputs ({BOOTSTRAP_RESAMPLES} resamples), sampling, {names}: "
            + "; ".join(parts) + "."]


def settings_differences(run: Path, preset: str, task: str, changes: Optional[dict] = None) -> list[str]:
    """``field=value`` for every config field of ``run`` that differs from the paper's setting of
    ``preset`` (plus ``changes``); empty when the run used the paper's settings."""
    stored = _read_json(run / "config.json") or {}
    expected = get_config(preset, task, **(changes or {})).to_dict()
    return [f"{field}={stored[field]!r}" for field in config_differences(stored, expected) if field in stored]


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
        results = _read_json(root / run_name / "test_metrics.json")
        ours = (results or {}).get(inference)
        label = f"{name} | {'MAP' if inference == 'map' else 'Sampling'}"
        if paper is not None:
            lines.append(f"| {label} | paper | " + " | ".join(_cell(m, paper[m]) for m in METRICS) + " |")
        if ours is None:
            missing.append(run_name)
            lines.append(f"| {label} | ours | " + " | ".join("not run" for _ in METRICS) + " |")
            continue
        runs = len(results.get("sample_runs", [])) if inference == "sample" else 0
        differences = settings_differences(root / run_name, preset, spec["task"], changes)
        if differences:
            off_paper[run_name] = differences
        lines.append(f"| {label} | ours (epoch {results['checkpoint_epoch']}"
                     + (f", mean of {runs} runs" if runs > 1 else "")
                     + (f"; NOT the paper's settings: {', '.join(differences)}" if differences else "") + ") | "
                     + " | ".join(_cell(m, ours.get(m)) for m in METRICS) + " |")
        if inference == "sample":
            scores = _sampling_scores(root / run_name)
            if scores is not None:
                intervals = {m: bootstrap_interval(scores, m, BOOTSTRAP_RESAMPLES) for m in INTERVAL_METRICS}
                lines.append(f"| {label} | ours, 95% interval | "
                             + " | ".join(_interval_cell(m, intervals.get(m)) for m in METRICS) + " |")
        if paper is not None:
            deltas = [None if paper[m] is None or ours.get(m) is None else ours[m] - paper[m] for m in METRICS]
            lines.append(f"| {label} | ours − paper | " + " | ".join(_cell(m, d, signed=True) for m, d in zip(METRICS, deltas)) + " |")
    if off_paper:
        lines[0] += " — some rows NOT with the paper's settings"
    lines += _length_table(root, {run_name: name for run_name, _, _, _, name, _ in rows})
    notes = []
    if missing:
        notes.append(f"Not run yet: {', '.join(dict.fromkeys(missing))}.")
    notes.append("Ours: sampling rows score 10 samples per test input (BLEU over all samples; diversity pools each "
                 "input's samples) and average the sampling runs (seeds), as the paper averages 3. Intervals: 95% "
                 f"percentile bootstrap over test inputs ({BOOTSTRAP_RESAMPLES} resamples), from the committed "
                 "`test_outputs.jsonl.gz`.")
    for run_name, (preset, label, changes) in spec["extra"].items():
        flags = " ".join(f"--{field}={value}" for field, value in changes.items())
        notes.append(f"{label}: the {NAMES[preset]} preset with `{flags}`." if changes else
                     f"{label}: the `{preset}` preset.")
    notes += _paired_note(root)
    lines += [""] + ["\n\n".join(notes)]
    return "\n".join(lines) + "\n"


def _length_table(root: Path, labels: dict[str, str]) -> list[str]:
    """Lines of a table of output lengths and BLEU's brevity penalty, MAP and sampling, for every
    run in ``labels`` (run name -> label) with test outputs; empty when none has them."""
    rows, reference_length = [], None
    for run_name, label in labels.items():
        scores = _run_scores(root / run_name)
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
                      f"{np.mean(brevity_penalty(per_run)):.3f}"]
        else:
            cells += ["–", "–"]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    return ["", f"Output length (tokens per output as scored, mean over test inputs; the references: "
                f"{reference_length:.2f}) and BLEU's brevity penalty (1 when the outputs are longer in total "
                "than the references, else exp(1 − r / c)); the paper reports neither:", "",
            "| Model | MAP length | MAP brevity penalty | Sampling length | Sampling brevity penalty |",
            "| --- | ---: | ---: | ---: | ---: |", *rows]


def _plot(rows, path: Path) -> None:
    """``rows``: one ``(xlabel, log_x, panels)`` per figure row; ``panels[metric]`` = ``[(label, xs, ys)]``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(rows), len(CURVE_METRICS), figsize=(4 * len(CURVE_METRICS) + 2, 3.4 * len(rows)),
                                squeeze=False)
    for row_axes, (xlabel, log_x, panels) in zip(axes, rows):
        for axis, (metric, title) in zip(row_axes, CURVE_METRICS):
            for label, xs, ys in panels[metric]:
                axis.plot(xs, ys, marker="o", label=label)
            axis.set_title(title)
            axis.set_xlabel(xlabel)
            if log_x:
                axis.set_xscale("log")
            axis.grid(alpha=0.3)
        handles, labels = row_axes[0].get_legend_handles_labels()
        if handles:
            row_axes[-1].legend(handles, labels, fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5),
                                frameon=False)  # beside the row, never over the curves
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _curves(history: list[dict]) -> dict:
    """Per curve metric: the epochs and values of the validation metric in ``history``."""
    curves = {}
    for metric, _ in CURVE_METRICS:
        points = [(e["epoch"], e[f"val_{metric}"]) for e in history if e.get(f"val_{metric}") is not None]
        curves[metric] = ([x for x, _ in points], [y for _, y in points])
    return curves


def plot_figure4(runs_root: os.PathLike, path: os.PathLike, task: str = "qgen") -> list[str]:
    """Validation BLEU-2, BLEU-4, entropy and Dist-1 per epoch, one line per model; returns the models drawn."""
    panels, drawn = {m: [] for m, _ in CURVE_METRICS}, []
    for preset in table_presets("table2"):
        history = _read_json(Path(runs_root) / task / preset / "history.json")
        if not history:
            continue
        drawn.append(preset)
        for metric, (xs, ys) in _curves(history).items():
            panels[metric].append((NAMES[preset], xs, ys))
    _plot([("epoch", False, panels)], Path(path))
    return drawn


def gamma_runs(runs_root: os.PathLike, task: str = "qgen") -> dict[float, Path]:
    """Runs of VED+VAttn-h̄ by gamma_a: ``<root>/<task>/gamma_a/<value>``, and the Table 2 run
    ``<root>/<task>/ved_vattn_mean`` at its own gamma_a (so it is not trained twice)."""
    runs = {}
    table_run = Path(runs_root) / task / "ved_vattn_mean"
    config = _read_json(table_run / "config.json")
    if config is not None and (table_run / "history.json").is_file():
        runs[float(config["gamma_a"])] = table_run
    folder = Path(runs_root) / task / "gamma_a"
    for run in sorted(folder.glob("*")) if folder.is_dir() else []:
        try:
            gamma = float(run.name)
        except ValueError:
            continue
        if gamma in runs:
            raise ValueError(f"{run} and {runs[gamma]} both train gamma_a = {gamma}; keep one of them.")
        runs[gamma] = run
    return dict(sorted(runs.items()))


def plot_figure5(runs_root: os.PathLike, path: os.PathLike, task: str = "qgen") -> list[float]:
    """VED+VAttn-h̄ for each gamma_a: the four validation metrics per epoch, one line per gamma_a (the
    paper's Figure 5), and below them each metric at the last common epoch against gamma_a. With
    fewer than two gamma_a runs there is nothing to compare: no figure is written (and an old one
    is removed). Returns the gamma_a values drawn."""
    curves = {}
    for gamma, run in gamma_runs(runs_root, task).items():
        history = _read_json(run / "history.json")
        if history:
            curves[gamma] = (history, _curves(history))
    if len(curves) < 2:
        Path(path).unlink(missing_ok=True)
        return []
    panels = {m: [(f"gamma_a = {gamma:g}", *curve[m]) for gamma, (_, curve) in curves.items()] for m, _ in CURVE_METRICS}
    last = min(len(history) for history, _ in curves.values())
    points = {m: [] for m, _ in CURVE_METRICS}
    for gamma, (history, _) in curves.items():
        for metric, _ in CURVE_METRICS:
            points[metric].append((gamma, history[last - 1].get(f"val_{metric}", math.nan)))
    rows = [("epoch", False, panels),
            (f"gamma_a (epoch {last})", True,
             {m: [(NAMES["ved_vattn_mean"], [x for x, _ in p], [y for _, y in p])] for m, p in points.items()})]
    _plot(rows, Path(path))
    return list(curves)


# The case study (Table 3): the paper's two sources, found by a phrase (the row with the paper's
# reference when the test set pairs the source with several questions), and three fixed test inputs.
CASE_STUDY_PHRASES = {
    "the british forces evacuated at the close of the war in 1783": "in what year did the american revolutionary war end ?",
    "more than 200000 people were evacuated from mianyang": "how many people were evacuated downstream ?",
}
CASE_STUDY_INDICES = (0, 4000, 8000)
CASE_STUDY_MODELS = ("ved_dattn", "ved_vattn_mean")


def render_case_study(runs_root: os.PathLike, task: str = "qgen", samples: int = 3) -> str:
    """Markdown: for each case input, its source and reference, then ``samples`` samples (first
    sampling run) and the MAP output of each model, read from the runs' ``test_outputs.jsonl.gz``."""
    outputs = {}
    for preset in CASE_STUDY_MODELS:
        path = Path(runs_root) / task / preset / "test_outputs.jsonl.gz"
        if path.is_file():
            outputs[preset] = SplitOutputs.read(path)
    lines = ["# Case study (Table 3): question generation, test inputs", ""]
    if not outputs:
        return "\n".join(lines + [f"No test outputs yet for {', '.join(CASE_STUDY_MODELS)}.", ""])
    first = next(iter(outputs.values()))
    cases, absent = [], []
    for phrase, paper_reference in CASE_STUDY_PHRASES.items():
        found = [i for i, source in enumerate(first.sources) if phrase in source]
        if found:
            same = [i for i in found if " ".join(first.references[i]) == paper_reference]
            cases.append(((same or found)[0], "paper's Table 3" + ("" if same else "; our test set pairs it with another question")))
        else:
            absent.append(phrase)
    cases += [(index, "fixed test input") for index in CASE_STUDY_INDICES if index < len(first.sources)]
    lines.append(f"{samples} samples from the first sampling run (seed 0) and the MAP output of each model; "
                 "the first two sources are the paper's.")
    missing = [NAMES[preset] for preset in CASE_STUDY_MODELS if preset not in outputs]
    if missing:
        lines += ["", f"No test outputs yet for {', '.join(missing)} (its run predates the kept outputs)."]
    if absent:
        lines += ["", "Not among these test outputs: " + "; ".join(f"the source containing {p!r}" for p in absent) + "."]
    for index, why in cases:
        lines += ["", f"## Test input {index} ({why})", "", f"Source: {first.sources[index]}", "",
                  f"Reference: {' '.join(first.references[index])}"]
        for preset, run in outputs.items():
            lines += ["", f"{NAMES[preset]}:", ""]
            lines += [f"- {' '.join(sample)}" for sample in (run.samples[0][index][:samples] if run.samples else [])]
            lines.append(f"- MAP: {' '.join(run.map[index])}")
    return "\n".join(lines) + "\n"


def _metrics(root: Path, run: str, inference: str) -> Optional[dict]:
    return ((_read_json(root / run / "test_metrics.json") or {}).get(inference))


def _compare(ours: dict, other: dict, metrics) -> str:
    return ", ".join(f"{HEADERS[m]} {_cell(m, ours[m])} vs {_cell(m, other[m])}" for m in metrics)


def render_claims(runs_root: os.PathLike) -> str:
    """Markdown: each of the paper's claims checked against our test numbers (holds / does not
    hold / not run yet), and every cell of ours more than 10% away from the paper's."""
    root = Path(runs_root)
    qgen, dialogue = root / "qgen", root / "dialogue"
    diversity = ("entropy", "dist1", "dist2")
    lines = ["# The paper's claims in our numbers", "",
             "Generated by `./reproduce.sh tables` from the committed test metrics; sampling rows unless said.", ""]

    def claim(text: str, verdict: Optional[bool], evidence: str) -> None:
        status = "not run yet" if verdict is None else ("holds" if verdict else "does NOT hold")
        lines.append(f"- **{status}**: {text}" + (f" ({evidence})" if evidence else ""))

    def higher_diversity_similar_bleu(task_root: Path, task: str) -> None:
        vattn, dattn = _metrics(task_root, "ved_vattn_mean", "sample"), _metrics(task_root, "ved_dattn", "sample")
        text = f"{task}: variational attention gives higher entropy, Dist-1 and Dist-2 than deterministic attention " \
               "at similar BLEU (VED+VAttn-h̄ vs VED+DAttn; similar: BLEU-2 within 10%)"
        if vattn is None or dattn is None:
            claim(text, None, "")
            return
        verdict = all(vattn[m] > dattn[m] for m in diversity) and abs(vattn["bleu2"] - dattn["bleu2"]) <= 0.1 * dattn["bleu2"]
        claim(text, verdict, _compare(vattn, dattn, ("bleu2", *diversity)))

    higher_diversity_similar_bleu(qgen, "Table 2")
    zero, mean = _metrics(qgen, "ved_vattn_zero", "sample"), _metrics(qgen, "ved_vattn_mean", "sample")
    text = "Table 2: VED+VAttn-0 has slightly lower BLEU and higher diversity than VED+VAttn-h̄"
    if zero is None or mean is None:
        claim(text, None, "")
    else:
        claim(text, zero["bleu4"] <= mean["bleu4"] and all(zero[m] >= mean[m] for m in diversity),
              _compare(zero, mean, ("bleu4", *diversity)))
    stage, attention = _metrics(qgen, "ved_dattn_2stage", "sample"), mean
    text = "Table 2: 2-stage training is worse than variational attention in all BLEU and diversity metrics"
    if stage is None or attention is None:
        claim(text, None, "")
    else:
        claim(text, all(stage[m] < attention[m] for m in METRICS), _compare(stage, attention, METRICS))
    plain, attended = _metrics(qgen, "ded", "map"), _metrics(qgen, "ded_dattn", "map")
    text = "Table 2: attention helps the deterministic model (DED+DAttn above DED in every BLEU, MAP)"
    if plain is None or attended is None:
        claim(text, None, "")
    else:
        bleus = ("bleu1", "bleu2", "bleu3", "bleu4")
        claim(text, all(attended[m] > plain[m] for m in bleus), _compare(attended, plain, bleus))
    higher_diversity_similar_bleu(dialogue, "Table 4")
    gammas = {}
    for gamma, run in gamma_runs(root).items():
        history = _read_json(run / "history.json")
        if history:
            gammas[gamma] = history
    text = "Figure 5: a lower gamma_a gives higher BLEU and lower diversity (validation, last common epoch)"
    if len(gammas) < 2:
        claim(text, None, "")
    else:
        last = min(len(h) for h in gammas.values())
        ordered = [gammas[g][last - 1] for g in sorted(gammas)]
        verdict = all(a["val_bleu4"] >= b["val_bleu4"] and a["val_entropy"] <= b["val_entropy"]
                      for a, b in zip(ordered, ordered[1:]))
        evidence = "; ".join(f"gamma_a {g:g}: BLEU-4 {gammas[g][last - 1]['val_bleu4']:.2f}, "
                             f"entropy {gammas[g][last - 1]['val_entropy']:.3f}" for g in sorted(gammas))
        claim(text, verdict, evidence)
    lines += ["", "## Cells more than 10% away from the paper", ""]
    far = []
    for table, spec in TABLES.items():
        for (preset, inference), values in spec["paper"].items():
            ours = _metrics(root / spec["task"], preset, inference)
            for metric, paper in zip(METRICS, values):
                if ours and paper and ours.get(metric) is not None and abs(ours[metric] - paper) > 0.1 * abs(paper):
                    far.append(f"- {table}, {NAMES[preset]}, {'MAP' if inference == 'map' else 'sampling'}, "
                               f"{HEADERS[metric]}: ours {_cell(metric, ours[metric])}, paper {_cell(metric, paper)} "
                               f"({100 * (ours[metric] - paper) / paper:+.0f}%)")
    lines += far or ["None among the runs so far."]
    return "\n".join(lines) + "\n"


def _run_label(run: Path, task_root: Path) -> str:
    name = run.relative_to(task_root).as_posix()
    if name in NAMES:
        return NAMES[name]
    extra = EXTRA_TABLE2.get(name)
    if extra:
        return extra[1]
    if name.startswith("gamma_a/"):
        return f"VED+VAttn-h̄, gamma_a = {name.split('/', 1)[1]}"
    folder, _, preset = name.partition("/")
    if folder == RETRAIN_FOLDER and preset in NAMES:  # the same model trained again (its checkpoints were gone)
        return f"{NAMES[preset]}, retrained"
    return name


def render_bypass(runs_root: os.PathLike) -> str:
    """``bypass.md``: for every run with a ``test_diagnostics.json`` (``evaluate.py``), the latent
    diagnostics and the bypass probe: greedy BLEU-4 with the posterior means, with z from its prior
    and with the attention from its prior, and the BLEU-4 each prior draw costs."""
    root = Path(runs_root)
    lines = ["# Bypassing, measured (Sec. 2.4)", "",
             "Greedy decoding of the test set with the latents at their posterior means (MAP), then with z drawn "
             "from its prior N(0, I), then with every attention step drawn from its prior (N(0, I) or N(h̄, I); "
             "the symmetric Dirichlet), everything else unchanged. A small BLEU-4 gap means the decoder ignores that "
             "latent. KL per target token, active units of z (variance of the posterior mean across inputs > 0.01) "
             "and I(x; z) (nats, aggregate posterior of the pairs) on the first test pairs. Written by "
             "`experiments/evaluate.py` (`test_diagnostics.json`), rendered by `experiments/make_tables.py`.", ""]
    header = ("| Task | Model | Epoch | KL_z / token | KL_att / token | Active units | I(x; z) | BLEU-4 MAP | "
              "z from prior | gap | attention from prior | gap |")
    rows = []
    for path in sorted(root.glob("*/**/test_diagnostics.json")):
        run = path.parent
        task_root = root / run.relative_to(root).parts[0]
        report = _read_json(path)
        latents, bypass = report["latents"], report["bypass"]

        def bleu(mode):
            return _cell("bleu4", bypass[mode]["bleu4"]) if mode in bypass else "–"

        def gap(mode):
            return _cell("bleu4", bypass[f"gap_{mode}"], signed=True) if f"gap_{mode}" in bypass else "–"

        has_z, has_random_attention = _latents_of(run)  # a DED has neither: "–", not 0
        z_cells = (f"{latents['kl_z_per_token']:.3f}", f"{latents['active_units']}",
                   f"{latents['mutual_information']:.3f}") if has_z else ("–", "–", "–")
        attention_cell = f"{latents['kl_attention_per_token']:.3f}" if has_random_attention else "–"
        rows.append(f"| {task_root.name} | {_run_label(run, task_root)} | {report['checkpoint_epoch']} | "
                    f"{z_cells[0]} | {attention_cell} | {z_cells[1]} | {z_cells[2]} | {bleu('map')} | "
                    f"{bleu('z_prior')} | {gap('z_prior')} | {bleu('attention_prior')} | {gap('attention_prior')} |")
    table = [header, "|" + " --- |" * 3 + " ---: |" * 9] + rows if rows else [
        "No run has a test_diagnostics.json yet (run experiments/evaluate.py)."]
    return "\n".join(lines + table + _runs_without_diagnostics(root)) + "\n"


def _latents_of(run: Path) -> tuple[bool, bool]:
    """Whether the run's model has z, and whether its attention is random (from its config.json)."""
    config = _read_json(run / "config.json") or {}
    return config.get("variational", True), config.get("attention", "variational") in RANDOM_ATTENTIONS


def _runs_without_diagnostics(root: Path) -> list[str]:
    """Lines naming the evaluated runs that have no ``test_diagnostics.json``: those without a
    latent variable (nothing to bypass) and those whose checkpoints were gone when the
    diagnostics came."""
    no_latent, missing = [], []
    for path in sorted(root.glob("*/**/test_metrics.json")):
        run = path.parent
        if (run / "test_diagnostics.json").is_file():
            continue
        task_root = root / run.relative_to(root).parts[0]
        label = f"{task_root.name} {_run_label(run, task_root)}"
        (missing if _latents_of(run)[0] else no_latent).append(label)
    lines = []
    if no_latent:
        lines.append(f"No latent variable, nothing to bypass: {', '.join(no_latent)}.")
    if missing:
        lines.append(f"Not measured (evaluated before the diagnostics existed, checkpoints gone; a retrained run "
                     f"writes them at evaluation): {', '.join(missing)}.")
    return [""] + lines if lines else []


def plot_attention(panels: list[tuple], path: os.PathLike,
                   title: str = "") -> None:
    """One row per model: the attention weights (target step x source token) and, where the model
    has them, the per-step sigma_a of the Gaussian attention vector (target step x dimension, with
    its mean over dimensions beside). ``panels``: ``(label, source tokens, output tokens, weights
    [steps, S], sigma [steps, D])``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_sigma = any(sigma.shape[1] for *_, sigma in panels)
    columns = 3 if has_sigma else 1
    width = max(6.0, 0.35 * max(len(source) for _, source, *_ in panels) + 2.5)
    figure, axes = plt.subplots(len(panels), columns, squeeze=False,
                                figsize=(width + (9 if has_sigma else 0), 0.32 * max(len(o) for _, _, o, *_ in panels) * len(panels) + 2.5 * len(panels)),
                                gridspec_kw={"width_ratios": [width, 6, 1.6][:columns]})
    for row, (label, source, output, weights, sigma) in zip(axes, panels):
        image = row[0].imshow(weights, aspect="auto", cmap="Greys", vmin=0.0, vmax=1.0)
        row[0].set_xticks(range(len(source)), source, rotation=90, fontsize=8)
        row[0].set_yticks(range(len(output)), output, fontsize=8)
        row[0].set_title(f"{label}: attention weights", fontsize=9)
        figure.colorbar(image, ax=row[0], fraction=0.03)
        if not has_sigma:
            continue
        if sigma.shape[1]:
            image = row[1].imshow(sigma, aspect="auto", cmap="viridis")
            row[1].set_yticks(range(len(output)), output, fontsize=8)
            row[1].set_xlabel("dimension of the attention vector", fontsize=8)
            row[1].set_title(f"{label}: sigma_a per step", fontsize=9)
            figure.colorbar(image, ax=row[1], fraction=0.03)
            row[2].barh(range(len(output)), sigma.mean(axis=1), color="tab:green")
            row[2].set_ylim(len(output) - 0.5, -0.5)
            row[2].set_yticks(range(len(output)), [""] * len(output))
            row[2].set_title("mean sigma_a", fontsize=9)
        else:
            for axis in row[1:]:
                axis.axis("off")
            row[1].text(0.5, 0.5, "no Gaussian attention:\nno sigma_a", ha="center", va="center", fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
