"""Render results/table2.md, results/table4.md (paper vs. ours, bootstrap intervals) and
results/case_study.md from the runs' test_metrics.json and test_outputs.jsonl.gz.

    python experiments/make_tables.py --runs_root runs --output_dir results
"""

from __future__ import annotations

from pathlib import Path

from absl import app, flags

from tf_varattn.runtime import import_tensorflow_quietly, run_script

import_tensorflow_quietly()

from tf_varattn.reporting import TABLES, render_case_study, render_table  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("runs_root", "runs", "Root holding <task>/<model>/ run directories.")
flags.DEFINE_string("output_dir", "results", "Where the Markdown tables go.")
flags.DEFINE_list("tables", [*TABLES, "case_study"], f"Tables to render ({', '.join(TABLES)}, case_study).")


def main(argv):
    del argv
    unknown = sorted(set(FLAGS.tables) - {*TABLES, "case_study"})
    if unknown:
        raise app.UsageError(f"Unknown table(s) {unknown}; valid: {', '.join(TABLES)}, case_study.")
    output = Path(FLAGS.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    for table in FLAGS.tables:
        path = output / f"{table}.md"
        text = render_case_study(FLAGS.runs_root) if table == "case_study" else render_table(table, FLAGS.runs_root)
        path.write_text(text, encoding="utf-8")
        print(f"Wrote {path}")


if __name__ == "__main__":
    run_script(main)
