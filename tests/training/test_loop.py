import fcntl
import json
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from conftest import write_synthetic_qgen

from tf_varattn.config import get_config
from tf_varattn.data.prepare import prepare_task_data
from tf_varattn.training import checkpoints
from tf_varattn.training.loop import Trainer, TrainingError
from tf_varattn.training.runs import RunError

TINY = dict(embedding_dim=16, encoder_units=8, decoder_units=16, latent_dim=4, attentional_dim=8, batch_size=16,
            epochs=3, eval_subset=10, num_samples=3, word2vec_epochs=2, max_decode_length=8)


def tiny_config(**overrides):
    return get_config("ved_vattn_mean", "qgen", **{**TINY, **overrides})


def train(run_dir, data_dir, stop_after_epoch=None, checkpoint_minutes=None, **overrides):
    config = tiny_config(**overrides)
    data = prepare_task_data(config, run_dir, str(data_dir))
    trainer = Trainer(config, run_dir, data, log=lambda _: None, progress=False, checkpoint_minutes=checkpoint_minutes)
    return trainer, trainer.fit(stop_after_epoch)


def without_times(history):
    return [{k: v for k, v in entry.items() if not k.endswith("_seconds")} for entry in history]


class TrainedRun(NamedTuple):
    """The tiny run without word2vec, trained once for 3 epochs; its directory as it was after each."""

    data_dir: Path
    folder: Path
    history: list  # of all 3 epochs
    variables: list  # the weights after epoch 3

    def copy_after(self, epoch: int, run_dir: Path) -> Path:
        """A copy of the run directory as ``train(run_dir, data_dir, stop_after_epoch=epoch)`` leaves it."""
        return Path(shutil.copytree(self.folder / f"after-epoch-{epoch}", run_dir))


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, worker_id) -> TrainedRun:
    """One training shared by the tests that stop, damage or resume a run: each starts from a copy
    instead of training its own first epochs. Under pytest-xdist the first worker to need it
    trains it and the others wait for it (a lock in the folder the workers share)."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    folder = shared / "trained-run"
    with open(shared / "trained-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not folder.exists():  # trained in a folder of its own, renamed once complete
            building = shared / "trained-run.part"
            shutil.rmtree(building, ignore_errors=True)  # left by a worker whose training failed
            data_dir = write_synthetic_qgen(building / "data")
            config, run = tiny_config(pretrained_embeddings=False), building / "run"
            trainer = Trainer(config, run, prepare_task_data(config, run, str(data_dir)), log=lambda _: None,
                              progress=False)
            for epoch in (1, 2, 3):  # one trainer stopped after each epoch and resumed, as `train` would be
                trainer.fit(epoch)
                shutil.copytree(run, building / f"after-epoch-{epoch}")
            np.savez(building / "variables.npz", *[variable.numpy() for variable in trainer.model.variables])
            building.rename(folder)
    data_dir = folder / "data"
    with np.load(folder / "variables.npz") as variables:
        weights = [variables[f"arr_{index}"] for index in range(len(variables.files))]
    return TrainedRun(data_dir, folder, json.loads((folder / "after-epoch-3" / "history.json").read_text()), weights)


def test_resumed_run_matches_uninterrupted_run(tmp_path, trained_run):
    """Stopped after epoch 1 and resumed by a new trainer (a new process, as it were), or stopped
    after every epoch in one trainer (``trained_run``): both end where an uninterrupted run ends.
    (With word2vec embeddings: the kill -9 test in tests/experiments/test_scripts.py.)"""
    full_trainer, full = train(tmp_path / "full", trained_run.data_dir, pretrained_embeddings=False)
    assert [e["epoch"] for e in full] == [1, 2, 3]
    resumed_trainer, resumed = train(trained_run.copy_after(1, tmp_path / "resumed"), trained_run.data_dir,
                                     pretrained_embeddings=False)
    assert without_times(resumed) == without_times(full) == without_times(trained_run.history)
    for a, b, c in zip(full_trainer.model.variables, resumed_trainer.model.variables, trained_run.variables,
                       strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(a.numpy(), c)
    # History on disk, TensorBoard logs, kept checkpoints (eval epoch 7 > 3, so the last 2).
    assert json.loads((tmp_path / "resumed" / "history.json").read_text()) == resumed
    assert any((tmp_path / "full" / "tensorboard" / "train").iterdir())
    assert full_trainer.checkpoints.finished_epochs() == [2, 3]
    # A checkpoint's fingerprint (what a resumed evaluation checks) tells other weights apart.
    fingerprints = [checkpoints.checkpoint_fingerprint(tmp_path / "full", epoch) for epoch in (2, 3, 3)]
    assert fingerprints[0] != fingerprints[1] == fingerprints[2]
    with pytest.raises(checkpoints.CheckpointError, match=r"no checkpoint of epoch 1; available: \[2, 3\]"):
        checkpoints.checkpoint_fingerprint(tmp_path / "full", 1)


class _Interrupted(Exception):
    pass


def assert_resumes_where_stopped_and_ends_as_uninterrupted(config, run, trained_run, where):
    """A new trainer on ``run`` says it resumes ``where`` and ends with ``trained_run``'s history and weights."""
    messages = []
    trainer = Trainer(config, run, prepare_task_data(config, run, str(trained_run.data_dir)), log=messages.append,
                      progress=False)
    resumed = trainer.fit()
    assert messages[0].endswith(where)
    assert without_times(resumed) == without_times(trained_run.history)
    for a, b in zip(trained_run.variables, trainer.model.variables, strict=True):
        np.testing.assert_array_equal(a, b.numpy())


