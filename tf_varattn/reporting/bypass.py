"""``bypass.md``: the latent diagnostics and the bypass probe of every run that has them (Sec. 2.4)."""

from __future__ import annotations

import os
from pathlib import Path

from tf_varattn.reporting.paper import cell, number
from tf_varattn.reporting.run_files import RETRAIN_FOLDER, latents_of, read_json, run_label


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
        report = read_json(path)
        latents, bypass = report["latents"], report["bypass"]

        def bleu(mode):
            return cell("bleu4", bypass[mode]["bleu4"]) if mode in bypass else "–"

        def gap(mode):
            return cell("bleu4", bypass[f"gap_{mode}"], signed=True) if f"gap_{mode}" in bypass else "–"

        has_z, has_random_attention = latents_of(run)  # a DED has neither: "–", not 0
        z_cells = (number(latents["kl_z_per_token"], 3), f"{latents['active_units']}",
                   number(latents["mutual_information"], 3)) if has_z else ("–", "–", "–")
        attention_cell = number(latents["kl_attention_per_token"], 3) if has_random_attention else "–"
        rows.append(f"| {task_root.name} | {run_label(run, task_root)} | {report['checkpoint_epoch']} | "
                    f"{z_cells[0]} | {attention_cell} | {z_cells[1]} | {z_cells[2]} | {bleu('map')} | "
                    f"{bleu('z_prior')} | {gap('z_prior')} | {bleu('attention_prior')} | {gap('attention_prior')} |")
    table = [header, "|" + " --- |" * 3 + " ---: |" * 9] + rows if rows else [
        "No run has a test_diagnostics.json yet (run experiments/evaluate.py)."]
    return "\n".join(lines + table + _runs_without_diagnostics(root)) + "\n"


def _runs_without_diagnostics(root: Path) -> list[str]:
    """Lines naming the evaluated runs that have no ``test_diagnostics.json``: those without a
    latent variable (nothing to bypass), those measured on their retrain (``<task>/retrain/<preset>``,
    a row above) and those whose checkpoints were gone when the diagnostics came."""
    no_latent, on_retrain, missing = [], [], []
    for path in sorted(root.glob("*/**/test_metrics.json")):
        run = path.parent
        if (run / "test_diagnostics.json").is_file():
            continue
        task_root = root / run.relative_to(root).parts[0]
        label = f"{task_root.name} {run_label(run, task_root)}"
        if not latents_of(run)[0]:
            no_latent.append(label)
        elif (task_root / RETRAIN_FOLDER / run.relative_to(task_root) / "test_diagnostics.json").is_file():
            on_retrain.append(label)
        else:
            missing.append(label)
    lines = []
    if no_latent:
        lines.append(f"No latent variable, nothing to bypass: {', '.join(no_latent)}.")
    if on_retrain:
        lines.append(f"Measured on their retrain (the same preset and seed trained again, the \"retrained\" rows; "
                     f"the table's run was evaluated before the diagnostics existed): {', '.join(on_retrain)}.")
    if missing:
        lines.append(f"Not measured (evaluated before the diagnostics existed, checkpoints gone; a retrained run "
                     f"writes them at evaluation): {', '.join(missing)}.")
    return [part for line in lines for part in ("", line)]  # a paragraph each
