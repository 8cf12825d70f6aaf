"""Try a trained model: diverse outputs for your own sentences (a thin script over
:func:`tf_varattn.load` and :meth:`~tf_varattn.api.TrainedModel.generate`).

    python experiments/generate.py --run_dir runs/qgen/ved_vattn_mean --num_samples 5 "the war ended in 1783 ."
    python experiments/generate.py --run_dir runs/qgen/ved_vattn_mean --search top_p --top_p 0.9 "the war ended in 1783 ."
    echo "the war ended in 1783 ." | python experiments/generate.py --run_dir runs/qgen/ved_vattn_mean
"""

from __future__ import annotations

import sys

from tf_varattn.runtime import import_tensorflow_quietly, run_script  # noqa: E402

import_tensorflow_quietly()

from tf_varattn.plugins import define_user_dir_flag, load_or_exit  # noqa: E402

USER_CODE = load_or_exit()  # --user_dir, or the run's recorded one: its attentions and searches become choices

from absl import app, flags  # noqa: E402

from tf_varattn.decoding import define_search_flags  # noqa: E402

FLAGS = flags.FLAGS
define_user_dir_flag()
define_search_flags()
flags.DEFINE_string("run_dir", None, "Run directory written by train.py.", required=True)
flags.DEFINE_integer("checkpoint", None, "Epoch to load (default: the run's evaluation epoch, else the newest).")
flags.DEFINE_integer("num_samples", 5, "Outputs per input sentence.", lower_bound=1)
flags.DEFINE_enum("mode", "sample", ["sample", "map"],
                  "Latents: sample draws z and the attention vectors; map uses their posterior means.")
flags.DEFINE_integer("seed", 0, "Seed of the random draws (latents and token sampling).")
flags.DEFINE_float("z_temperature", 1.0, "Scale of z's noise when sampling.")
flags.DEFINE_float("attention_temperature", 1.0, "Scale of the attention vectors' noise when sampling.")


def main(argv):
    from tf_varattn.api import load
    from tf_varattn.decoding import search_from_flags
    from tf_varattn.training.runs import RunError, evaluation_epoch

    if argv[1:]:
        sentences = argv[1:]
    elif sys.stdin is None or sys.stdin.closed:  # started with standard input closed (<&-)
        sentences = []
    else:
        sentences = [line.strip() for line in sys.stdin if line.strip()]
    if not sentences:
        raise app.UsageError("Give sentences as arguments or on standard input.")
    try:
        model = load(FLAGS.run_dir, FLAGS.checkpoint)
        empty = [sentence for sentence, ids in zip(sentences, model.encode(sentences)) if not ids]
        outputs = model.generate(sentences, FLAGS.num_samples, FLAGS.mode, search_from_flags(), FLAGS.seed,
                                 FLAGS.z_temperature, FLAGS.attention_temperature)
    except (RunError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    why = ("the run's evaluation epoch" if model.is_evaluation_epoch else "asked with --checkpoint" if FLAGS.checkpoint
           else f"the newest: the evaluation epoch {evaluation_epoch(model.config)} has no checkpoint yet")
    print(f"Loaded {FLAGS.run_dir} at epoch {model.epoch} ({why}).", file=sys.stderr)
    if empty:
        # Treated as in training and evaluation (kept, never silently): the model sees an empty source.
        print(f"warning: no word left after tokenization in {empty!r}; decoding them from an empty source, "
              "as training and evaluation do for such rows.", file=sys.stderr)
    for sentence, per_input in zip(sentences, outputs):
        print(sentence)
        for output in per_input:
            print("  ->", output)
    return 0


if __name__ == "__main__":
    run_script(main)
