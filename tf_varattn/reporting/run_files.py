"""Where the reports find the runs and what their files say: JSON files, the gamma_a runs of
Figure 5, a run's label and its latents."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from tf_varattn.attention_registry import ATTENTION_POSTERIORS
from tf_varattn.config import config_differences, get_config
from tf_varattn.data.corpora import TASKS
from tf_varattn.metrics import Pooling
from tf_varattn.reporting.paper import EXTRA_TABLE2, LATENT_REMEDIES, NAMES, parse_study_run_name


# <task>/retrain/<preset>: a paper model trained again with the same settings (for its diagnostics
# and attention pictures); it never replaces the table's run.
RETRAIN_FOLDER = "retrain"


def read_json(path: Path) -> Optional[dict]:
    """The JSON file ``path`` (``None`` when absent); a damaged one raises ValueError naming the
    file and the command that writes it again."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        flag = {"test_diagnostics.json": " --diagnostics_only", "test_likelihood.json": " --likelihood_only",
                "test_diversity_sources.json": " --diversity_sources"}.get(path.name, "")
        has_model = (path.parent / "checkpoints").is_dir()  # a published copy (results/runs) holds no model
        redo = (f"evaluate it again: python experiments/evaluate.py --run_dir {path.parent}{flag}"
                if path.name.startswith("test_") and has_model
                else f"restore it (git checkout -- {path}), or copy it again from the run directory that made it")
        raise ValueError(f"{path} is damaged, not JSON ({error}); {redo}.") from None


def gamma_runs(runs_root: os.PathLike, task: str = "qgen") -> dict[float, Path]:
    """Runs of VED+VAttn-h̄ by gamma_a: ``<root>/<task>/gamma_a/<value>``, and the Table 2 run
    ``<root>/<task>/ved_vattn_mean`` at its own gamma_a (so it is not trained twice)."""
    runs = {}
    table_run = Path(runs_root) / task / "ved_vattn_mean"
    config = read_json(table_run / "config.json")
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


def run_label(run: Path, task_root: Path) -> str:
    name = run.relative_to(task_root).as_posix()
    if name in NAMES:
        return NAMES[name]
    extra = EXTRA_TABLE2.get(name)
    if extra:
        return extra[1]
    if name.startswith("gamma_a/"):
        return f"VED+VAttn-h̄, gamma_a = {name.split('/', 1)[1]}"
    study = parse_study_run_name(name)  # the collapse study: <preset>-<remedy>, seeds/<preset>-<remedy>-seed<k>
    if study and study[0] in NAMES:
        model, remedy, seed = study
        return f"{NAMES[model]}, {LATENT_REMEDIES[remedy][0]}" + (f", seed {seed}" if seed is not None else "")
    folder, _, preset = name.partition("/")
    if folder == RETRAIN_FOLDER and preset in NAMES:  # the same model trained again (its checkpoints were gone)
        return f"{NAMES[preset]}, retrained"
    return name


def latents_of(run: Path) -> tuple[bool, bool]:
    """Whether the run's model has z, and whether its attention is random (from its config.json)."""
    config = read_json(run / "config.json") or {}
    kind = ATTENTION_POSTERIORS.get(config.get("attention", "variational"))
    return config.get("variational", True), bool(kind and kind.random)


def run_pooling(run: Path) -> Pooling:
    """How the run's decoded samples are pooled for diversity, from its config.json (the task's
    appended ``?``, the decoding limit)."""
    config = read_json(run / "config.json")
    if config is None:
        raise ValueError(f"{run} has test outputs but no config.json, so its decoding limit is unknown; "
                         "copy the run's config.json beside them.")
    return Pooling(config["max_decode_length"], appended=1 if TASKS[config["task"]].append_question_mark else 0)


def settings_differences(run: Path, preset: str, task: str, changes: Optional[dict] = None,
                         ignore: tuple[str, ...] = ()) -> list[str]:
    """``field=value`` for every config field of ``run`` (but ``ignore``) that differs from the
    paper's setting of ``preset`` (plus ``changes``); empty when the run used the paper's settings."""
    stored = read_json(run / "config.json") or {}
    # A run of the released code's protocol is compared with that protocol's settings (its label says so).
    expected = get_config(preset, task, **{"protocol": stored.get("protocol", "ours"), **(changes or {})}).to_dict()
    return [f"{field}={stored[field]!r}" for field in config_differences(stored, expected, ignore) if field in stored]
