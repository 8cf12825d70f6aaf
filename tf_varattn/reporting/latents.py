"""``latents.md``, ``latents-study.png`` and ``latents-study-curves.png``: does z carry anything? The
collapse study's runs (each attention with each remedy for a collapsed z,
``<task>/latents/<preset>-<remedy>``), their latents, likelihood and where their diversity comes
from, how their latents evolve in training; and the likelihood of every other run that has one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from tf_varattn.reporting.figures import plot_curve_rows
from tf_varattn.reporting.publish import publish_figure
from tf_varattn.reporting.paper import (LATENT_REMEDIES, LATENT_SEED_FOLDER, LATENT_STUDY, NAMES, cell,
                                        difference_cell, number, parse_study_run_name, study_run_name)
from tf_varattn.reporting.run_files import read_json, run_label
from tf_varattn.reporting.tables import BOOTSTRAP_RESAMPLES, run_scores
from tf_varattn.uncertainty import paired_bootstrap, seed_difference, seed_spread

MARKERS = {"ved_dattn": "o", "ved_vattn_mean": "s"}


def study_runs(runs_root: os.PathLike, having: str = "test_metrics.json") -> list[tuple[str, str, Path]]:
    """``(preset, remedy, run directory)`` of every study run (seed 0) that has the file ``having``
    (by default: evaluated), in the study's order."""
    task_root = Path(runs_root) / LATENT_STUDY["task"]
    return [(preset, remedy, task_root / study_run_name(preset, remedy)) for remedy in LATENT_REMEDIES
            for preset in LATENT_STUDY["presets"]
            if (task_root / study_run_name(preset, remedy) / having).is_file()]


def study_seed_runs(runs_root: os.PathLike) -> dict[tuple[str, str], dict[int, Path]]:
    """``(preset, remedy)`` -> ``{seed: run directory}`` of every evaluated study run: the study's run
    (its config's seed) and each ``latents/seeds/<preset>-<remedy>-seed<k>``, in the study's order."""
    task_root = Path(runs_root) / LATENT_STUDY["task"]
    found = {}
    for preset, remedy, run in study_runs(runs_root):
        found[(preset, remedy)] = {int((read_json(run / "config.json") or {}).get("seed", 0)): run}
    folder = task_root / LATENT_STUDY["folder"] / LATENT_SEED_FOLDER
    for run in sorted(folder.glob("*-seed*")) if folder.is_dir() else []:
        study = parse_study_run_name(run.relative_to(task_root).as_posix())
        if not study or study[0] not in LATENT_STUDY["presets"] or not (run / "test_metrics.json").is_file():
            continue
        preset, remedy, seed = study
        seeds = found.setdefault((preset, remedy), {})
        if seed in seeds:
            raise ValueError(f"{run} and {seeds[seed]} both hold seed {seed} of {preset} with {remedy}; keep one of them.")
        seeds[seed] = run
    order = [(preset, remedy) for remedy in LATENT_REMEDIES for preset in LATENT_STUDY["presets"]]
    return {key: dict(sorted(found[key].items())) for key in order if key in found}


# The numbers compared across training seeds: header -> (digits, signed, value from a run's files).
SEED_COLUMNS = {
    "MAP BLEU-4": (2, False, lambda f: f["metrics"].get("map", {}).get("bleu4")),
    "Sampling BLEU-4": (2, False, lambda f: f["metrics"].get("sample", {}).get("bleu4")),
    "Entropy": (3, False, lambda f: f["metrics"].get("sample", {}).get("entropy")),
    "Dist-2": (3, False, lambda f: f["metrics"].get("sample", {}).get("dist2")),
    "KL_z / token": (3, False, lambda f: f["diagnostics"].get("latents", {}).get("kl_z_per_token")),
    "Active units": (1, False, lambda f: f["diagnostics"].get("latents", {}).get("active_units")),
    "I(x; z)": (3, False, lambda f: f["diagnostics"].get("latents", {}).get("mutual_information")),
    "gap, z from prior": (2, True, lambda f: f["diagnostics"].get("bypass", {}).get("gap_z_prior")),
    "gap, attention from prior": (2, True, lambda f: f["diagnostics"].get("bypass", {}).get("gap_attention_prior")),
    "NLL / token": (3, False, lambda f: f["likelihood"].get("nll", {}).get("value")),
    "Entropy, only z random": (3, False, lambda f: _source_entropy(f, "z")),
    "Entropy, only the attention random": (3, False, lambda f: _source_entropy(f, "attention")),
}


