"""The paper's Tables 2 and 4 as printed (names, metrics, numbers) and the runs beyond its rows."""

from __future__ import annotations

import re
import sys
from typing import Optional, Sequence


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
               "title": "Table 4: dialogue (Cornell Movie-Dialogs), test set (the paper reports BLEU-2 only)",
               "controlled_epochs": 3},
}


# The extra rows that `./reproduce.sh <table>` trains; the others are rendered when their run exists
# (the Dirichlet attention is trained by hand: README "Models").
REPRODUCED_EXTRAS = {"table2": ("ved_vattn_mean_kl_sum",), "table4": ()}


# The collapse study (results/latents.md): each attention with each standard remedy for a collapsed
# z, trained into <task>/latents/<preset>-<remedy> with the paper's settings otherwise.
LATENT_STUDY = {"task": "qgen", "folder": "latents", "presets": ("ved_dattn", "ved_vattn_mean")}
# remedy -> (label, config fields changed from the preset), in the order the study trains them.
LATENT_REMEDIES = {
    "bow": ("bag-of-words loss, weight 1", {"bow_loss_weight": 1.0}),
    "free_bits": ("free bits, 0.1 nat per dimension", {"free_bits": 0.1}),
    "logistic": ("logistic KL weight to 1", {"kl_schedule": "logistic", "kl_midpoint": 2500, "kl_width": 500}),
    "cyclical": ("cyclical KL weight, 4 cycles, ramp 0.5", {"kl_schedule": "cyclical", "kl_cycles": 4, "kl_ramp": 0.5}),
    "none": ("nothing (the baseline)", {}),
}


# <task>/latents/seeds/<preset>-<remedy>-seed<k>: a study run trained again with seed k (seed 0 is the study's run).
LATENT_SEED_FOLDER = "seeds"


def study_run_name(preset: str, remedy: str, seed: int = 0) -> str:
    """Where a study run lives under its task: ``latents/<preset>-<remedy>``, another seed below ``latents/seeds/``."""
    folder = LATENT_STUDY["folder"]
    return f"{folder}/{preset}-{remedy}" if seed == 0 else f"{folder}/{LATENT_SEED_FOLDER}/{preset}-{remedy}-seed{seed}"


def parse_study_run_name(name: str) -> Optional[tuple[str, str, Optional[int]]]:
    """``(preset, remedy, seed)`` of a run directory under its task named as :func:`study_run_name`
    names it (seed None for the study's own run, ``latents/<preset>-<remedy>``); None for any other."""
    folder, _, rest = name.partition("/")
    if folder != LATENT_STUDY["folder"]:
        return None
    seeded = re.fullmatch(rf"{LATENT_SEED_FOLDER}/(.+)-seed(\d+)", rest)
    preset, _, remedy = (seeded.group(1) if seeded else rest).rpartition("-")
    if not preset or "/" in preset or remedy not in LATENT_REMEDIES:
        return None
    return preset, remedy, int(seeded.group(2)) if seeded else None


def study_runs(remedies: Optional[Sequence[str]] = None, seeds: Sequence[int] = (0,)) -> list[tuple[str, str, list[str]]]:
    """The collapse study's runs, ``(preset, run directory under the task, train.py flags)``: each
    remedy (default: all, in the study's order) with each seed, a remedy's runs side by side."""
    remedies = list(LATENT_REMEDIES) if remedies is None else list(remedies)
    unknown = [remedy for remedy in remedies if remedy not in LATENT_REMEDIES]
    if unknown:
        raise ValueError(f"Unknown remedy {unknown[0]!r}; valid remedies: {', '.join(LATENT_REMEDIES)}.")
    if not seeds or any(seed < 0 for seed in seeds):
        raise ValueError(f"Seeds must be non-negative integers (0 is the study's run); got {list(seeds)}.")
    return [(preset, study_run_name(preset, remedy, seed),
             [f"--{field}={value}" for field, value in LATENT_REMEDIES[remedy][1].items()]
             + ([f"--seed={seed}"] if seed else []))
            for remedy in remedies for seed in seeds for preset in LATENT_STUDY["presets"]]


