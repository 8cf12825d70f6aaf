"""Two training steps under MirroredStrategy on two logical CPUs match one device (subprocess:
logical devices must be set before TensorFlow starts)."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tf_varattn.config import get_config
    from tf_varattn.models import build_model
    from tf_varattn.training.loop import make_train_step

    rng = np.random.default_rng(0)
    batches = [{
        "source_ids": tf.constant(rng.integers(4, 30, (8, 6)), tf.int32),
        "source_length": tf.constant(rng.integers(2, 7, 8), tf.int32),
        "target_ids": tf.constant(rng.integers(4, 30, (8, 5)), tf.int32),
        "target_length": tf.constant(rng.integers(2, 6, 8), tf.int32),
    } for _ in range(2)]
    # Deterministic model (no dropout, no sampling) so one device and two replicas see the same numbers.
    config = get_config("ded_dattn", source_vocab_size=30, target_vocab_size=30, embedding_dim=8, encoder_units=4,
                        decoder_units=8, attentional_dim=6, dropout=0.0, clip_value=0.05)
    results = {}
    for name, strategy in (("single", tf.distribute.get_strategy()),
                           ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = build_model(config)
        step = make_train_step(model, strategy)
        losses = []
        for batch in batches:
            data = batch if name == "single" else next(iter(strategy.experimental_distribute_dataset(
                tf.data.Dataset.from_tensors(batch))))
            losses.append(float(step(data)["loss"]))
        results[name] = {"replicas": strategy.num_replicas_in_sync, "losses": losses,
                         "kernel": model.output_projection.kernel.numpy().ravel()[:50].tolist()}
    print(json.dumps(results))
""")


def test_mirrored_strategy_matches_single_device():
    import json

    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert results["mirrored"]["replicas"] == 2
    single, mirrored = results["single"], results["mirrored"]
    assert single["losses"][0] != single["losses"][1]
    for a, b in zip(single["losses"], mirrored["losses"]):
        assert abs(a - b) <= 1e-4 * abs(a)
    for a, b in zip(single["kernel"], mirrored["kernel"]):
        assert abs(a - b) <= 1e-5