def _source_entropy(files: dict, source: str) -> Optional[float]:
    """Sampling entropy with only ``source`` random (``test_diversity_sources.json``), None if not measured."""
    return files["diversity_sources"].get("sources", {}).get(source, {}).get("entropy")


def _across_seeds(values: list, runs: int, digits: int, signed: bool = False) -> str:
    """Mean ± standard deviation over the seeds that have the value (how many, when not all)."""
    values = [value for value in values if value is not None]
    if not values:
        return "–"
    spread = seed_spread(values)
    text = f"{spread['mean']:{'+' if signed else ''}.{digits}f}"
    text += f" ± {spread['sd']:.{digits}f}" if spread["sd"] is not None else ""
    return text + (f" ({len(values)} of {runs})" if len(values) < runs else "")


def _seed_table(by_seed: dict[tuple[str, str], dict[int, Path]]) -> list[str]:
    """Every (attention, remedy) trained with two seeds or more: each number's mean and spread."""
    several = {key: runs for key, runs in by_seed.items() if len(runs) >= 2}
    if not several:
        return []
    lines = ["", "## Across training seeds", "",
             "The rows trained with several seeds (`VARATTN_SEEDS`): mean ± standard deviation over the seeds "
             "(n - 1); the tables above show seed 0.", "",
             "| Model | Remedy | Seeds | " + " | ".join(SEED_COLUMNS) + " |", "| --- | --- | --- |" + " ---: |" * len(SEED_COLUMNS)]
    files = {key: [_files(run) for run in runs.values()] for key, runs in several.items()}  # read once, for both tables
    for (preset, remedy), runs in several.items():
        cells = [_across_seeds([value(f) for f in files[preset, remedy]], len(runs), digits, signed)
                 for digits, signed, value in SEED_COLUMNS.values()]
        lines.append(f"| {NAMES[preset]} | {LATENT_REMEDIES[remedy][0]} | {', '.join(map(str, runs))} | "
                     + " | ".join(cells) + " |")
    return lines + _attention_across_seeds(several, files)


def _attention_across_seeds(several: dict[tuple[str, str], dict[int, Path]], files: dict) -> list[str]:
    """For each remedy both attentions trained with two seeds or more (``files``: their runs' files,
    in seed order): the second attention's mean minus the first's in each of ``PAIRED_COLUMNS``, with
    Welch's t-interval over the seeds (the training seed's noise)."""
    first, second = LATENT_STUDY["presets"][:2]
    remedies = [remedy for remedy in LATENT_REMEDIES if (first, remedy) in several and (second, remedy) in several]
    if not remedies:
        return []
    lines = ["", f"{NAMES[second]} minus {NAMES[first]} with the same remedy over their training seeds: the difference "
             "of the seed means with its 95% Welch t-interval (the training seed's noise; an interval that excludes "
             "0 is an effect larger than a rerun moves).", "",
             f"| Remedy | Seeds ({NAMES[first]} / {NAMES[second]}) | " + " | ".join(PAIRED_COLUMNS) + " |",
             "| --- | --- |" + " ---: |" * len(PAIRED_COLUMNS)]
    for remedy in remedies:
        cells = []
        for header, (_, metric) in PAIRED_COLUMNS.items():
            value = SEED_COLUMNS[header][2]
            values = {preset: [v for v in map(value, files[preset, remedy]) if v is not None] for preset in (first, second)}
            cells.append(difference_cell(metric, seed_difference(values[second], values[first]))
                         if values[first] and values[second] else "–")
        seeds = " / ".join(", ".join(map(str, several[(preset, remedy)])) for preset in (first, second))
        lines.append(f"| {LATENT_REMEDIES[remedy][0]} | {seeds} | " + " | ".join(cells) + " |")
    return lines


