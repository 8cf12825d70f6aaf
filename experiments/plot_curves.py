"""Draw results/figure4.png (validation curves per model) and results/figure5.png (curves per gamma_a).

    python experiments/plot_curves.py --runs_root runs --output_dir results
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from tf_varattn.runtime import import_tensorflow_quietly, run_script

import_tensorflow_quietly()

from tf_varattn.reporting import plot_figure4, plot_figure5  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("runs_root", "runs", "Root holding <task>/<model>/ and <task>/gamma_a/<value>/ runs.")
flags.DEFINE_string("output_dir", "results", "Where the PNG figures go.")
flags.DEFINE_list("figures", ["figure4", "figure5"], "Figures to draw (figure4, figure5).")


def main(argv):
    del argv
    output = Path(FLAGS.output_dir)
    if "figure4" in FLAGS.figures:
        drawn = plot_figure4(FLAGS.runs_root, output / "figure4.png")
        print(f"Wrote {output / 'figure4.png'} ({', '.join(drawn) or 'no runs yet'})")
    if "figure5" in FLAGS.figures:
        drawn = plot_figure5(FLAGS.runs_root, output / "figure5.png")
        if drawn:
            print(f"Wrote {output / 'figure5.png'} (gamma_a: {', '.join(map(str, drawn))})")
        else:
            print("figure5 not drawn: it compares gamma_a values and fewer than two runs exist "
                  "(`./reproduce.sh figure5` trains them).")


if __name__ == "__main__":
    run_script(main)
