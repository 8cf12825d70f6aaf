"""Figures 4 and 5 (validation curves from the runs' histories), the latent diagnostics per epoch
(Sec. 2.4) and the picture of one input's attention (weights and sigma_a per decoding step)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Optional

from tf_varattn.attention_registry import ATTENTION_POSTERIORS
from tf_varattn.reporting.paper import LATENT_STUDY, NAMES, table_presets
from tf_varattn.reporting.publish import publish_figure
from tf_varattn.reporting.run_files import gamma_runs, latents_of, read_json, run_label
from tf_varattn.reporting.seeds import SEED_FOLDER, runs_by_seed, seed_histories


CURVE_METRICS = (("bleu2", "BLEU-2"), ("bleu4", "BLEU-4"), ("entropy", "Entropy"), ("dist1", "Dist-1"))
# The latent diagnostics that training records after every epoch (tf_varattn.diagnostics).
LATENT_METRICS = (("mutual_information", "I(x; z), nats"), ("active_units", "Active units of z"),
                  ("kl_z_per_token", "KL_z per token"), ("kl_attention_per_token", "KL_att per token"))


def plot_curve_rows(rows, path: Path, metrics=CURVE_METRICS, log_y=(), runs=(), runs_root=None, log=print,
                    colors: Optional[dict] = None) -> None:
    """``rows``: one ``(xlabel, log_x, panels)`` per figure row; ``panels[metric]`` = ``[(label, xs, ys)]``
    or ``[(label, xs, ys, (band_xs, lows, highs))]`` (a shaded band in the line's colour) for each
    ``(metric, title)`` of ``metrics``; the metrics in ``log_y`` on a log scale. ``colors``: a colour per
    line label, the same in every row (default: a row's lines take the colour cycle in order). Published
    with the ``runs`` behind it (:func:`~tf_varattn.reporting.publish.publish_figure`: never over a
    figure standing on more runs); what happened goes to ``log``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(rows), len(metrics), figsize=(4 * len(metrics) + 2, 3.4 * len(rows)),
                                squeeze=False)
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row_axes, (xlabel, log_x, panels) in zip(axes, rows):
        row_colors = {**_line_colors(panels, metrics, cycle), **(colors or {})}
        for axis, (metric, title) in zip(row_axes, metrics):
            for label, xs, ys, *band in panels[metric]:
                axis.plot(xs, ys, marker="o", label=label, color=row_colors[label])
                if band:
                    axis.fill_between(*band[0], color=row_colors[label], alpha=0.15, linewidth=0)
            axis.set_title(title)
            axis.set_xlabel(xlabel)
            if log_x:
                axis.set_xscale("log")
            if metric in log_y:
                axis.set_yscale("log")
            axis.grid(alpha=0.3)
        handles, labels = row_axes[0].get_legend_handles_labels()
        if handles:
            row_axes[-1].legend(handles, labels, fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5),
                                frameon=False)  # beside the row, never over the curves
    figure.tight_layout()
    log(publish_figure(figure, path, runs, runs_root))
    plt.close(figure)


def _line_colors(panels, metrics, cycle) -> dict:
    """One colour per line label of a figure row, the same in each of its panels (also where a panel
    leaves a line out), in the order the labels first appear."""
    colors = {}
    for metric, _ in metrics:
        for label, *_ in panels[metric]:
            colors.setdefault(label, cycle[len(colors) % len(cycle)])
    return colors


def _curves(history: list[dict], metrics=CURVE_METRICS) -> dict:
    """Per metric: the epochs and values of the validation metric in ``history``."""
    curves = {}
    for metric, _ in metrics:
        points = [(e["epoch"], e[f"val_{metric}"]) for e in history if e.get(f"val_{metric}") is not None]
        curves[metric] = ([x for x, _ in points], [y for _, y in points])
    return curves


def seed_band(histories: list[list[dict]], metric: str) -> tuple[list[int], list[float], list[float]]:
    """The lowest and highest validation ``metric`` over the training runs ``histories`` at every
    epoch that at least two of them reached: ``(epochs, lows, highs)``."""
    values = {}
    for history in histories:
        for epoch, value in zip(*_curves(history, ((metric, ""),))[metric]):
            values.setdefault(epoch, []).append(value)
    epochs = sorted(epoch for epoch, found in values.items() if len(found) >= 2)
    return epochs, [min(values[e]) for e in epochs], [max(values[e]) for e in epochs]


def plot_figure4(runs_root: os.PathLike, path: os.PathLike, task: str = "qgen", log: Callable = print) -> list[str]:
    """Validation BLEU-2, BLEU-4, entropy and Dist-1 per epoch, one line per model (the table's run);
    a model trained with several seeds gets a shaded band from the lowest to the highest run at each
    epoch, and its label says how many seeds. Without any run nothing is drawn (an old figure is
    kept). Returns the models drawn."""
    panels, drawn, runs = {m: [] for m, _ in CURVE_METRICS}, [], []
    for preset in table_presets("table2"):
        history = read_json(Path(runs_root) / task / preset / "history.json")
        if not history:
            continue
        drawn.append(preset)
        runs.append(Path(runs_root) / task / preset)
        runs += runs_by_seed(Path(runs_root) / task, preset, "history.json").values()
        seeds = seed_histories(Path(runs_root) / task, preset)
        label = NAMES[preset] + (f" (band: {len(seeds)} seeds)" if len(seeds) >= 2 else "")
        for metric, (xs, ys) in _curves(history).items():
            band = (seed_band(list(seeds.values()), metric),) if len(seeds) >= 2 else ()
            panels[metric].append((label, xs, ys, *band))
    if not drawn:
        log(f"{path} not drawn: no {task} run of a Table 2 model under {runs_root}.")
        return []
    plot_curve_rows([("epoch", False, panels)], Path(path), runs=runs, runs_root=runs_root, log=log)
    return drawn