def _files(run: Path) -> dict:
    return {name: read_json(run / f"test_{name}.json") or {}
            for name in ("metrics", "diagnostics", "likelihood", "diversity_sources")}


def _perplexity(likelihood: dict) -> str:
    """The perplexity with one decimal (from a million on, three digits and the power of ten:
    "9.03e+195"), "–" if absent, "> 1e308" beyond a float."""
    if "perplexity" not in likelihood:
        return "–"
    value = likelihood["perplexity"]["value"]
    if value is None:
        return "> 1e308"
    return f"{value:.1f}" if value < 1e6 else f"{value:.3g}"


def _interval(entry: Optional[dict], digits: int = 3) -> str:
    if not entry:
        return "–"
    return f"{entry['value']:.{digits}f} [{entry['low']:.{digits}f}, {entry['high']:.{digits}f}]"


def render_latents(runs_root: os.PathLike) -> str:
    """The study's tables (quality, latents and likelihood, diversity sources, the estimate's
    convergence) and the likelihood of the other runs, from the runs' test_*.json files."""
    root = Path(runs_root)
    runs = [(preset, remedy, run, _files(run)) for preset, remedy, run in study_runs(root)]
    lines = ["# Does z carry anything? The collapse study", "",
             "VED+DAttn and VED+VAttn-h̄ on question generation (the paper's settings, 10 epochs, test on the "
             "epoch-7 checkpoint), each with one standard remedy for a collapsed z: free bits (Kingma et al. 2016), "
             "a bag-of-words loss from z (Zhao et al. 2017), a logistic or a cyclical KL weight that reaches 1 "
             "(Fu et al. 2019), or nothing. Trained by `./reproduce.sh latents`; rendered by "
             "`experiments/make_tables.py` from each run's `test_metrics.json`, `test_diagnostics.json`, "
             "`test_likelihood.json` and `test_diversity_sources.json`.", ""]
    if not runs:
        lines += ["No run of the study is evaluated yet (`./reproduce.sh latents`).", ""]
    else:
        lines += ["## Quality and diversity", "",
                  "| Model | Remedy | MAP BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | Sampling BLEU-1 | BLEU-2 | BLEU-3 | "
                  "BLEU-4 | Entropy | Dist-1 | Dist-2 |",
                  "| --- | --- |" + " ---: |" * 11]
        for preset, remedy, _, files in runs:
            map_row, sample = files["metrics"].get("map", {}), files["metrics"].get("sample", {})
            cells = [cell(m, map_row.get(m)) for m in ("bleu1", "bleu2", "bleu3", "bleu4")]
            cells += [cell(m, sample.get(m)) for m in ("bleu1", "bleu2", "bleu3", "bleu4", "entropy", "dist1", "dist2")]
            lines.append(f"| {NAMES[preset]} | {LATENT_REMEDIES[remedy][0]} | " + " | ".join(cells) + " |")
        lines += _against_no_remedy(runs) + _attention_against_attention(runs)
        lines += ["", "## The latents and the likelihood", "",
                  "KL per target token, active units of z (of 100) and I(x; z) in nats on the first 1,000 test "
                  "pairs; the bypass probe's BLEU-4 gaps (MAP minus greedy decoding with z, then the attention, "
                  "drawn from its prior: a large gap means the decoder uses that latent); per target token on the first test pairs, the negative ELBO at KL "
                  "weight 1 (KL_att summed over every step) and the importance-weighted NLL with its 95% bootstrap "
                  "interval over inputs, and its perplexity.", "",
                  "| Model | Remedy | KL_z / token | KL_att / token | Active units | I(x; z) | gap, z from prior | "
                  "gap, attention from prior | -ELBO / token | NLL / token | Perplexity | Draws | Inputs |",
                  "| --- | --- |" + " ---: |" * 11]
        for preset, remedy, _, files in runs:
            latents = files["diagnostics"].get("latents", {})
            bypass = files["diagnostics"].get("bypass", {})
            likelihood = files["likelihood"]
            random_attention = preset != "ved_dattn"
            cells = [number(latents.get("kl_z_per_token"), 3),
                     number(latents.get("kl_attention_per_token"), 3) if random_attention else "–",
                     str(latents.get("active_units", "–")), number(latents.get("mutual_information"), 3),
                     cell("bleu4", bypass["gap_z_prior"], signed=True) if "gap_z_prior" in bypass else "–",
                     cell("bleu4", bypass["gap_attention_prior"], signed=True) if "gap_attention_prior" in bypass else "–",
                     number(likelihood.get("negative_elbo", {}).get("value"), 3), _interval(likelihood.get("nll")),
                     _perplexity(likelihood),
                     str(likelihood.get("num_samples", "–")), str(likelihood.get("inputs", "–"))]
            lines.append(f"| {NAMES[preset]} | {LATENT_REMEDIES[remedy][0]} | " + " | ".join(cells) + " |")
        lines += ["", "## Where the diversity comes from", "",
                  "Sampling (seed 0, 10 samples per input) with only z random (the attention at its posterior "
                  "mean), only the attention random (z at its mean), and both: entropy / Dist-2 / BLEU-4.", "",
                  "| Model | Remedy | only z random | only the attention random | both |", "| --- | --- | --- | --- | --- |"]
        for preset, remedy, _, files in runs:
            sources = files["diversity_sources"].get("sources", {})
            cells = [(f"{sources[name]['entropy']:.3f} / {sources[name]['dist2']:.3f} / {sources[name]['bleu4']:.2f}"
                      if name in sources else "–") for name in ("z", "attention", "both")]
            lines.append(f"| {NAMES[preset]} | {LATENT_REMEDIES[remedy][0]} | " + " | ".join(cells) + " |")
    by_seed = study_seed_runs(root)
    lines += _seed_table(by_seed)
    lines += _likelihood_tables(root, {run for runs_of in by_seed.values() for run in runs_of.values()})
    return "\n".join(lines) + "\n"


