"""Compare the searches on one trained run: the paper's greedy decoding (latent means, and
sampled latents) against every other registered search (beam search, token sampling: random,
top-k, top-p; :mod:`tf_varattn.decoding.registry`) with its default options and the latent
means. One row per search: BLEU-1..4 against the references, entropy and Dist-1/2 of each input's
outputs (with more than one output per input), the mean output length and the seconds it took.
The paper's rows are evaluate.py's; this is the view beyond it. ``--min_lengths`` adds greedy
rows that hold EOS back until an output has that many tokens (how BLEU moves with length alone).

    python experiments/compare_searches.py --run_dir runs/qgen/ved_vattn_mean --output results/searches.md
    python experiments/compare_searches.py --run_dir runs/dialogue/ded_dattn --searches greedy \
        --min_lengths 4,6,8 --output results/searches-dialogue.md
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tf_varattn.runtime import import_tensorflow_quietly, run_script  # noqa: E402

import_tensorflow_quietly()

from tf_varattn.plugins import define_user_dir_flag, load_or_exit  # noqa: E402

USER_CODE = load_or_exit()  # --user_dir, or the run's recorded one: its attentions and searches become choices

from absl import flags  # noqa: E402

from tf_varattn.config_flags import check_choices, check_integers  # noqa: E402
from tf_varattn.decoding.registry import SEARCHES, comparison_rows  # noqa: E402

FLAGS = flags.FLAGS
define_user_dir_flag()
flags.DEFINE_string("run_dir", None, "Run directory written by train.py.", required=True)
flags.DEFINE_integer("checkpoint", None, "Epoch to load (default: the config's eval_epoch, else the last).")
flags.DEFINE_string("data_dir", None, "Data directory (default: $VARATTN_DATA_DIR, ./data, ../shared/data).")
flags.DEFINE_enum("split", "test", ["val", "test"], "Split to decode.")
flags.DEFINE_integer("max_inputs", None, "Decode only the first N inputs (quick checks).")
flags.DEFINE_integer("num_samples", 10, "Outputs per input of the sampling rows.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of every random draw (latents and tokens).")
flags.DEFINE_list("searches", None, f"Only the rows of these searches ({', '.join(SEARCHES)}; default: every row).")
check_choices("searches", SEARCHES)
flags.DEFINE_list("min_lengths", [], "Extra greedy rows (latent means) with EOS held back until this many tokens.")
check_integers("min_lengths", minimum=1)
flags.DEFINE_string("output", None, "Markdown file for the table (default: <run_dir>/<split>_searches.md); "
                    "a JSON file with the same numbers is written beside it.")

COLUMNS = ("bleu1", "bleu2", "bleu3", "bleu4", "entropy", "dist1", "dist2")


def render(rows: list[dict], title: str) -> str:
    lines = [f"# {title}", "",
             "| search | latents | outputs per input | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | Entropy | Dist-1 | Dist-2 "
             "| length | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = [f"{row['metrics'][c]:.2f}" if c.startswith("bleu") else
                 (f"{row['metrics'][c]:.3f}" if c in row["metrics"] else "-") for c in COLUMNS]
        length = f"{row['length']:.2f}" if "length" in row else "-"
        lines.append(f"| {row['search']} | {row['latents']} | {row['outputs_per_input']} | " + " | ".join(cells)
                     + f" | {length} | {row['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv

    from tf_varattn.data.corpora import DataError
    from tf_varattn.data.prepare import prepare_task_data
    from tf_varattn.decoding import Decoder, get_search
    from tf_varattn.evaluation import evaluate_split, sampling_batch_size
    from tf_varattn.training.runs import RunError, load_run, write_json

    run_dir = Path(FLAGS.run_dir)
    rows_to_run = [row for row in comparison_rows() if FLAGS.searches is None or row[0] in FLAGS.searches]
    rows_to_run += [("greedy", {"min_length": int(n)}, "map", 1) for n in FLAGS.min_lengths]
    try:  # every search is checked before the model is loaded
        searches = [get_search(name, **options) for name, options, *_ in rows_to_run]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        config, _, model, epoch = load_run(run_dir, FLAGS.checkpoint)
        data = prepare_task_data(config.replace(pretrained_embeddings=False), run_dir, FLAGS.data_dir)
        data.require_split(FLAGS.split)
    except (RunError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    sources, references = data.encoded[FLAGS.split].source_ids, data.references(FLAGS.split)
    inputs = len(sources[:FLAGS.max_inputs])
    title = (f"Searches on {run_dir.name} (epoch {epoch}), {FLAGS.split} set, {inputs} inputs, seed {FLAGS.seed}")
    output = Path(FLAGS.output) if FLAGS.output else run_dir / f"{FLAGS.split}_searches.md"
    output.parent.mkdir(parents=True, exist_ok=True)

    def write(rows):  # after every row: a stopped comparison keeps what it measured
        output.write_text(render(rows, title), encoding="utf-8")
        write_json(output.with_suffix(".json"), {"run": run_dir.name, "epoch": epoch, "split": FLAGS.split,
                                                 "inputs": inputs, "seed": FLAGS.seed, "rows": rows})

    rows = []
    for search, (_, _, mode, count) in zip(searches, rows_to_run):
        if mode == "sample" and not config.variational:
            continue  # no latent to sample
        count = count or FLAGS.num_samples
        decoder = Decoder(model, search)
        print(f"{decoder.search.describe()}, latents: {mode}, {count} per input")
        start = time.perf_counter()
        # seed and batches as evaluate.py's: its greedy rows come out the same
        metrics, outputs = evaluate_split(decoder, data.vocab, sources, references, mode, count,
                                          limit=FLAGS.max_inputs, seed=FLAGS.seed, progress=True,
                                          batch_size=100 if count == 1 else sampling_batch_size(count),
                                          z_temperature=config.z_temperature,
                                          attention_temperature=config.attention_temperature)
        rows.append({"search": decoder.search.describe(), "latents": "posterior means" if mode == "map" else "sampled",
                     "outputs_per_input": count, "metrics": metrics,
                     "length": sum(len(output) for per_input in outputs for output in per_input) / (len(outputs) * count),
                     "seconds": round(time.perf_counter() - start, 1)})
        write(rows)
    print(f"Wrote {output} and {output.with_suffix('.json').name}")
    print(output.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    run_script(main)
