"""Evaluate a run on the test set: MAP and sampling (Tables 2 and 4), plus a sample file (as Table 3)
and every output, compressed (``<split>_outputs.jsonl.gz``: MAP and all samples of every input),
from which the tables' bootstrap intervals are computed.

Sampling metrics average three sampling runs (``--sampling_seeds``), as the paper's do. The
paper decodes greedily; ``--search`` picks another search (beam, top_k, top_p, random) for both
rows, and its files are named after it (``test_metrics-beam5.json``; ``--min_length 5``:
``test_metrics-greedy_min5.json``...), beside the paper's; so
are those of another epoch than the run's evaluation epoch (``--checkpoint 10``:
``test_metrics-epoch10.json``) and of a quick check on the first inputs (``--max_inputs 20``:
``test_metrics-first20.json``). The run's evaluation epoch (its config's ``eval_epoch``, or its last
epoch when it trains fewer) must exist: a run still training is refused, not evaluated from its
newest checkpoint.

It also writes ``<split>_diagnostics.json`` (:mod:`tf_varattn.diagnostics`): KL_z and KL_att per
token, active units and I(x; z) on the first ``--diagnostics_inputs`` pairs, and the bypass probe
(greedy BLEU with the posterior means against z, then the attention, drawn from its prior) on
every evaluated input. ``--diagnostics_only`` writes just that file.

And ``<split>_likelihood.json`` (:mod:`tf_varattn.likelihood`): per target token, the negative ELBO
at KL weight 1 (reconstruction, KL_z, KL_att summed over every step), the importance-weighted
estimate of -log p(y | x) with ``--likelihood_samples`` joint draws of z and the attention path,
and its perplexity, on the first ``--likelihood_inputs`` pairs, with 95% bootstrap intervals and the
estimate at fewer draws. ``--likelihood_only`` writes just that file.

``--diversity_sources`` writes only ``<split>_diversity_sources.json``: where the diversity of
sampling comes from, as three sampling passes (seed 0): only z random (the attention at its
posterior mean), only the attention random (z at its mean), and both. The passes the evaluation
already decoded are not decoded again (``--noreuse_evaluation`` decodes them): "both" is its
seed-0 sampling run; with a deterministic attention "z" is too, and "attention" is MAP decoding.

A stopped evaluation resumes after its last finished decoding pass (MAP, each sampling seed, each
probe decoding): the passes are kept in ``<run_dir>/<split>_evaluation_progress/`` until the results are
written, and ``<split>_metrics.json``, the sign of a finished evaluation, is written last.

    python experiments/evaluate.py --run_dir runs/qgen/ved_vattn_mean [--checkpoint 7]
    python experiments/evaluate.py --run_dir runs/qgen/ved_vattn_mean --search beam --beam_size 5
    python experiments/evaluate.py --run_dir runs/qgen/ved_vattn_mean --diagnostics_only
    python experiments/evaluate.py --run_dir runs/qgen/ved_vattn_mean --likelihood_only --likelihood_samples 200
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tf_varattn.runtime import import_tensorflow_quietly, run_script  # noqa: E402

import_tensorflow_quietly()

from tf_varattn.plugins import define_user_dir_flag, load_or_exit  # noqa: E402

USER_CODE = load_or_exit()  # --user_dir, or the run's recorded one: its attentions and searches become choices

from absl import flags  # noqa: E402

from tf_varattn.config_flags import check_integers  # noqa: E402
from tf_varattn.decoding import define_search_flags  # noqa: E402

FLAGS = flags.FLAGS
define_user_dir_flag()
define_search_flags()
flags.DEFINE_string("run_dir", None, "Run directory written by train.py.", required=True)
flags.DEFINE_integer("checkpoint", None, "Epoch to evaluate (default: the run's evaluation epoch, its config's "
                     "eval_epoch or its last; another epoch's files are named -epochN).")
flags.DEFINE_string("data_dir", None, "Data directory (default: $VARATTN_DATA_DIR, ./data, ../shared/data).")
flags.DEFINE_enum("split", "test", ["val", "test"], "Split to evaluate.")
flags.DEFINE_integer("num_samples", 10, "Samples per input for the sampling metrics.", lower_bound=1)
flags.DEFINE_list("sampling_seeds", ["0", "1", "2"], "One sampling run per seed; the metrics average the runs.")
check_integers("sampling_seeds", minimum=0, at_least_one=True)
flags.DEFINE_integer("max_inputs", None, "Evaluate only the first N inputs (a quick check: its files are named "
                     "-firstN and never count as the run's evaluation).", lower_bound=1)
flags.DEFINE_integer("batch_size", 100, "Inputs decoded together (times num_samples when sampling).")
flags.DEFINE_integer("num_examples_in_file", 100, "Inputs written to the sample file.")
flags.DEFINE_integer("diagnostics_inputs", 1000, "Pairs for KL per token, active units and I(x; z) (as after each epoch).")
flags.DEFINE_bool("diagnostics_only", False, "Write only <split>_diagnostics.json (latent diagnostics and bypass probe).")
flags.DEFINE_bool("likelihood_only", False, "Write only <split>_likelihood.json (negative ELBO, importance-weighted NLL).")
flags.DEFINE_bool("diversity_sources", False, "Write only <split>_diversity_sources.json: sampling with only z "
                  "random, only the attention random, and both (seed 0).")
flags.DEFINE_bool("reuse_evaluation", True, "With --diversity_sources, take the passes the run's evaluation "
                  "already decoded (its seed-0 sampling run; with an attention without noise, MAP decoding) instead "
                  "of decoding them again.")
flags.DEFINE_integer("likelihood_samples", 50, "Joint draws of z and the attention path per input for the "
                     "importance-weighted NLL (1: the ELBO of one draw).", lower_bound=1)
flags.DEFINE_integer("likelihood_inputs", 1000, "Pairs for the likelihood figures (the first N of the split).",
                     lower_bound=1)
flags.DEFINE_integer("likelihood_batch_size", 20, "Inputs whose draws are decoded together (times --likelihood_samples "
                     "sentences).", lower_bound=1)
flags.DEFINE_enum("scoring", None, ["ours", "reference", "reference_cut"],
                  "How the metrics are scored: ours; reference, the released code's (without the last partial batch, "
                  "references word_tokenize'd from the raw CSV, outputs re-tokenized); reference_cut, that with "
                  "references cut to the target limit (a hypothesis). Default: reference for a run trained with "
                  "--protocol=reference, else ours.")


def main(argv):
    del argv
    from tf_varattn.data.corpora import DataError
    from tf_varattn.data.prepare import prepare_task_data
    from tf_varattn.decoding import Decoder, search_from_flags
    from tf_varattn.evaluation import DecodingPasses
    from tf_varattn.interrupts import exit_status, signal_name, stop_points
    from tf_varattn.training.checkpoints import checkpoint_fingerprint
    from tf_varattn.training.runs import RunError, evaluation_epoch, load_run

    seeds = [int(seed) for seed in FLAGS.sampling_seeds]
    run_dir = Path(FLAGS.run_dir)
    try:
        search = search_from_flags()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    suffix = "" if search.tag == "greedy" else f"-{search.tag}"  # the paper's decoding keeps the plain names
    try:
        config, _, model, epoch = load_run(run_dir, FLAGS.checkpoint, newest_if_missing=False)
        if epoch != evaluation_epoch(config):  # the run's evaluation epoch keeps the plain names
            suffix += f"-epoch{epoch}"
        data = prepare_task_data(config.replace(pretrained_embeddings=False), run_dir, FLAGS.data_dir)
        data.require_split(FLAGS.split)
        if FLAGS.max_inputs is not None and FLAGS.max_inputs < len(data.encoded[FLAGS.split]):
            suffix += f"-first{FLAGS.max_inputs}"  # a quick check: never taken for the run's evaluation
    except (RunError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    decoder = Decoder(model, search)
    passes = DecodingPasses(run_dir / f"{FLAGS.split}_evaluation_progress{suffix}",
                            {"checkpoint_epoch": epoch, "checkpoint_sha256": checkpoint_fingerprint(run_dir, epoch),
                             "split": FLAGS.split, "search": search.describe()})
    try:
        with stop_points():  # Ctrl-C or SIGTERM stops after a decoded batch (tf_varattn/interrupts.py)
            evaluate_and_diagnose(run_dir, config, data, model, decoder, search, epoch, suffix, seeds, passes)
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM
        kept = list(passes.directory.glob("*.json.gz"))  # (none when the folder was never made)
        print(f"\nStopped ({signal_name(stop)}): {len(kept)} finished decoding pass(es) kept in {passes.directory}; rerun the same "
              "command to resume after them.", file=sys.stderr)
        return exit_status(stop)
    passes.clear()
    return 0


def first_inputs(count: int) -> int:
    """``count`` pairs, or the fewer of ``--max_inputs`` (a quick check covers only its first inputs)."""
    return min(count, FLAGS.max_inputs or count)


def write_likelihood(run_dir, model, data, epoch, suffix):
    """<split>_likelihood.json: the negative ELBO and the importance-weighted NLL per target token."""
    from tf_varattn.likelihood import split_likelihood
    from tf_varattn.training.runs import write_json

    pairs = data.encoded[FLAGS.split]
    limit = first_inputs(FLAGS.likelihood_inputs)
    count = min(limit, len(pairs))
    print(f"Likelihood on {FLAGS.split} (first {count} pairs, {FLAGS.likelihood_samples} draws each)")
    start = time.perf_counter()
    result = {"checkpoint_epoch": epoch, "split": FLAGS.split,
              **split_likelihood(model, pairs, FLAGS.likelihood_samples, limit,
                                 FLAGS.likelihood_batch_size, progress=True)}
    result["seconds"] = round(time.perf_counter() - start, 1)
    path = run_dir / f"{FLAGS.split}_likelihood{suffix}.json"
    write_json(path, result)
    ppl = result["perplexity"]["value"]
    print(f"Wrote {path}: NLL {result['nll']['value']:.4f} nats per token (perplexity "
          f"{'beyond a float' if ppl is None else f'{ppl:.2f}'}), negative ELBO {result['negative_elbo']['value']:.4f}")


# Where the diversity comes from: (z's temperature, the attention's) of each sampling pass, as
# factors of the config's (0: that latent at its posterior mean).
DIVERSITY_SOURCES = {"z": (1.0, 0.0), "attention": (0.0, 1.0), "both": (1.0, 1.0)}


def decoded_by_the_evaluation(run_dir, config, epoch, suffix, search, inputs):
    """The diversity sources' passes that the run's evaluation (``<split>_metrics`` and
    ``<split>_outputs`` of the same suffix) already decoded, by name: "both" is its seed-0 sampling
    run, if it drew as many samples per input in batches of the same size with the same search at
    the same epoch. With an attention that has no noise, "z" is that run too, and "attention" (z at
    its mean, a deterministic search: nothing random) is MAP decoding, its output repeated."""
    from tf_varattn.attention_registry import ATTENTION_POSTERIORS
    from tf_varattn.evaluation import SplitOutputs, sampling_batch_size

    metrics_path = run_dir / f"{FLAGS.split}_metrics{suffix}.json"
    outputs_path = run_dir / f"{FLAGS.split}_outputs{suffix}.jsonl.gz"
    if not (metrics_path.is_file() and outputs_path.is_file()):
        return {}
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except ValueError as error:
        print(f"warning: {metrics_path} is damaged ({error}); decoding every pass.", file=sys.stderr)
        return {}
    if not metrics or not metrics.get("sample_runs") or metrics["sample_runs"][0].get("seed") != 0 or (
            metrics.get("checkpoint_epoch"), metrics.get("search"), metrics.get("inputs"), metrics.get("num_samples"),
            metrics.get("sampling_batch_size")) != (epoch, search.describe(), inputs, FLAGS.num_samples,
                                                    sampling_batch_size(FLAGS.num_samples, FLAGS.batch_size)):
        return {}
    outputs = SplitOutputs.read(outputs_path)
    reused = {"both": outputs.samples[0]}
    kind = ATTENTION_POSTERIORS.get(config.attention)
    if kind is not None and not kind.random:
        reused["z"] = outputs.samples[0]
        if search.deterministic:
            reused["attention"] = [[output] * FLAGS.num_samples for output in outputs.map]
    return reused


def write_diversity_sources(run_dir, config, data, decoder, search, epoch, suffix):
    """<split>_diversity_sources.json: the sampling metrics with only z random, only the attention
    random, and both (seed 0), each pass resumable (kept until the file is written); the passes the
    evaluation already decoded are taken from its outputs (``--reuse_evaluation``)."""
    from tf_varattn.evaluation import DecodingPasses, evaluate_split, pooling_of, sampling_batch_size, score
    from tf_varattn.training.checkpoints import checkpoint_fingerprint
    from tf_varattn.training.runs import write_json

    sources, references = data.encoded[FLAGS.split].source_ids, data.references(FLAGS.split)
    inputs = len(sources[:FLAGS.max_inputs])
    reused = decoded_by_the_evaluation(run_dir, config, epoch, suffix, search, inputs) if FLAGS.reuse_evaluation else {}
    folder = run_dir / f"{FLAGS.split}_diversity_progress{suffix}"
    identity = {"checkpoint_epoch": epoch, "checkpoint_sha256": checkpoint_fingerprint(run_dir, epoch),
                "split": FLAGS.split, "search": search.describe()}
    passes = {name: DecodingPasses(folder / name, identity) for name in DIVERSITY_SOURCES}
    result = {"checkpoint_epoch": epoch, "split": FLAGS.split, "search": search.describe(), "seed": 0,
              "num_samples": FLAGS.num_samples, "batch_size": FLAGS.batch_size, "sources": {}}
    for name, (z_factor, attention_factor) in DIVERSITY_SOURCES.items():
        temperatures = dict(z_temperature=z_factor * config.z_temperature,
                            attention_temperature=attention_factor * config.attention_temperature)
        if name in reused:
            print(f"Sampling with {name} random ({temperatures}): decoded by the evaluation, taken from its outputs")
            metrics = score(references[:inputs], reused[name], pooling_of(data.vocab, decoder.max_length))
            result.setdefault("reused_from_evaluation", []).append(name)
        else:
            print(f"Sampling with {name} random ({temperatures})")
            metrics, _ = evaluate_split(
                decoder, data.vocab, sources, references, "sample", FLAGS.num_samples, limit=FLAGS.max_inputs, seed=0,
                passes=passes[name], progress=True,
                batch_size=sampling_batch_size(FLAGS.num_samples, FLAGS.batch_size), **temperatures)
        result["sources"][name] = {**temperatures, **metrics}
    result["inputs"] = inputs
    path = run_dir / f"{FLAGS.split}_diversity_sources{suffix}.json"
    write_json(path, result)
    for kept in passes.values():
        kept.clear()
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    print(f"Wrote {path}: " + "; ".join(f"{name}: entropy {row['entropy']:.3f}, BLEU-4 {row['bleu4']:.2f}"
                                         for name, row in result["sources"].items()))


def evaluate_and_diagnose(run_dir, config, data, model, decoder, search, epoch, suffix, seeds, passes):
    """The test metrics (unless --diagnostics_only), the latent diagnostics with the bypass probe and
    the likelihood (or only the likelihood: --likelihood_only), written."""
    from tf_varattn.diagnostics import LatentDiagnostics, bypass_probe
    from tf_varattn.training.runs import write_json

    if FLAGS.likelihood_only:
        write_likelihood(run_dir, model, data, epoch, suffix)
        return
    if FLAGS.diversity_sources:
        write_diversity_sources(run_dir, config, data, decoder, search, epoch, suffix)
        return

    sources, references = data.encoded[FLAGS.split].source_ids, data.references(FLAGS.split)
    results = None if FLAGS.diagnostics_only else evaluate(run_dir, config, data, decoder, search, epoch, suffix, seeds,
                                                           passes)
    latent_inputs = min(first_inputs(FLAGS.diagnostics_inputs), len(sources))
    print(f"Latent diagnostics on {FLAGS.split} (first {latent_inputs} pairs) and the bypass probe")
    start = time.perf_counter()
    diagnostics = {"checkpoint_epoch": epoch, "split": FLAGS.split, "search": search.describe(),
                   "latents": LatentDiagnostics(model, FLAGS.batch_size)(data.encoded[FLAGS.split], latent_inputs),
                   "diagnostics_inputs": latent_inputs,
                   "bypass": bypass_probe(decoder, data.vocab, sources, references, batch_size=FLAGS.batch_size,
                                          limit=FLAGS.max_inputs, progress=True,
                                          map_metrics=results and results["map"], passes=passes),
                   "bypass_inputs": len(sources[:FLAGS.max_inputs])}
    diagnostics["seconds"] = round(time.perf_counter() - start, 1)
    if passes.reused:  # their decoding time is not in "seconds"
        for finished in (diagnostics, results or {}):
            finished["reused_passes"] = passes.reused
    path = run_dir / f"{FLAGS.split}_diagnostics{suffix}.json"
    write_json(path, diagnostics)
    print(f"Wrote {path}: {diagnostics}")
    if not FLAGS.diagnostics_only:
        write_likelihood(run_dir, model, data, epoch, suffix)
    if results is not None:
        path = run_dir / f"{FLAGS.split}_metrics{suffix}.json"
        write_json(path, results)
        print(f"Wrote {path}: {results}")


def evaluate(run_dir, config, data, decoder, search, epoch, suffix, seeds, passes):
    """The MAP and sampling outputs and sample file; returns the metrics (written by ``main``, last)."""
    from tf_varattn.evaluation import SplitOutputs, average_runs, evaluate_split, sampling_batch_size

    sources, references = data.encoded[FLAGS.split].source_ids, data.references(FLAGS.split)
    common = dict(limit=FLAGS.max_inputs, progress=True, z_temperature=config.z_temperature,
                  attention_temperature=config.attention_temperature, passes=passes)
    print(f"MAP decoding of {FLAGS.split} (epoch {epoch}, {search.describe()})")
    start = time.perf_counter()
    map_metrics, map_outputs = evaluate_split(decoder, data.vocab, sources, references, "map", 1,
                                              batch_size=FLAGS.batch_size, **common)
    # Sampling draws its noise batch by batch: the sample rows depend on the batch size, which is recorded.
    results = {"checkpoint_epoch": epoch, "split": FLAGS.split, "search": search.describe(), "inputs": len(map_outputs),
               "batch_size": FLAGS.batch_size, "sampling_batch_size": sampling_batch_size(FLAGS.num_samples, FLAGS.batch_size),
               "num_samples": FLAGS.num_samples,
               "map": map_metrics,
               "seconds": {"map": round(time.perf_counter() - start, 1)}}
    sample_runs = []
    if config.variational:
        results["sample_runs"], results["seconds"]["sample"] = [], []
        for seed in seeds:
            print(f"Sampling decoding, seed {seed} ({FLAGS.num_samples} samples per input)")
            start = time.perf_counter()
            sample_metrics, sample_outputs = evaluate_split(
                decoder, data.vocab, sources, references, "sample", FLAGS.num_samples, seed=seed,
                batch_size=sampling_batch_size(FLAGS.num_samples, FLAGS.batch_size), **common,
            )
            sample_runs.append(sample_outputs)
            results["sample_runs"].append({"seed": seed, **sample_metrics})
            results["seconds"]["sample"].append(round(time.perf_counter() - start, 1))
        results["sample"] = average_runs([{k: v for k, v in run.items() if k != "seed"} for run in results["sample_runs"]])
    outputs_path = run_dir / f"{FLAGS.split}_outputs{suffix}.jsonl.gz"
    raw = data.raw[FLAGS.split]
    SplitOutputs(list(raw.sources[: len(map_outputs)]), [list(r) for r in references[: len(map_outputs)]], [per_input[0] for per_input in map_outputs],
                 sample_runs).write(outputs_path)
    lines = []
    for index in range(min(FLAGS.num_examples_in_file, len(map_outputs))):
        lines += [f"[{index}] source:    {raw.sources[index]}", f"    reference: {raw.targets[index]}",
                  f"    MAP:       {' '.join(map_outputs[index][0])}"]
        for sample in (sample_runs[0][index] if sample_runs else []):
            lines.append(f"    sample:    {' '.join(sample)}")
        lines.append("")
    (run_dir / f"{FLAGS.split}_samples{suffix}.txt").write_text("\n".join(lines), encoding="utf-8")
    print(f"Wrote {outputs_path} and the sample file")
    scoring = FLAGS.scoring or ("reference" if config.protocol == "reference" else "ours")
    results["scoring"], results["protocol"] = scoring, config.protocol
    if scoring != "ours":
        from tf_varattn.evaluation import pooling_of, rescore

        rescored = rescore(SplitOutputs.read(outputs_path), raw.targets, pooling_of(data.vocab, decoder.max_length),
                           scoring, config.batch_size, data.vocab.spec.max_target_length)
        for seed_run, metrics in zip(results.get("sample_runs", []), rescored.get("sample_runs", [])):
            seed_run.update(metrics)
        results.update({k: v for k, v in rescored.items() if k != "sample_runs"})
    results["diversity_pooling"] = "released"
    return results


if __name__ == "__main__":
    run_script(main)
