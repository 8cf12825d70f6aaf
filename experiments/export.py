"""Export a trained run as a SavedModel for serving (:mod:`tf_varattn.serving`, ``docs/serving.md``).

    python experiments/export.py --run_dir runs/qgen/ved_vattn_mean --export_dir exports/ved_vattn_mean
    python experiments/export.py --run_dir runs/qgen/ved_vattn_mean --export_dir exports/top_p --search top_p --top_p 0.9

The search (and its options) is fixed at export time; the number of samples, both temperatures
(0 and 0: MAP) and the seed are inputs of every request.
"""

from __future__ import annotations

import sys

from tf_varattn.runtime import import_tensorflow_quietly, run_script  # noqa: E402

import_tensorflow_quietly()

from tf_varattn.plugins import define_user_dir_flag, load_or_exit  # noqa: E402

USER_CODE = load_or_exit()  # --user_dir, or the run's recorded one: its attentions and searches become choices

from absl import flags  # noqa: E402

from tf_varattn.decoding import define_search_flags  # noqa: E402

FLAGS = flags.FLAGS
define_user_dir_flag()
define_search_flags()
flags.DEFINE_string("run_dir", None, "Run directory written by train.py.", required=True)
flags.DEFINE_string("export_dir", None, "New folder for the SavedModel (never overwritten).", required=True)
flags.DEFINE_integer("checkpoint", None, "Epoch to export (default: the run's evaluation epoch, else the newest).")


def main(argv):
    from tf_varattn.api import load
    from tf_varattn.decoding import search_from_flags
    from tf_varattn.serving import ExportError, export
    from tf_varattn.training.runs import RunError

    try:
        search = search_from_flags()
        model = load(FLAGS.run_dir, FLAGS.checkpoint)
        path = export(model, FLAGS.export_dir, search)
    except (RunError, ExportError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Exported {FLAGS.run_dir} (epoch {model.epoch}, search: {search.describe()}) to {path}; "
          "signatures generate_tokens and generate_ids (docs/serving.md).")
    return 0


if __name__ == "__main__":
    run_script(main)
