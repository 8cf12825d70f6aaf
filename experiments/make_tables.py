"""Render results/table2.md and results/table4.md (paper vs. ours) from the runs' test_metrics.json.

    python experiments/make_tables.py --runs_root runs --output_dir results
"""

from __future__ import annotations

from pathlib import Path

from absl import app, flags

from tf_varattn.reporting import TABLES, render_table

FLAGS = flags.FLAGS
flags.DEFINE_string("runs_root", "runs", "Root holding <task>/<model>/ run directories.")
flags.DEFINE_string("output_dir", "results", "Where the Markdown tables go.")
flags.DEFINE_list("tables", list(TABLES), f"Tables to render ({', '.join(TABLES)}).")


def main(argv):
    del argv
    unknown = sorted(set(FLAGS.tables) - set(TABLES))
    if unknown:
        raise app.UsageError(f"Unknown table(s) {unknown}; valid: {', '.join(TABLES)}.")
    output = Path(FLAGS.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    for table in FLAGS.tables:
        path = output / f"{table}.md"
        path.write_text(render_table(table, FLAGS.runs_root), encoding="utf-8")
        print(f"Wrote {path}")


if __name__ == "__main__":
    app.run(main)