def test_run_stopped_inside_an_epoch_resumes_there_exactly(tmp_path, trained_run, monkeypatch):
    # Stop in the middle of epoch 2 (after its 4th batch), saving after every batch.
    config = tiny_config(pretrained_embeddings=False)
    run = tmp_path / "stopped"
    trainer = Trainer(config, run, prepare_task_data(config, run, str(trained_run.data_dir)), log=lambda _: None,
                      progress=False, checkpoint_minutes=0)
    step, calls = trainer.train_step, []

    def stop_inside_epoch_2(batch):
        calls.append(1)
        if len(calls) == 8 + 5:  # 8 batches per epoch (120 pairs / 16)
            raise _Interrupted
        return step(batch)

    trainer.train_step = stop_inside_epoch_2
    with pytest.raises(_Interrupted):
        trainer.fit()
    assert_resumes_where_stopped_and_ends_as_uninterrupted(config, run, trained_run, "after epoch 1 and 4 batches of epoch 2.")
    assert not list((run / "checkpoints" / "mid_epoch").glob("step-*"))  # obsolete after the epoch ended


def test_ctrl_c_inside_an_epoch_saves_that_step_and_the_run_resumes_there_exactly(tmp_path, trained_run,
                                                                                  sigint_as_in_a_plain_process):
    """Ctrl-C stops after the step it came in (not inside TensorFlow's tracing), saving the place
    first although no timed save was due, and the run resumes from there as if never stopped."""
    config = tiny_config(pretrained_embeddings=False)
    run = trained_run.copy_after(1, tmp_path / "stopped")
    messages = []
    trainer = Trainer(config, run, prepare_task_data(config, run, str(trained_run.data_dir)), log=messages.append,
                      progress=False, checkpoint_minutes=60)
    step, calls = trainer.train_step, []

    def ctrl_c_at_batch_4(batch):
        calls.append(1)
        if len(calls) == 4:
            sigint_as_in_a_plain_process()
        return step(batch)

    trainer.train_step = ctrl_c_at_batch_4
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert len(calls) == 4 and messages[-1] == "Saving epoch 2 after 4 batches before stopping."
    assert_resumes_where_stopped_and_ends_as_uninterrupted(config, run, trained_run, "after epoch 1 and 4 batches of epoch 2.")


def test_training_learns_on_tiny_data(tmp_path, synthetic_data_dir):
    _, history = train(tmp_path / "run", synthetic_data_dir, epochs=6, learning_rate=0.01, pretrained_embeddings=False)
    assert history[-1]["train_reconstruction"] < 0.8 * history[0]["train_reconstruction"]
    assert {"val_bleu1", "val_bleu4", "val_entropy", "val_dist1", "val_dist2"} <= set(history[-1])
    assert {"val_kl_z_per_token", "val_kl_attention_per_token", "val_active_units", "val_mutual_information"} <= set(history[-1])


def test_per_epoch_diagnostics_leave_training_unchanged(tmp_path, trained_run, monkeypatch):
    """The diagnostics pass after each epoch restores the random streams: the next epoch trains
    exactly as it does without it (``trained_run`` had the diagnostics)."""
    monkeypatch.setattr("tf_varattn.diagnostics.LatentDiagnostics.__call__", lambda self, pairs, limit=None: {})
    _, without = train(tmp_path / "without", trained_run.data_dir, stop_after_epoch=2, pretrained_embeddings=False)
    with_diagnostics = trained_run.history
    assert "val_mutual_information" in with_diagnostics[1] and "val_mutual_information" not in without[1]
    for name in ("train_loss", "train_reconstruction", "train_kl_z", "train_kl_attention", "val_bleu4", "val_entropy"):
        assert with_diagnostics[1][name] == without[1][name], name


