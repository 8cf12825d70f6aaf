"""Train one paper model; rerunning the same command resumes after the last finished epoch.

    python experiments/train.py --task qgen --model ved_vattn_mean --output_dir runs/qgen/ved_vattn_mean
    python experiments/train.py --flagfile my.flags      # any config field as --<field>=value
"""

from __future__ import annotations

import sys
from pathlib import Path

from tf_varattn.runtime import import_tensorflow_quietly, run_script  # noqa: E402

import_tensorflow_quietly()

from tf_varattn.plugins import define_user_dir_flag, load_or_exit  # noqa: E402

USER_CODE = load_or_exit()  # --user_dir, or the run's recorded one: its attentions and searches become choices

from absl import app, flags  # noqa: E402

from tf_varattn.config import PRESETS, get_config  # noqa: E402
from tf_varattn.tasks import TASKS  # noqa: E402
from tf_varattn.config_flags import config_overrides, define_config_flags  # noqa: E402

FLAGS = flags.FLAGS
define_user_dir_flag()
flags.DEFINE_enum("task", "qgen", list(TASKS), "Task: " + "; ".join(f"{name}, {spec.description}" for name, spec in TASKS.items()) + ".")
flags.DEFINE_enum("model", "ved_vattn_mean", list(PRESETS), "Paper model (config preset).")
flags.DEFINE_string("output_dir", None, "Run directory (checkpoints, history.json, TensorBoard logs).", required=True)
flags.DEFINE_string("data_dir", None, "Data directory (default: $VARATTN_DATA_DIR, ./data, ../shared/data).")
flags.DEFINE_string("embedding_cache_dir", None, "Where word2vec vectors are cached, shared by every run that needs the "
                    "same vectors (default: $VARATTN_CACHE_DIR/word2vec, else ~/.cache/tf_varattn/word2vec).")
flags.DEFINE_integer("keep_checkpoints", 2, "Newest epoch checkpoints kept (the eval_epoch one is kept too).",
                     lower_bound=1)
flags.DEFINE_float("checkpoint_minutes", 10.0, "Also save inside an epoch every this many minutes of training "
                   "(a stopped run then resumes there, with the same batches and random draws).", lower_bound=0.0)
flags.DEFINE_enum("distribution_strategy", "none", ["none", "mirrored", "multi_worker"],
                  "tf.distribute strategy: one device, all local devices, or the workers in TF_CONFIG.")
flags.DEFINE_integer("stop_after_epoch", None, "Stop after this epoch (the run can be resumed later).")
flags.DEFINE_integer("restart_from_epoch", None,
                     "Resume from this epoch's checkpoint, setting later ones aside (after a damaged checkpoint; "
                     "0 starts over).", lower_bound=0)
flags.DEFINE_boolean("check_finished", False,
                     "Train nothing: exit 0 if --output_dir holds this exact config trained for all its epochs, "
                     "3 if it is absent or unfinished, 1 if it holds another config.")
define_config_flags()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {argv[1:]}; every setting is a --flag.")
    from tf_varattn.data.corpora import DataError
    from tf_varattn.data.prepare import prepare_task_data
    import tensorflow as tf

    from tf_varattn.interrupts import exit_status, signal_name
    from tf_varattn.training.distribute import cluster_failure
    from tf_varattn.training.loop import Trainer, TrainingError
    from tf_varattn.training.runs import RunError, RunLock, check_config, check_finished

    from tf_varattn.data.corpora import absolute_files
    from tf_varattn.plugins import record as record_user_code

    try:
        overrides = config_overrides()
        for field in ("train_file", "val_file", "test_file"):  # recorded absolute: evaluated from anywhere
            if overrides.get(field):
                overrides[field] = absolute_files(overrides[field])
        config = get_config(FLAGS.model, FLAGS.task, **overrides)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run_dir = Path(FLAGS.output_dir)
    cache_dir = Path(FLAGS.embedding_cache_dir) if FLAGS.embedding_cache_dir else None
    beside_the_run = run_dir.resolve().parent / "word2vec"  # where earlier versions cached them
    if FLAGS.check_finished:
        try:
            return 0 if check_finished(run_dir, config) else 3
        except RunError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    try:
        with RunLock(run_dir):
            # A different config in run_dir is refused before any expensive work (the vocabulary
            # sizes come from the data, so they are compared once it is loaded).
            check_config(run_dir, config, write=False)
            record_user_code(run_dir, USER_CODE)
            data = prepare_task_data(config, run_dir, FLAGS.data_dir, cache_dir, [beside_the_run])
            history = Trainer(config, run_dir, data, keep_checkpoints=FLAGS.keep_checkpoints,
                              checkpoint_minutes=FLAGS.checkpoint_minutes,
                              distribution_strategy=FLAGS.distribution_strategy).fit(
                                  FLAGS.stop_after_epoch, FLAGS.restart_from_epoch)
    except (DataError, TrainingError, RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM (tf_varattn/interrupts.py)
        print(f"\nStopped ({signal_name(stop)}): {run_dir} keeps {saved_state(run_dir)}; rerun the same command to "
              "resume from there.", file=sys.stderr)
        return exit_status(stop)
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as error:
        print(f"error: {cluster_failure(error)}", file=sys.stderr)
        return 1
    print(f"Trained {run_dir}: {len(history)} epoch(s) finished.")
    return 0


def saved_state(run_dir: Path) -> str:
    """What a stopped run can resume from, in words."""
    from tf_varattn.training.checkpoints import epoch_prefixes

    epochs = list(epoch_prefixes(run_dir))
    mid = sorted((run_dir / "checkpoints" / "mid_epoch").glob("step-*.index"))
    finished = f"the checkpoint of epoch {epochs[-1]}" if epochs else "no finished epoch"
    return finished + (" and a save inside the next epoch" if mid else "")


if __name__ == "__main__":
    run_script(main)
