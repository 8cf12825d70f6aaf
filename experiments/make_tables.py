"""Render results/table2.md, results/table4.md (paper vs. ours, bootstrap intervals),
results/case_study.md, results/claims.md (the paper's claims checked against our numbers) and
results/bypass.md (latent diagnostics and the bypass probe) and results/latents.md (the collapse
study, every run's likelihood) from the runs' test_metrics.json, history.json, test_outputs.jsonl.gz,
test_diagnostics.json, test_likelihood.json and test_diversity_sources.json.

    python experiments/make_tables.py --runs_root runs --output_dir results
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

from tf_varattn.runtime import import_tensorflow_quietly, run_script

import_tensorflow_quietly()

from tf_varattn.reporting import (  # noqa: E402
    TABLES, preload_scores, render_bypass, render_case_study, render_claims, render_seeds, render_table, table_runs)
from tf_varattn.config_flags import check_choices  # noqa: E402
from tf_varattn.reporting.latents import render_latents, study_runs  # noqa: E402
from tf_varattn.reporting.publish import PublishError, check_runs_root, publish, runs_behind  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("runs_root", "runs", "Root holding <task>/<model>/ run directories.")
flags.DEFINE_string("output_dir", "results", "Where the Markdown tables go.")
EXTRA = {"case_study": render_case_study, "claims": render_claims, "bypass": render_bypass, "seeds": render_seeds,
         "latents": render_latents}
flags.DEFINE_list("tables", [*TABLES, *EXTRA], f"Tables to render ({', '.join([*TABLES, *EXTRA])}).")
check_choices("tables", [*TABLES, *EXTRA])
flags.DEFINE_integer("workers", None, "Processes that score the runs' outputs side by side (default: one per core).",
                     lower_bound=1)


def main(argv):
    del argv
    try:
        check_runs_root(FLAGS.runs_root)
    except PublishError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    output = Path(FLAGS.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    try:
        study = [run for _, _, run in study_runs(FLAGS.runs_root)] if "latents" in FLAGS.tables else []
        preload_scores([run for table in FLAGS.tables if table in TABLES
                        for run in table_runs(table, FLAGS.runs_root)] + study, FLAGS.workers)
        for table in FLAGS.tables:
            text = EXTRA[table](FLAGS.runs_root) if table in EXTRA else render_table(table, FLAGS.runs_root)
            print(publish(output / f"{table}.md", text, runs_behind(table, FLAGS.runs_root), runs_root=FLAGS.runs_root))
    except ValueError as error:  # a damaged run file: named, with the command that writes it again
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    run_script(main)