def test_non_finite_loss_stops_with_step_and_checkpoint(tmp_path, trained_run, monkeypatch):
    run = trained_run.copy_after(1, tmp_path / "run")
    config = tiny_config(pretrained_embeddings=False)
    trainer = Trainer(config, run, prepare_task_data(config, run, str(trained_run.data_dir)), log=lambda _: None,
                      progress=False)
    restore = checkpoints.RunCheckpoints.restore_latest

    def restore_then_poison(self):
        position = restore(self)
        trainer.model.output_projection.kernel.assign(np.full(trainer.model.output_projection.kernel.shape, np.nan))
        return position

    monkeypatch.setattr(checkpoints.RunCheckpoints, "restore_latest", restore_then_poison)
    with pytest.raises(TrainingError, match=r"Non-finite loss \(nan\) at step 9 \(epoch 2, batch 1\).*checkpoints/epoch-1\. "):
        trainer.fit()


def test_run_directory_of_another_config_is_refused(tmp_path, trained_run):
    run = trained_run.copy_after(1, tmp_path / "run")
    with pytest.raises(RunError, match="different config .*gamma_a: 0.1 -> 0.5"):
        train(run, trained_run.data_dir, pretrained_embeddings=False, gamma_a=0.5)


def test_run_resumes_after_a_default_changed_that_does_not_act_on_it(tmp_path, trained_run):
    """A VAttn run whose config.json has another Dirichlet floor (the default moved after it
    started) resumes; the same change on a Dirichlet run is refused by name."""
    from tf_varattn.training.runs import check_finished

    run = trained_run.copy_after(1, tmp_path / "run")
    stored = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**stored, "dirichlet_floor": 0.1}))
    assert check_finished(run, tiny_config(pretrained_embeddings=False)) is False
    _, history = train(run, trained_run.data_dir, stop_after_epoch=2, pretrained_embeddings=False)
    assert without_times(history) == without_times(trained_run.history[:2])
    dirichlet = tmp_path / "dirichlet"
    dirichlet.mkdir()
    config = get_config("ved_vattn_dirichlet", "qgen", **TINY)
    (dirichlet / "config.json").write_text(json.dumps({**config.to_dict(), "dirichlet_floor": 0.1}))
    with pytest.raises(RunError, match=r"another config \(dirichlet_floor: 0.1 \(asked 0.3\)\)"):
        check_finished(dirichlet, config)


def test_run_lock_is_exclusive_and_released(tmp_path):
    import os

    import pytest

    from tf_varattn.training.runs import RunError, RunLock

    with RunLock(tmp_path / "run"):
        assert (tmp_path / "run" / ".lock").read_text().strip() == str(os.getpid())
        with pytest.raises(RunError, match=rf"in use by another process \(PID {os.getpid()}\)"):
            with RunLock(tmp_path / "run"):
                pass
    with RunLock(tmp_path / "run"):  # released on exit
        pass


@pytest.mark.parametrize("damage", ["truncate", "empty", "flip"])
def test_damaged_checkpoint_names_itself_and_the_previous_good_one(tmp_path, trained_run, damage):
    run = trained_run.copy_after(2, tmp_path / "run")
    path = next((run / "checkpoints").glob("epoch-2.data-*"))
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0xFF  # one bit-flipped weight: the tensor's checksum catches it
        path.write_bytes(bytes(flipped))
    with pytest.raises(TrainingError, match=r"epoch-2 cannot be read .*damaged, incomplete or from another config\. "
                                            r"The newest readable checkpoint is .*epoch-1 \(epoch 1\): "
                                            r"rerun with --restart_from_epoch=1"):
        train(run, trained_run.data_dir, pretrained_embeddings=False)
    if damage != "truncate":
        return
    # Restarting from the good checkpoint ends where an undamaged run ends.
    config = tiny_config(pretrained_embeddings=False)
    trainer = Trainer(config, run, prepare_task_data(config, run, str(trained_run.data_dir)), log=lambda _: None,
                      progress=False)
    resumed = trainer.fit(restart_from_epoch=1)
    assert (run / "checkpoints" / "epoch-2.index.set-aside").is_file()
    assert without_times(resumed) == without_times(trained_run.history)


