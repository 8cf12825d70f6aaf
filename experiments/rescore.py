"""Score committed test outputs again, without a model: every run under --runs_root that holds
test_outputs.jsonl.gz and config.json.

1. test_metrics.json's sampling rows are recomputed with the diversity pooling of today's code
   (the released code's rule, metrics.Pooling) and the file rewritten, saying which numbers moved.
   MAP rows and BLEU do not depend on the pooling and must come out as they are.
2. test_scoring.json (runs of --variant_tasks, default dialogue) gets the run's metrics under every scoring of evaluation.SCORINGS: ours,
   the released code's (test set without its last partial batch, references word_tokenize'd from
   the raw CSV) and, as a labelled hypothesis, that with references cut to the target limit.

    python experiments/rescore.py --runs_root results/runs
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

from tf_varattn.config_flags import check_choices
from tf_varattn.runtime import run_script
from tf_varattn.tasks import TASKS

FLAGS = flags.FLAGS
flags.DEFINE_string("runs_root", "results/runs", "Root below which every run with test outputs is rescored.")
flags.DEFINE_string("data_dir", None, "Data directory, for the raw test targets (default: $VARATTN_DATA_DIR, ./data, "
                    "../shared/data).")
flags.DEFINE_bool("dry_run", False, "Print what would move; write nothing.")
flags.DEFINE_list("variant_tasks", ["dialogue"], "Tasks whose runs also get test_scoring.json (every scoring; "
                  "minutes per qgen run).")
check_choices("variant_tasks", TASKS)


def _moved(old: dict, new: dict, prefix: str) -> list[str]:
    return [f"{prefix}{name} {old.get(name)} -> {value}" for name, value in new.items()
            if name != "seed" and old.get(name) != value]


def main(argv):
    if len(argv) > 1:
        print(f"error: unexpected arguments {argv[1:]}; every setting is a --flag.", file=sys.stderr)
        return 1
    from tf_varattn.data.corpora import DataError, load_split, resolve_data_dir
    from tf_varattn.evaluation import SCORINGS, SplitOutputs, rescore
    from tf_varattn.reporting.run_files import read_json, run_pooling
    from tf_varattn.training.runs import write_json

    root = Path(FLAGS.runs_root)
    runs = sorted(path.parent for path in root.rglob("test_outputs.jsonl.gz"))
    if not runs:
        print(f"error: no run with test_outputs.jsonl.gz below {root}.", file=sys.stderr)
        return 1
    try:
        data_dir = resolve_data_dir(FLAGS.data_dir)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    raw_targets = {}
    for number, run in enumerate(runs, start=1):
        config, metrics = read_json(run / "config.json"), read_json(run / "test_metrics.json")
        if config is None or metrics is None:
            print(f"[{number}/{len(runs)}] {run}: skipped, it has no config.json or test_metrics.json beside its outputs")
            continue
        print(f"[{number}/{len(runs)}] {run}: scoring ...", flush=True)
        task = config["task"]
        if task not in raw_targets:
            raw_targets[task] = load_split(data_dir, task, "test").targets
        outputs, pooling = SplitOutputs.read(run / "test_outputs.jsonl.gz"), run_pooling(run)
        scorings = SCORINGS if task in FLAGS.variant_tasks else ("ours",)
        scored = {scoring: rescore(outputs, raw_targets[task], pooling, scoring, config["batch_size"],
                                   config.get("max_decode_length", 20)) for scoring in scorings}
        ours = scored["ours"]
        if ours["map"] != metrics["map"]:
            print(f"error: {run}: the MAP row scored from its outputs ({ours['map']}) differs from test_metrics.json "
                  f"({metrics['map']}); the outputs and the metrics do not belong together.", file=sys.stderr)
            return 1
        moved = []
        if "sample_runs" in metrics and "sample_runs" in ours:
            for old, new in zip(metrics["sample_runs"], ours["sample_runs"]):
                moved += _moved(old, new, f"seed {old.get('seed')} ")
                old.update(new)
            moved += _moved(metrics["sample"], ours["sample"], "mean ")
            metrics["sample"] = ours["sample"]
        metrics["diversity_pooling"] = "released"
        print(f"[{number}/{len(runs)}] {run}: " + ("; ".join(m for m in moved if m.startswith("mean")) or "nothing moved"), flush=True)
        if not FLAGS.dry_run:
            write_json(run / "test_metrics.json", metrics)
            if len(scored) > 1:
                write_json(run / "test_scoring.json", scored)
    return 0


if __name__ == "__main__":
    run_script(main)
