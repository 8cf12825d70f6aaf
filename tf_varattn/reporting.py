"""Tables 2 and 4 (paper vs. ours) and Figures 4 and 5 from the runs' JSON files."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Optional

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
TABLES = {
    "table2": {"task": "qgen", "paper": PAPER_TABLE2, "metrics": METRICS,
               "title": "Table 2: question generation (SQuAD, Du et al. split), test set"},
    "table4": {"task": "dialogue", "paper": PAPER_TABLE4, "metrics": ("bleu2", "entropy", "dist1", "dist2"),
               "title": "Table 4: dialogue (Cornell Movie-Dialogs), test set"},
}
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


def render_table(table: str, runs_root: os.PathLike) -> str:
    """Markdown with, for each model and inference, the paper's row, ours and ours - paper."""
    spec = TABLES[table]
    metrics, root = spec["metrics"], Path(runs_root) / spec["task"]
    lines = [f"# {spec['title']}", "",
             "| Model | Inference | Row | " + " | ".join(HEADERS[m] for m in metrics) + " |",
             "| --- | --- | --- | " + " | ".join("---:" for _ in metrics) + " |"]
    missing = []
    for (preset, inference), paper_values in spec["paper"].items():
        paper = dict(zip(METRICS, paper_values))
        results = _read_json(root / preset / "test_metrics.json")
        ours = (results or {}).get(inference)
        label = f"{NAMES[preset]} | {'MAP' if inference == 'map' else 'Sampling'}"
        lines.append(f"| {label} | paper | " + " | ".join(_cell(m, paper[m]) for m in metrics) + " |")
        if ours is None:
            missing.append(preset)
            lines.append(f"| {label} | ours | " + " | ".join("not run" for _ in metrics) + " |")
            continue
        lines.append(f"| {label} | ours (epoch {results['checkpoint_epoch']}) | "
                     + " | ".join(_cell(m, ours.get(m)) for m in metrics) + " |")
        deltas = [None if paper[m] is None or ours.get(m) is None else ours[m] - paper[m] for m in metrics]
        lines.append(f"| {label} | ours − paper | " + " | ".join(_cell(m, d, signed=True) for m, d in zip(metrics, deltas)) + " |")
    lines.append("")
    if missing:
        lines.append(f"Not run yet: {', '.join(dict.fromkeys(missing))} (`./reproduce.sh {table}` trains and evaluates them).")
    lines.append("Ours: sampling rows average BLEU over 10 samples per test input; diversity pools each input's 10 samples.")
    return "\n".join(lines) + "\n"


def _plot(panels, path: Path, xlabel: str, log_x: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(CURVE_METRICS), figsize=(4 * len(CURVE_METRICS), 3.4))
    for axis, (metric, title) in zip(axes, CURVE_METRICS):
        for label, xs, ys in panels[metric]:
            axis.plot(xs, ys, marker="o", label=label)
        axis.set_title(title)
        axis.set_xlabel(xlabel)
        if log_x:
            axis.set_xscale("log")
        axis.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False)
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_figure4(runs_root: os.PathLike, path: os.PathLike, task: str = "qgen") -> list[str]:
    """Validation BLEU-2, BLEU-4, entropy and Dist-1 per epoch, one line per model; returns the models drawn."""
    panels, drawn = {m: [] for m, _ in CURVE_METRICS}, []
    for preset in table_presets("table2"):
        history = _read_json(Path(runs_root) / task / preset / "history.json")
        if not history:
            continue
        drawn.append(preset)
        for metric, _ in CURVE_METRICS:
            points = [(e["epoch"], e.get(f"val_{metric}")) for e in history if e.get(f"val_{metric}") is not None]
            panels[metric].append((NAMES[preset], [x for x, _ in points], [y for _, y in points]))
    _plot(panels, Path(path), "epoch")
    return drawn


def gamma_runs(runs_root: os.PathLike, task: str = "qgen") -> dict[float, Path]:
    """Run directories of the gamma_a sweep: ``<root>/<task>/gamma_a/<value>``."""
    folder = Path(runs_root) / task / "gamma_a"
    runs = {}
    for run in sorted(folder.glob("*")) if folder.is_dir() else []:
        try:
            runs[float(run.name)] = run
        except ValueError:
            continue
    return dict(sorted(runs.items()))


def plot_figure5(runs_root: os.PathLike, path: os.PathLike, task: str = "qgen", epoch: Optional[int] = None) -> list[float]:
    """The four validation metrics against gamma_a (VED+VAttn-h̄), at ``epoch`` (default: each run's last)."""
    panels, drawn = {m: [] for m, _ in CURVE_METRICS}, []
    points = {m: [] for m, _ in CURVE_METRICS}
    for gamma, run in gamma_runs(runs_root, task).items():
        history = _read_json(run / "history.json")
        if not history:
            continue
        entries = [e for e in history if epoch is None or e["epoch"] == epoch]
        if not entries:
            continue
        drawn.append(gamma)
        for metric, _ in CURVE_METRICS:
            points[metric].append((gamma, entries[-1].get(f"val_{metric}", math.nan)))
    for metric, _ in CURVE_METRICS:
        panels[metric].append((NAMES["ved_vattn_mean"], [x for x, _ in points[metric]], [y for _, y in points[metric]]))
    _plot(panels, Path(path), "gamma_a", log_x=True)
    return drawn
