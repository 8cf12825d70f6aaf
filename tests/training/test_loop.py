import json

import numpy as np
import pytest

from tf_varattn.config import get_config
from tf_varattn.data.prepare import prepare_task_data
from tf_varattn.training import checkpoints
from tf_varattn.training.loop import Trainer, TrainingError

TINY = dict(embedding_dim=16, encoder_units=8, decoder_units=16, latent_dim=4, attentional_dim=8, batch_size=16,
            epochs=3, eval_subset=10, num_samples=3, word2vec_epochs=2, max_decode_length=8)


def tiny_config(**overrides):
    return get_config("ved_vattn_mean", "qgen", **{**TINY, **overrides})


def train(run_dir, data_dir, stop_after_epoch=None, **overrides):
    config = tiny_config(**overrides)
    data = prepare_task_data(config, run_dir, str(data_dir))
    trainer = Trainer(config, run_dir, data, log=lambda _: None, progress=False)
    return trainer, trainer.fit(stop_after_epoch)


def without_times(history):
    return [{k: v for k, v in entry.items() if not k.endswith("_seconds")} for entry in history]


def test_resumed_run_matches_uninterrupted_run(tmp_path, synthetic_data_dir):
    full_trainer, full = train(tmp_path / "full", synthetic_data_dir)
    _, first = train(tmp_path / "resumed", synthetic_data_dir, stop_after_epoch=1)
    assert len(first) == 1
    resumed_trainer, resumed = train(tmp_path / "resumed", synthetic_data_dir)
    assert without_times(resumed) == without_times(full)
    assert [e["epoch"] for e in full] == [1, 2, 3]
    for a, b in zip(full_trainer.model.variables, resumed_trainer.model.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # History on disk, TensorBoard logs, kept checkpoints (eval epoch 7 > 3, so the last 2).
    assert json.loads((tmp_path / "resumed" / "history.json").read_text()) == resumed
    assert any((tmp_path / "full" / "tensorboard" / "train").iterdir())
    assert checkpoints.finished_epochs(tmp_path / "full") == [2, 3]


def test_training_learns_on_tiny_data(tmp_path, synthetic_data_dir):
    _, history = train(tmp_path / "run", synthetic_data_dir, epochs=6, learning_rate=0.01, pretrained_embeddings=False)
    assert history[-1]["train_reconstruction"] < 0.8 * history[0]["train_reconstruction"]
    assert {"val_bleu1", "val_bleu4", "val_entropy", "val_dist1", "val_dist2"} <= set(history[-1])


def test_non_finite_loss_stops_with_step_and_checkpoint(tmp_path, synthetic_data_dir, monkeypatch):
    trainer, _ = train(tmp_path / "run", synthetic_data_dir, stop_after_epoch=1, pretrained_embeddings=False)
    restore = checkpoints.restore_checkpoint

    def restore_then_poison(model, path):
        restore(model, path)
        model.output_projection.kernel.assign(np.full(model.output_projection.kernel.shape, np.nan))

    monkeypatch.setattr(checkpoints, "restore_checkpoint", restore_then_poison)
    with pytest.raises(TrainingError, match=r"Non-finite loss \(nan\) at step 9 \(epoch 2, batch 1\).*epoch-001\.npz"):
        trainer.fit()


def test_run_directory_of_another_config_is_refused(tmp_path, synthetic_data_dir):
    train(tmp_path / "run", synthetic_data_dir, stop_after_epoch=1, pretrained_embeddings=False)
    with pytest.raises(TrainingError, match="different config .*gamma_a: 0.1 -> 0.5"):
        train(tmp_path / "run", synthetic_data_dir, pretrained_embeddings=False, gamma_a=0.5)


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
def test_damaged_checkpoint_names_itself_and_the_previous_good_one(tmp_path, synthetic_data_dir, damage):
    run = tmp_path / "run"
    train(run, synthetic_data_dir, stop_after_epoch=2, pretrained_embeddings=False)
    path = checkpoints.checkpoint_path(run, 2)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        import zipfile

        largest = max(zipfile.ZipFile(path).infolist(), key=lambda member: member.file_size)
        flipped = bytearray(data)
        flipped[largest.header_offset + 100 + largest.file_size // 2] ^= 0xFF  # one bit-flipped weight
        path.write_bytes(bytes(flipped))
    with pytest.raises(TrainingError, match=r"epoch-002\.npz cannot be read .*damaged or incomplete\. "
                                            r"The previous good checkpoint is .*epoch-001\.npz \(epoch 1\): "
                                            r"rerun with --restart_from_epoch=1"):
        train(run, synthetic_data_dir, pretrained_embeddings=False)
    if damage != "truncate":
        return
    # Restarting from the good checkpoint ends where an undamaged run ends.
    _, full = train(tmp_path / "full", synthetic_data_dir, pretrained_embeddings=False)
    config = tiny_config(pretrained_embeddings=False)
    trainer = Trainer(config, run, prepare_task_data(config, run, str(synthetic_data_dir)), log=lambda _: None,
                      progress=False)
    resumed = trainer.fit(restart_from_epoch=1)
    assert (run / "checkpoints" / "epoch-002.npz.set-aside").is_file()
    assert without_times(resumed) == without_times(full)
