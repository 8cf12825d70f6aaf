"""Speed against the floor: training steps, decoding, and one epoch (issue: speed and scale).

    python benchmarks/bench_speed.py                      # all presets, decoding of 1,000 test inputs
    python benchmarks/bench_speed.py --decode_inputs 0    # the whole qgen test set (11,877 inputs)
    python benchmarks/bench_speed.py --epoch              # also one full training epoch of VED+VAttn-h̄

The floor of a training step is the time of the matrix products no implementation can avoid:
the output projection's forward (X W) and backward (dL W^T, X^T dL) over the batch's real target
tokens, timed with the same library in the same process. The decoding floor is the forward
projection of the tokens actually generated.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from tf_varattn.config import PRESETS  # noqa: E402
from tf_varattn.config_flags import check_choices  # noqa: E402
from tf_varattn.reporting.paper import table_presets  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("presets", table_presets("table2"), "Presets whose training step is timed (default: Table 2's).")
check_choices("presets", PRESETS)
flags.DEFINE_integer("steps", 30, "Timed steps per preset (after warm-up).")
flags.DEFINE_integer("warmup", 3, "Untimed steps first (tracing, caches).")
flags.DEFINE_integer("decode_inputs", 1000, "Test inputs decoded (0: all).")
flags.DEFINE_integer("num_samples", 10, "Samples per input in sampling decoding.")
flags.DEFINE_boolean("epoch", False, "Also time one full training epoch of ved_vattn_mean.")
flags.DEFINE_boolean("mixed_precision", False, "Run with the bf16 mixed-precision policy.")
flags.DEFINE_boolean("xla_projection", True, "Fused softmax cross-entropy (XLA) for the output projection.")
flags.DEFINE_integer("bucket_pool", None, "Length bucketing pool in batches (0: off; default: the config's).")
flags.DEFINE_string("run_dir", None, "Decode with this trained run's model (an untrained model stops at random).")
flags.DEFINE_string("data_dir", None, "Data directory (default: $VARATTN_DATA_DIR, ./data, ../shared/data).")


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def median_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv):
    del argv
    import numpy as np
    import tensorflow as tf

    from tf_varattn.config import get_config
    from tf_varattn.data.corpora import DataError, TASKS
    from tf_varattn.data.pipeline import EncodedSplit, make_dataset
    from tf_varattn.decoding import Decoder
    from tf_varattn.models import build_model
    from tf_varattn.training.step import make_train_step

    print(f"machine: {os.cpu_count()} cores, {cpu_name()}; TensorFlow {tf.__version__}; "
          f"mixed_precision={FLAGS.mixed_precision}, xla_projection={FLAGS.xla_projection}")
    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    base = get_config("ved_vattn_mean", "qgen", pretrained_embeddings=False, mixed_precision=FLAGS.mixed_precision,
                      xla_projection=FLAGS.xla_projection)
    try:
        from tf_varattn.data.prepare import prepare_task_data
        import tempfile

        data = prepare_task_data(base, tempfile.mkdtemp(), FLAGS.data_dir)
        train, test = data.encoded["train"], data.encoded["test"]
        sizes = dict(source_vocab_size=len(data.vocab.source), target_vocab_size=len(data.vocab.target))
        print(f"data: qgen, {len(train)} train pairs, vocabularies {sizes}")
    except DataError as error:
        rng = np.random.default_rng(0)
        spec = TASKS["qgen"]
        fake = lambda n, high: [list(rng.integers(4, 40_000, rng.integers(5, high + 1))) for _ in range(n)]
        train = EncodedSplit(fake(75_722, spec.max_source_length), [t + [3] for t in fake(75_722, 15)])
        test = EncodedSplit(fake(11_877, spec.max_source_length), [])
        sizes = dict(source_vocab_size=40_000, target_vocab_size=40_000)
        print(f"data absent ({error.__class__.__name__}); random ids with 40k vocabularies")

    bucket_pool = base.bucket_pool if FLAGS.bucket_pool is None else FLAGS.bucket_pool
    print(f"batches: 100 pairs, length bucketing pool {bucket_pool} batches")
    batches = list(make_dataset(train, 100, shuffle=True, seed=0, bucket_pool=bucket_pool).take(FLAGS.warmup + FLAGS.steps))
    real_tokens = [int(tf.reduce_sum(b["target_length"])) for b in batches]
    compute_dtype = tf.bfloat16 if FLAGS.mixed_precision else tf.float32

    @tf.function(reduce_retracing=True)
    def projection_floor(x, w, grad):
        logits = tf.matmul(x, w)
        return logits, tf.matmul(grad, w, transpose_b=True), tf.matmul(x, grad, transpose_a=True)

    def floor_for(tokens: int, vocab: int, features: int, backward=True) -> float:
        x = tf.random.normal([tokens, features], dtype=compute_dtype)
        w = tf.random.normal([features, vocab], dtype=compute_dtype)
        g = tf.random.normal([tokens, vocab], dtype=compute_dtype)
        if backward:
            run = lambda: [t.numpy() for t in projection_floor(x, w, g)[1:]] and None
        else:
            run = lambda: tf.matmul(x, w).numpy()
        run()
        return median_time(run, 5)

    vocab = sizes["target_vocab_size"]
    floors = {}  # projection input size -> the floor of every timed batch

    def step_floors(features: int) -> list[float]:
        if features not in floors:
            by_tokens = {n: floor_for(n, vocab, features) for n in sorted(set(real_tokens[FLAGS.warmup:]))}
            floors[features] = [by_tokens[n] for n in real_tokens[FLAGS.warmup:]]
        return floors[features]

    print("\n## Training step (batch 100, qgen lengths; floor = output projection fwd+bwd over real tokens, "
          "with the preset's projection input: the 100-d attentional vector, or the 200-d LSTM output without attention)")
    print("| preset | median step (ms) | target tokens/s | median floor (ms) | step / floor (sum over steps) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for preset in FLAGS.presets:
        config = get_config(preset, "qgen", pretrained_embeddings=False, mixed_precision=FLAGS.mixed_precision,
                            xla_projection=FLAGS.xla_projection, **sizes)
        model = build_model(config)
        batch_floors = step_floors(model.decoder_cell.output_size)
        step = make_train_step(model)  # the training runs' step
        # Warm-up: every timed batch once, so each XLA shape bucket is compiled before timing
        # (a training run compiles each bucket once, then reuses it for thousands of steps).
        for batch in batches:
            float(step(batch)["loss"])
        times = []
        for batch in batches[FLAGS.warmup:]:
            start = time.perf_counter()
            float(step(batch)["loss"])
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        tokens = sum(real_tokens[FLAGS.warmup:]) / sum(times)
        ratio = sum(times) / sum(batch_floors)
        print(f"| {preset} | {median * 1e3:.0f} | {tokens:,.0f} | {statistics.median(batch_floors) * 1e3:.0f} | {ratio:.2f} |")

    # The same step's matrix products with no loop: each as one product over the median batch's real
    # tokens. What a step takes above this is per-operation overhead and element-wise work.
    source_tokens = int(statistics.median(int(tf.reduce_sum(b["source_length"])) for b in batches[FLAGS.warmup:]))
    target_tokens = int(statistics.median(real_tokens[FLAGS.warmup:]))
    e, u, d, k = base.embedding_dim, base.encoder_units, base.decoder_units, base.attentional_dim
    memory, latent = 2 * u, base.latent_dim

    def fwd_bwd(rows, inner, cols, input_gradient=True):
        """x [rows, inner] @ w [inner, cols], its weight gradient and (optionally) its input gradient."""
        return [((rows, inner), (inner, cols)), ((inner, rows), (rows, cols))] + (
            [((rows, cols), (cols, inner))] if input_gradient else [])

    products = {
        "encoder (both directions)": 2 * (fwd_bwd(source_tokens, e, 4 * u, False) + fwd_bwd(source_tokens, u, 4 * u)),
        "decoder LSTM": fwd_bwd(target_tokens, e + latent, 4 * d, False) + fwd_bwd(target_tokens, k + d, 4 * d),
        "attention, variational attention, attentional layer": fwd_bwd(source_tokens, memory, d)
        + 3 * fwd_bwd(target_tokens, memory, memory) + fwd_bwd(target_tokens, d + memory, k),
    }

    @tf.function(reduce_retracing=True)
    def run_products(pairs):
        return [tf.reduce_sum(tf.matmul(a, b)[:1, :1]) for a, b in pairs]

    print(f"\n## Matrix products only (ved_vattn_mean, one product each over {source_tokens} source and "
          f"{target_tokens} target tokens, no loop)")
    print("| part | fwd+bwd (ms) |")
    print("| --- | ---: |")
    floor_ms = statistics.median(step_floors(k)) * 1e3
    total = floor_ms
    for name, shapes in products.items():
        pairs = [(tf.random.normal(a, dtype=compute_dtype), tf.random.normal(b, dtype=compute_dtype)) for a, b in shapes]
        elapsed = median_time(lambda: [t.numpy() for t in run_products(pairs)], 7) * 1e3
        total += elapsed
        print(f"| {name} | {elapsed:.1f} |")
    print(f"| output projection (the floor) | {floor_ms:.1f} |")
    print(f"| sum / floor | {total / floor_ms:.2f} |")

    inputs = test.source_ids if FLAGS.decode_inputs == 0 else test.source_ids[: FLAGS.decode_inputs]
    if FLAGS.run_dir:
        from tf_varattn.training.runs import load_run

        _, _, model, epoch = load_run(FLAGS.run_dir)
        preset = f"{model.settings.preset} from {FLAGS.run_dir}, epoch {epoch}"
    decoder = Decoder(model)
    print(f"\n## Decoding ({preset}, {len(inputs)} test inputs; floor = output projection of generated tokens)")
    print("| mode | wall (s) | generated tokens | floor (s) | wall / floor |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for mode, samples in (("map", 1), ("sample", FLAGS.num_samples)):
        decoder.decode(inputs[:100], mode, samples, batch_size=max(1, 1000 // samples))  # trace
        start = time.perf_counter()
        ids = decoder.decode(inputs, mode, samples, batch_size=max(1, 1000 // samples))
        wall = time.perf_counter() - start
        steps_per_row = np.minimum((ids == 3).argmax(-1) + 1, ids.shape[-1])
        steps_per_row[(ids == 3).sum(-1) == 0] = ids.shape[-1]
        generated = int(steps_per_row.sum())
        chunk = 1000
        decode_floor = floor_for(chunk, vocab, model.decoder_cell.output_size, backward=False) * generated / chunk
        print(f"| {mode} x{samples} | {wall:.1f} | {generated:,} | {decode_floor:.1f} | {wall / decode_floor:.2f} |")

    if FLAGS.epoch:
        config = get_config("ved_vattn_mean", "qgen", pretrained_embeddings=False, mixed_precision=FLAGS.mixed_precision,
                            xla_projection=FLAGS.xla_projection, **sizes)
        model = build_model(config)
        step = make_train_step(model)  # the training runs' step
        start = time.perf_counter()
        for batch in make_dataset(train, 100, shuffle=True, seed=0, bucket_pool=bucket_pool):
            float(step(batch)["loss"])
        print(f"\n## One training epoch of ved_vattn_mean on {len(train)} pairs: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    app.run(main)
