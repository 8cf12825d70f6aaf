"""Try a trained model: diverse outputs for your own sentences.

    python experiments/generate.py --run_dir runs/qgen/ved_vattn_mean --num_samples 5 "the war ended in 1783 ."
    python experiments/generate.py --run_dir runs/qgen/ved_vattn_mean --search top_p --top_p 0.9 "the war ended in 1783 ."
    echo "the war ended in 1783 ." | python experiments/generate.py --run_dir runs/qgen/ved_vattn_mean
"""

from __future__ import annotations

import sys

from tf_varattn.runtime import import_tensorflow_quietly, run_script  # noqa: E402

import_tensorflow_quietly()

from absl import app, flags  # noqa: E402

from tf_varattn.decoding import define_search_flags  # noqa: E402

FLAGS = flags.FLAGS
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
    from tf_varattn.decoding import Decoder, search_from_flags
    from tf_varattn.evaluation import generate
    from tf_varattn.training.runs import RunError, evaluation_epoch, load_run

    if argv[1:]:
        sentences = argv[1:]
    elif sys.stdin is None or sys.stdin.closed:  # started with standard input closed (<&-)
        sentences = []
    else:
        sentences = [line.strip() for line in sys.stdin if line.strip()]
    if not sentences:
        raise app.UsageError("Give sentences as arguments or on standard input.")
    try:
        search = search_from_flags()
        config, vocab, model, epoch = load_run(FLAGS.run_dir, FLAGS.checkpoint)
    except (RunError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    expected = evaluation_epoch(config)
    why = ("the run's evaluation epoch" if epoch == expected else "asked with --checkpoint" if FLAGS.checkpoint
           else f"the newest: the evaluation epoch {expected} has no checkpoint yet")
    print(f"Loaded {FLAGS.run_dir} at epoch {epoch} ({why}).", file=sys.stderr)
    sources = [vocab.encode_source(vocab.tokenize(sentence)) for sentence in sentences]
    empty = [sentence for sentence, ids in zip(sentences, sources) if not ids]
    if empty:
        # Treated as in training and evaluation (kept, never silently): the model sees an empty source.
        print(f"warning: no word left after tokenization in {empty!r}; decoding them from an empty source, "
              "as training and evaluation do for such rows.", file=sys.stderr)
    # With the latent means and a deterministic search every output would be the same: one suffices.
    deterministic = FLAGS.mode == "map" and search.deterministic
    num_samples = 1 if deterministic else FLAGS.num_samples
    decoder = Decoder(model, search)
    decoder.reseed(FLAGS.seed)
    outputs = generate(decoder, vocab, sources, FLAGS.mode, num_samples, FLAGS.z_temperature, FLAGS.attention_temperature)
    for sentence, per_input in zip(sentences, outputs):
        print(sentence)
        for output in per_input:
            print("  ->", " ".join(output))
    return 0


if __name__ == "__main__":
    run_script(main)