NO_REMEDY = "none"
# Paired on the same test inputs: header -> (outputs, metric).
PAIRED_COLUMNS = {"MAP BLEU-4": ("map", "bleu4"), "Sampling BLEU-4": ("sampling", "bleu4"),
                  "Entropy": ("sampling", "entropy"), "Dist-2": ("sampling", "dist2")}
PAIRED_NOTE = (f"with its 95% paired bootstrap interval over test inputs ({BOOTSTRAP_RESAMPLES} resamples). The interval "
               "holds the test set's noise only, not the training seed's: results/seeds.md gives the Table 2 models' "
               "spread over seeds (and \"Across training seeds\" below, once a row is trained again, this study's).")


def _paired_cells(first: tuple[Path, dict], second: tuple[Path, dict]) -> list[str]:
    """``first - second`` (each ``(run, files)``) on the same test inputs: each of ``PAIRED_COLUMNS``
    with its paired bootstrap interval, then the difference of the NLL estimates per token."""
    cells, scores = [], [run_scores(run) for run, _ in (first, second)]
    for outputs, metric in PAIRED_COLUMNS.values():
        paired = [getattr(score, outputs) if score is not None else None for score in scores]
        if None in paired:
            cells.append("–")
            continue
        result = paired_bootstrap(*paired, metric, BOOTSTRAP_RESAMPLES)
        cells.append(difference_cell(metric, result))
    nll = [files["likelihood"].get("nll", {}).get("value") for _, files in (first, second)]
    return cells + [number(nll[0] - nll[1], 3, signed=True) if None not in nll else "–"]