def table_presets(table: str) -> list[str]:
    return list(dict.fromkeys(preset for preset, _ in TABLES[table]["paper"]))


def table_runs(table: str) -> list[tuple[str, str, list[str]]]:
    """Every run `./reproduce.sh <table>` trains, ``(preset, run directory name, train.py flags)``:
    the table's models, then its reproduced extra rows (the one source of a table's composition);
    ``"latents"``: the collapse study's runs."""
    if table == "latents":
        return study_runs()
    if table not in TABLES:
        raise ValueError(f"Unknown table {table!r}; valid tables: {', '.join(TABLES)}.")
    runs = [(preset, preset, []) for preset in table_presets(table)]
    for name in REPRODUCED_EXTRAS[table]:
        preset, _, changes = TABLES[table]["extra"][name]
        runs.append((preset, name, [f"--{field}={value}" for field, value in changes.items()]))
    return runs


def _integers(text: str) -> list[int]:
    try:
        return [int(item) for item in text.replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"Seeds are integers separated by commas or spaces (e.g. 1,2); got {text!r}.") from None


def main(argv: list[str]) -> int:
    """``python tf_varattn/reporting/paper.py runs TABLE``: one line per run, ``preset run_name flags...``
    (reproduce.sh reads it; run as a file, this module imports nothing else); ``task TABLE``: the table's task.
    ``runs latents [--remedies=A,B] [--seeds=1,2]``: some of the study's remedies, with other seeds."""
    options = dict(arg[2:].split("=", 1) for arg in argv[2:] if arg.startswith("--") and "=" in arg)
    if (len(argv) < 2 or argv[0] not in ("runs", "task") or len(options) != len(argv) - 2
            or set(options) - {"remedies", "seeds"} or (options and argv[1] != "latents")):
        print("usage: python tf_varattn/reporting/paper.py runs|task TABLE "
              "(runs latents [--remedies=A,B] [--seeds=1,2])", file=sys.stderr)
        return 2
    try:
        if argv[0] == "task":
            if argv[1] == "latents":
                print(LATENT_STUDY["task"])
            else:
                print(TABLES[argv[1]]["task"] if argv[1] in TABLES else table_runs(argv[1]))
        elif options:
            remedies = options["remedies"].replace(",", " ").split() if options.get("remedies", "").strip() else None
            seeds = _integers(options["seeds"]) if options.get("seeds", "").strip() else [0]
            for preset, name, flags in study_runs(remedies, seeds):
                print(" ".join([preset, name, *flags]))
        else:
            for preset, name, flags in table_runs(argv[1]):
                print(" ".join([preset, name, *flags]))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def number(value: Optional[float], digits: int, signed: bool = False) -> str:
    """A report's number with ``digits`` decimals, "–" if absent; one that rounds to zero reads
    0.000 (or +0.000), never -0.000 (an estimate such as I(x; z) can fall a little below zero)."""
    if value is None:
        return "–"
    value = round(value, digits) + 0.0  # -0.0 + 0.0 is 0.0
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def cell(metric: str, value: Optional[float], signed: bool = False) -> str:
    """BLEU with 2 decimals, diversity with 3 (as the paper prints them)."""
    return number(value, 2 if metric.startswith("bleu") else 3, signed)


def difference_cell(metric: str, result: dict) -> str:
    """A difference with its interval, as ``cell`` prints ``metric``: "+0.11 [+0.05, +0.17]"
    (``result`` holds ``difference``, ``low`` and ``high``); "+0.11 (no interval)" when ``low`` is None."""
    if result["low"] is None:
        return f"{cell(metric, result['difference'], signed=True)} (no interval)"
    return (f"{cell(metric, result['difference'], signed=True)} "
            f"[{cell(metric, result['low'], signed=True)}, {cell(metric, result['high'], signed=True)}]")
