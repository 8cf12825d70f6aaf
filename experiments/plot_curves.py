"""Draw results/figure4.png (validation curves per model), results/figure5.png (curves per gamma_a)
results/latents.png (the latent diagnostics per epoch, Sec. 2.4) and results/latents-study.png (the
collapse study: I(x; z) against entropy and BLEU-4).

    python experiments/plot_curves.py --runs_root runs --output_dir results
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from tf_varattn.runtime import import_tensorflow_quietly, run_script

import_tensorflow_quietly()

from tf_varattn.config_flags import check_choices  # noqa: E402
from tf_varattn.reporting import plot_figure4, plot_figure5, plot_latent_curves  # noqa: E402
from tf_varattn.reporting.latents import plot_latent_study  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("runs_root", "runs", "Root holding <task>/<model>/ and <task>/gamma_a/<value>/ runs.")
flags.DEFINE_string("output_dir", "results", "Where the PNG figures go.")
FIGURES = ("figure4", "figure5", "latents", "latents_study")
flags.DEFINE_list("figures", list(FIGURES), f"Figures to draw ({', '.join(FIGURES)}).")
check_choices("figures", FIGURES)


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
    if "latents" in FLAGS.figures:
        drawn = plot_latent_curves(FLAGS.runs_root, output / "latents.png")
        if drawn:
            print(f"Wrote {output / 'latents.png'} ({', '.join(drawn)})")
        else:
            print("latents.png not drawn: no qgen run with a latent z records the diagnostics in its history.json.")
    if "latents_study" in FLAGS.figures:
        drawn = plot_latent_study(FLAGS.runs_root, output / "latents-study.png")
        if drawn:
            print(f"Wrote {output / 'latents-study.png'} ({', '.join(drawn)})")
        else:
            print("latents-study.png not drawn: no run of the collapse study has its diagnostics yet "
                  "(`./reproduce.sh latents`).")


if __name__ == "__main__":
    run_script(main)