def _against_no_remedy(runs: list) -> list[str]:
    """Each remedy minus the same attention's no-remedy run on the same test inputs."""
    lines = ["", "## Each remedy against no remedy", ""]
    baselines = {preset: (run, files) for preset, remedy, run, files in runs if remedy == NO_REMEDY}
    if not baselines:
        return lines + [f"Not yet: no run without a remedy (`latents/<model>-{NO_REMEDY}`) is evaluated."]
    lines += ["Each remedy minus the same attention's run without one (same test inputs, same training seed), "
              + PAIRED_NOTE + " Last, the difference of the NLL estimates per token.", "",
              "| Model | Remedy | " + " | ".join(PAIRED_COLUMNS) + " | NLL / token |", "| --- | --- |" + " ---: |" * 5]
    for preset, remedy, run, files in runs:
        if remedy != NO_REMEDY and preset in baselines:
            lines.append(f"| {NAMES[preset]} | {LATENT_REMEDIES[remedy][0]} | "
                         + " | ".join(_paired_cells((run, files), baselines[preset])) + " |")
    missing = [NAMES[preset] for preset in LATENT_STUDY["presets"] if preset not in baselines]
    if missing:
        lines += ["", f"Not yet for {', '.join(missing)}: its run without a remedy is not evaluated."]
    return lines


def _attention_against_attention(runs: list) -> list[str]:
    """For each remedy, the study's second attention minus its first on the same test inputs."""
    first, second = LATENT_STUDY["presets"][:2]
    by_remedy = {}
    for preset, remedy, run, files in runs:
        by_remedy.setdefault(remedy, {})[preset] = (run, files)
    rows = [(remedy, pair) for remedy, pair in by_remedy.items() if first in pair and second in pair]
    if not rows:
        return []
    lines = ["", f"## {NAMES[second]} against {NAMES[first]}, per remedy", "",
             f"{NAMES[second]} minus {NAMES[first]} with the same remedy (same test inputs, same training seed), "
             + PAIRED_NOTE + " Last, the difference of the NLL estimates per token.", "",
             "| Remedy | " + " | ".join(PAIRED_COLUMNS) + " | NLL / token |", "| --- |" + " ---: |" * 5]
    for remedy, pair in rows:
        lines.append(f"| {LATENT_REMEDIES[remedy][0]} | " + " | ".join(_paired_cells(pair[second], pair[first])) + " |")
    return lines


def _likelihood_tables(root: Path, study: set) -> list[str]:
    """The likelihood of every other run that has one, and how each estimate moves with the draws."""
    every = sorted(path.parent for path in root.glob("*/**/test_likelihood.json"))
    lines = []
    others = [run for run in every if run not in study]
    if others:
        lines += ["", "## The likelihood of the other models", "",
                  "Per target token on the first test pairs (a DED has no latent: its NLL is exact).", "",
                  "| Task | Model | Epoch | -ELBO / token | KL_z / token | KL_att / token | NLL / token | Perplexity | "
                  "Draws | Inputs |", "| --- | --- |" + " ---: |" * 8]
        for run in others:
            task_root = root / run.relative_to(root).parts[0]
            result = read_json(run / "test_likelihood.json")
            lines.append(f"| {task_root.name} | {run_label(run, task_root)} | {result['checkpoint_epoch']} | "
                         f"{result['negative_elbo']['value']:.3f} | {result['kl_z']['value']:.3f} | "
                         f"{result['kl_attention']['value']:.3f} | {_interval(result['nll'])} | "
                         f"{_perplexity(result)} | {result['num_samples']} | {result['inputs']} |")
    if every:
        counts = sorted({row["num_samples"] for run in every
                         for row in read_json(run / "test_likelihood.json").get("convergence", [])})
        lines += ["", "## The estimate against the number of draws", "",
                  "Importance-weighted NLL per token with the first K draws of each input (K = 1 is the ELBO of "
                  "one draw, sampled KL terms).", "",
                  "| Run | " + " | ".join(f"K = {k}" for k in counts) + " |", "| --- |" + " ---: |" * len(counts)]
        for run in every:
            task_root = root / run.relative_to(root).parts[0]
            by_k = {row["num_samples"]: row["nll"] for row in read_json(run / "test_likelihood.json")["convergence"]}
            lines.append(f"| {task_root.name} {run_label(run, task_root)} | "
                         + " | ".join(number(by_k.get(k), 3) for k in counts) + " |")
    return lines


