"""Draw the attention of one input: the weights of every decoding step (target step x source token)
and, for a random attention, the posterior's standard deviation of every step (sigma_a of the
Gaussian attention vector, each weight's for the Dirichlet attention); one row per run.
The decoding is greedy with the latents at their posterior means (MAP).

    python experiments/plot_attention.py --run_dir runs/qgen/ved_vattn_mean --run_dir runs/qgen/ved_dattn \
        --output results/attention-1783.png "the war ended in 1783 ."
"""

from __future__ import annotations

import sys

from tf_varattn.runtime import import_tensorflow_quietly, run_script  # noqa: E402

import_tensorflow_quietly()

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("run_dir", None, "Run directory written by train.py (repeat for one row per run).", required=True)
flags.DEFINE_multi_string("label", None, "Row label per --run_dir (default: the run directory's last two parts).")
flags.DEFINE_integer("checkpoint", None, "Epoch to load (default: the config's eval_epoch, else the last).")
flags.DEFINE_string("output", "attention.png", "Where the PNG goes.")


def main(argv):
    from pathlib import Path

    from tf_varattn.decoding import trace_attention
    from tf_varattn.reporting import plot_attention
    from tf_varattn.training.runs import RunError, load_run

    if len(argv) != 2:
        raise app.UsageError('Give exactly one sentence, e.g. "the war ended in 1783 ."')
    sentence = argv[1]
    labels = FLAGS.label or ["/".join(Path(run).resolve().parts[-2:]) for run in FLAGS.run_dir]
    if len(labels) != len(FLAGS.run_dir):
        raise app.UsageError(f"--label was given {len(labels)} times for {len(FLAGS.run_dir)} --run_dir.")
    panels = []
    for run_dir, label in zip(FLAGS.run_dir, labels):
        try:
            _, vocab, model, epoch = load_run(run_dir, FLAGS.checkpoint)
        except RunError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        tokens = vocab.tokenize(sentence)
        source_ids = vocab.encode_source(tokens)
        if not source_ids:
            print(f"error: no word left after tokenization in {sentence!r}.", file=sys.stderr)
            return 1
        try:
            trace = trace_attention(model, source_ids)
        except ValueError as error:
            print(f"error: {run_dir}: {error}", file=sys.stderr)
            return 1
        source = [vocab.source.id_to_token[i] for i in source_ids]
        output = [vocab.target.id_to_token[i] for i in trace.output_ids]
        print(f"{label} (epoch {epoch}): {' '.join(output)}")
        panels.append((f"{label} (epoch {epoch})", source, output, trace.weights, trace.sigma, trace.attention))
    plot_attention(panels, FLAGS.output, title=sentence)
    print(f"Wrote {FLAGS.output}")
    return 0


if __name__ == "__main__":
    run_script(main)
