"""Two training steps under MirroredStrategy on two logical CPUs match one device (own process:
logical devices must be set before TensorFlow starts), and two workers of a cluster match one
process. Each script is its own process, forked from the script server (tests/script_server.py)."""

import subprocess
import textwrap

SCRIPT = textwrap.dedent("""
    import json, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tf_varattn.config import get_config
    from tf_varattn.models import build_model
    from tf_varattn.training.step import make_train_step

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


def _script(folder, name, text):
    path = folder / name
    path.write_text(text)
    return path


def test_mirrored_strategy_matches_single_device(tmp_path, script_server):
    import json

    result = script_server.run(_script(tmp_path, "mirrored.py", SCRIPT),
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


WORKER = textwrap.dedent("""
    import json, os, sys, numpy as np, tensorflow as tf
    import keras
    from tf_varattn.config import get_config
    from tf_varattn.models import build_model
    from tf_varattn.training.distribute import cluster_failure, make_strategy
    from tf_varattn.training.step import make_train_step

    rng = np.random.default_rng(0)
    batches = [{
        "source_ids": rng.integers(4, 30, (8, 6)).astype(np.int32),
        "source_length": rng.integers(2, 7, 8).astype(np.int32),
        "target_ids": rng.integers(4, 30, (8, 5)).astype(np.int32),
        "target_length": rng.integers(2, 6, 8).astype(np.int32),
    } for _ in range(3)]
    config = get_config("ded_dattn", source_vocab_size=30, target_vocab_size=30, embedding_dim=8, encoder_units=4,
                        decoder_units=8, attentional_dim=6, dropout=0.0, clip_value=0.05)
    mode, crash_before = sys.argv[1], int(sys.argv[2])
    strategy = make_strategy("none" if mode == "single" else "multi_worker", collective_timeout_seconds=20)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_model(config)
    step = make_train_step(model, strategy)
    losses = []
    try:
        for index, batch in enumerate(batches):
            if index == crash_before:
                os._exit(3)  # this worker dies without a word
            if mode == "single":
                data = {k: tf.constant(v) for k, v in batch.items()}
            else:  # each worker feeds its half of the global batch
                def shard(context, batch=batch):
                    rows = slice(4 * context.input_pipeline_id, 4 * (context.input_pipeline_id + 1))
                    return tf.data.Dataset.from_tensors({k: v[rows] for k, v in batch.items()})
                data = next(iter(strategy.distribute_datasets_from_function(shard)))
            losses.append(float(step(data)["loss"]))
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as error:
        print(f"error: {cluster_failure(error)}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "losses": losses}))
""")


def _free_port():
    import socket

    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return handle.getsockname()[1]


def _start_workers(server, folder, crash_before=(-1, -1)):
    import json

    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(2)]}
    worker = _script(folder, "worker.py", WORKER)
    return [server.start(
        worker, "multi", str(crash_before[index]), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin",
             "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})},
    ) for index in range(2)]


def test_two_workers_match_one_process_on_the_same_global_batch(tmp_path, script_server):
    import json

    single = script_server.run(_script(tmp_path, "single.py", WORKER), "single", "-1",
                               env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert single.returncode == 0, single.stderr[-3000:]
    expected = json.loads(single.stdout.strip().splitlines()[-1])["losses"]
    workers = _start_workers(script_server, tmp_path)
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (out, _) in zip(workers, outputs):  # a failure shows both workers' errors
        assert worker.returncode == 0, "\n".join(f"worker {i}: {e[-2000:]}" for i, (_, e) in enumerate(outputs))
        result = json.loads(out.strip().splitlines()[-1])
        assert result["replicas"] == 2 and len(result["losses"]) == 3
        for a, b in zip(expected, result["losses"]):
            assert abs(a - b) <= 1e-5 * abs(a)


def test_a_dead_worker_stops_the_other_with_a_clear_error_not_a_hang(tmp_path, script_server):
    import time

    start = time.monotonic()
    survivor, crashed = _start_workers(script_server, tmp_path, crash_before=(-1, 1))
    _, err = survivor.communicate(timeout=240)  # bounded: a hang fails the test here
    crashed.communicate(timeout=60)
    assert crashed.returncode == 3
    assert survivor.returncode == 1
    assert "error: another worker of the cluster stopped answering" in err and "Restart every worker" in err
    assert time.monotonic() - start < 240
