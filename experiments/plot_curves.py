"""Draw results/figure4.png (validation curves per model), results/figure5.png (curves per gamma_a)
results/latents.png (the latent diagnostics per epoch, Sec. 2.4), results/latents-study.png (the
collapse study: I(x; z) against entropy and BLEU-4) and results/latents-study-curves.png (the study's
runs during training: KL weight, I(x; z), active units, validation BLEU-4 and entropy per epoch).

    python experiments/plot_curves.py --runs_root runs --output_dir results
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

from tf_varattn.runtime import import_tensorflow_quietly, run_script

import_tensorflow_quietly()

from tf_varattn.config_flags import check_choices  # noqa: E402
from tf_varattn.reporting import plot_figure4, plot_figure5, plot_latent_curves  # noqa: E402
from tf_varattn.reporting.latents import plot_latent_study, plot_latent_study_curves  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("runs_root", "runs", "Root holding <task>/<model>/ and <task>/gamma_a/<value>/ runs.")
flags.DEFINE_string("output_dir", "results", "Where the PNG figures go.")
FIGURES = ("figure4", "figure5", "latents", "latents_study", "latents_study_curves")
flags.DEFINE_list("figures", list(FIGURES), f"Figures to draw ({', '.join(FIGURES)}).")
check_choices("figures", FIGURES)


def main(argv):
    del argv
    output = Path(FLAGS.output_dir)
    plots = {"figure4": (plot_figure4, "figure4.png"), "figure5": (plot_figure5, "figure5.png"),
             "latents": (plot_latent_curves, "latents.png"), "latents_study": (plot_latent_study, "latents-study.png"),
             "latents_study_curves": (plot_latent_study_curves, "latents-study-curves.png")}
    for name in FLAGS.figures:  # each says what it wrote, kept or could not draw
        plot, file_name = plots[name]
        try:
            plot(FLAGS.runs_root, output / file_name)
        except ValueError as error:  # a damaged run file: named, with the command that writes it again
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    run_script(main)