def plot_figure5(runs_root: os.PathLike, path: os.PathLike, task: str = "qgen", log: Callable = print) -> list[float]:
    """VED+VAttn-h̄ for each gamma_a: the four validation metrics per epoch, one line per gamma_a (the
    paper's Figure 5), and below them each metric at the last common epoch against gamma_a. With
    fewer than two gamma_a runs there is nothing to compare: no figure is drawn (an old one is
    kept). Returns the gamma_a values drawn."""
    curves, runs = {}, []
    for gamma, run in gamma_runs(runs_root, task).items():
        history = read_json(run / "history.json")
        if history:
            curves[gamma] = (history, _curves(history))
            runs.append(run)
    if len(curves) < 2:
        log(f"{path} not drawn: it compares gamma_a values and fewer than two runs are under {runs_root} "
            "(`./reproduce.sh figure5` trains them).")
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
    plot_curve_rows(rows, Path(path), runs=runs, runs_root=runs_root, log=log)
    return list(curves)


def plot_latent_curves(runs_root: os.PathLike, path: os.PathLike, task: str = "qgen", log: Callable = print) -> list[str]:
    """Which latent the decoder uses, per epoch (Sec. 2.4): I(x; z), active units of z, KL_z and
    KL_att per token on the validation pairs, one line per run of ``task`` (other seeds' runs left
    out) with a latent z whose history records them (KL_att only where the attention is random). Without such a run no figure
    is drawn (an old one is kept). Returns the runs drawn, by label."""
    task_root = Path(runs_root) / task
    panels, drawn, runs = {m: [] for m, _ in LATENT_METRICS}, [], []
    for history_path in sorted(task_root.glob("**/history.json")):
        run, curves = history_path.parent, _curves(read_json(history_path), LATENT_METRICS)
        if run.parent.name == SEED_FOLDER:  # other seeds of a model: its spread is Figure 4's band
            continue
        if run.parent.name == LATENT_STUDY["folder"]:  # the collapse study has its own figure (reporting/latents.py)
            continue
        has_z, has_random_attention = latents_of(run)
        if not has_z or not curves["mutual_information"][0]:  # no z, or a history from before the diagnostics
            continue
        label = run_label(run, task_root)
        drawn.append(label)
        runs.append(run)
        for metric, (xs, ys) in curves.items():
            if metric != "kl_attention_per_token" or has_random_attention:
                panels[metric].append((label, xs, ys))
    if not drawn:
        log(f"{path} not drawn: no {task} run with a latent z records the diagnostics in its history.json.")
        return []
    plot_curve_rows([("epoch", False, panels)], Path(path), LATENT_METRICS,
                    log_y=("kl_z_per_token", "kl_attention_per_token"), runs=runs, runs_root=runs_root, log=log)
    return drawn


def plot_attention(panels: list[tuple], path: os.PathLike,
                   title: str = "") -> None:
    """One row per model: the attention weights (target step x source token) and, where the
    attention is random, the posterior's standard deviation of each step, with its mean beside:
    sigma_a of the Gaussian attention vector (target step x dimension) or each Dirichlet weight's
    (target step x source token). ``panels``: ``(label, source tokens, output tokens, weights
    [steps, S], sigma [steps, D or S or 0], attention)``, ``attention`` the model's attention kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_sigma = any(panel[4].shape[1] for panel in panels)
    columns = 3 if has_sigma else 1
    width = max(6.0, 0.35 * max(len(source) for _, source, *_ in panels) + 2.5)
    figure, axes = plt.subplots(len(panels), columns, squeeze=False,
                                figsize=(width + (9 if has_sigma else 0), 0.32 * max(len(o) for _, _, o, *_ in panels) * len(panels) + 2.5 * len(panels)),
                                gridspec_kw={"width_ratios": [width, 6, 1.6][:columns]})
    for row, (label, source, output, weights, sigma, attention) in zip(axes, panels):
        over_weights = ATTENTION_POSTERIORS[attention].draws == "weights"  # else the context vector a_j
        image = row[0].imshow(weights, aspect="auto", cmap="Greys", vmin=0.0, vmax=1.0)
        row[0].set_xticks(range(len(source)), source, rotation=90, fontsize=8)
        row[0].set_yticks(range(len(output)), output, fontsize=8)
        row[0].set_title(f"{label}: attention weights" + (" (posterior mean)" if over_weights else ""),
                         fontsize=9)
        figure.colorbar(image, ax=row[0], fraction=0.03)
        if not has_sigma:
            continue
        if sigma.shape[1]:
            name = "std of each weight" if over_weights else "sigma_a"
            image = row[1].imshow(sigma, aspect="auto", cmap="viridis")
            row[1].set_yticks(range(len(output)), output, fontsize=8)
            if over_weights:
                row[1].set_xticks(range(len(source)), source, rotation=90, fontsize=8)
            else:
                row[1].set_xlabel("dimension of the attention vector", fontsize=8)
            row[1].set_title(f"{label}: {name} per step", fontsize=9)
            figure.colorbar(image, ax=row[1], fraction=0.03)
            row[2].barh(range(len(output)), sigma.mean(axis=1), color="tab:green")
            row[2].set_ylim(len(output) - 0.5, -0.5)
            row[2].set_yticks(range(len(output)), [""] * len(output))
            row[2].set_title("mean std of a weight" if over_weights else "mean sigma_a", fontsize=9)
        else:
            for axis in row[1:]:
                axis.axis("off")
            row[1].text(0.5, 0.5, "deterministic attention:\nno posterior to draw from", ha="center", va="center",
                        fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