def test_a_checkpoint_missing_under_a_finished_epoch_stops_with_both_named(tmp_path, trained_run):
    run = trained_run.copy_after(1, tmp_path / "run")
    (run / "checkpoints" / "epoch-1.index").unlink()
    with pytest.raises(TrainingError, match=r"history.json records epoch\(s\) \[1\] as finished.*"
                                            r"no checkpoint of them \(newest: epoch none\).*--restart_from_epoch=0"):
        train(run, trained_run.data_dir, stop_after_epoch=1, pretrained_embeddings=False)
    assert [e["epoch"] for e in json.loads((run / "history.json").read_text())] == [1]  # nothing overwritten
    # The way out named in the message works: epoch 1 trained again, its history entry replaced.
    config = tiny_config(pretrained_embeddings=False)
    trainer = Trainer(config, run, prepare_task_data(config, run, str(trained_run.data_dir)), log=lambda _: None,
                      progress=False)
    assert [e["epoch"] for e in trainer.fit(1, restart_from_epoch=0)] == [1]
    assert (run / "checkpoints" / "epoch-1.index").is_file()


def test_a_failed_checkpoint_save_leaves_the_history_behind_and_no_leftovers(tmp_path, synthetic_data_dir,
                                                                             monkeypatch):
    run = tmp_path / "run"
    config = tiny_config(pretrained_embeddings=False)
    data = prepare_task_data(config, run, str(synthetic_data_dir))
    trainer = Trainer(config, run, data, log=lambda _: None, progress=False)
    real_save = trainer.checkpoints.save_epoch

    def disk_full(epoch):
        (run / "checkpoints" / f"epoch-{epoch}_temp").mkdir(parents=True)  # what TensorFlow's writer leaves
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trainer.checkpoints, "save_epoch", disk_full)
    with pytest.raises(TrainingError, match=r"could not write .*checkpoints \(OSError: No space left on device\); "
                                            r"a checkpoint of this model needs about [\d.]+ MB"):
        trainer.fit(1)
    assert not (run / "history.json").exists() and not list((run / "checkpoints").glob("*_temp*"))
    # Resumed with space again: the dropped pending history is not ahead, epoch 1 is trained, history after it.
    monkeypatch.setattr(trainer.checkpoints, "save_epoch", real_save)
    messages = []
    resumed = Trainer(config, run, data, log=messages.append, progress=False)
    assert [e["epoch"] for e in resumed.fit(1)] == [1]
    assert any("Dropped the unfinished history of epoch 1" in m for m in messages)
    assert json.loads((run / "history.json").read_text())[0]["epoch"] == 1
    assert (run / "checkpoints" / "epoch-1.index").is_file() and not (run / "history.pending.json").exists()


def test_a_history_whose_checkpoint_was_written_before_a_crash_is_recovered(tmp_path, trained_run):
    run = trained_run.copy_after(1, tmp_path / "run")
    history = trained_run.history[:1]
    # As if the process died between the checkpoint save and the history's rename.
    (run / "history.json").rename(run / "history.pending.json")
    messages = []
    config = tiny_config(pretrained_embeddings=False)
    trainer = Trainer(config, run, prepare_task_data(config, run, str(trained_run.data_dir)), log=messages.append,
                      progress=False)
    assert without_times(trainer.fit(1)) == without_times(history)
    assert any("Recovered the history of epoch 1" in m for m in messages)


def test_restarting_sets_aside_every_copy_of_a_later_epoch_in_one_go(tmp_path):
    """An epoch kept for good has two copies (checkpoints/ and kept/): both are set aside at once, so
    the advised --restart_from_epoch works on the first try."""
    from types import SimpleNamespace

    from tf_varattn.training.checkpoints import RunCheckpoints, epoch_prefixes

    folder = tmp_path / "checkpoints"
    (folder / "kept").mkdir(parents=True)
    for name in ("epoch-1.index", "epoch-1.data-00000-of-00001", "epoch-2.index", "kept/epoch-2.index",
                 "kept/epoch-1.index", "kept/epoch-1.data-00000-of-00001"):  # epoch 2's data lost in both places
        (folder / name).write_bytes(b"x")
    moved = RunCheckpoints.set_aside(SimpleNamespace(folder=folder), 1)
    assert sorted(path.relative_to(folder).as_posix() for path in moved) == [
        "epoch-2.index.set-aside", "kept/epoch-2.index.set-aside"]
    assert list(epoch_prefixes(tmp_path)) == [1]