def plot_latent_study(runs_root: os.PathLike, path: os.PathLike, log: Callable = print) -> list[str]:
    """I(x; z) against sampling entropy and against MAP BLEU-4, one point per study run (marker: the
    attention, colour: the remedy; other training seeds of a row hollow, beside its seed-0 point). No
    run with diagnostics: nothing drawn (an old figure is kept). Returns ``"<model>, <remedy>"`` of the
    study's seed-0 points drawn."""
    points, runs = [], []  # (preset, remedy, seed-0 run?, I(x; z), entropy, BLEU-4)
    for (preset, remedy), by_seed in study_seed_runs(runs_root).items():
        for run in by_seed.values():
            files = _files(run)
            information = files["diagnostics"].get("latents", {}).get("mutual_information")
            if information is None:
                continue
            points.append((preset, remedy, run.parent.name != LATENT_SEED_FOLDER, information,
                           files["metrics"]["sample"]["entropy"], files["metrics"]["map"]["bleu4"]))
            runs.append(run)
    if not points:
        log(f"{path} not drawn: no run of the collapse study has its diagnostics yet (`./reproduce.sh latents`).")
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = dict(zip(LATENT_REMEDIES, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, column, title in ((axes[0], 4, "sampling entropy"), (axes[1], 5, "MAP BLEU-4")):
        for point in points:
            preset, remedy, first = point[:3]
            style = ({"color": colors[remedy], "label": f"{NAMES[preset]}, {LATENT_REMEDIES[remedy][0]}"} if first
                     else {"facecolors": "none", "edgecolors": colors[remedy]})
            axis.scatter(point[3], point[column], marker=MARKERS[preset], s=60, **style)
        axis.set_xlabel("I(x; z), nats")
        axis.set_ylabel(title)
        axis.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False,
                   title="hollow: other training seeds" if not all(p[2] for p in points) else None,
                   title_fontsize=7)
    figure.suptitle("Does z carry anything? (question generation, test set, epoch 7)", fontsize=10)
    figure.tight_layout()
    log(publish_figure(figure, path, runs, runs_root))
    plt.close(figure)
    return [f"{NAMES[p]}, {r}" for p, r, first, *_ in points if first]


# What the study's training curves show: history key -> panel title (the KL weight where the epoch
# ended; the rest measured on the validation pairs after each epoch).
STUDY_CURVES = (("kl_weight", "KL weight (end of epoch)"), ("val_mutual_information", "I(x; z), nats"),
                ("val_active_units", "Active units of z"), ("val_bleu4", "Validation BLEU-4"),
                ("val_entropy", "Validation entropy"))


def plot_latent_study_curves(runs_root: os.PathLike, path: os.PathLike, log: Callable = print) -> list[str]:
    """The study's runs during training, one row per attention, one line per remedy (its colour the
    same in both rows and in ``latents-study.png``): the KL weight each epoch ended at, and I(x; z),
    the active units of z, BLEU-4 and entropy on the validation pairs after each epoch. Every run with
    a ``history.json`` is drawn, also one still training. None: nothing drawn (an old figure is kept).
    Returns ``"<preset>-<remedy>"`` of the runs drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = {LATENT_REMEDIES[remedy][0]: color for remedy, color in zip(LATENT_REMEDIES, cycle)}
    rows, runs, drawn = [], [], []
    trained = study_runs(runs_root, having="history.json")
    for preset in LATENT_STUDY["presets"]:
        panels = {key: [] for key, _ in STUDY_CURVES}
        for run_preset, remedy, run in trained:
            if run_preset != preset:
                continue
            history = read_json(run / "history.json") or []
            for key, _ in STUDY_CURVES:
                points = [(epoch["epoch"], epoch[key]) for epoch in history if epoch.get(key) is not None]
                if points:
                    panels[key].append((LATENT_REMEDIES[remedy][0], [x for x, _ in points], [y for _, y in points]))
            runs.append(run)
            drawn.append(f"{preset}-{remedy}")
        if any(panels.values()):
            rows.append((f"epoch ({NAMES[preset]})", False, panels))
    if not rows:
        log(f"{path} not drawn: no run of the collapse study has a history.json yet (`./reproduce.sh latents`).")
        return []
    plot_curve_rows(rows, Path(path), STUDY_CURVES, runs=runs, runs_root=runs_root, log=log, colors=colors)
    return drawn
