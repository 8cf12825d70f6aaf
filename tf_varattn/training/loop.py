"""The training loop: per-epoch checkpoints and exact resume, validation metrics after every
epoch, TensorBoard logs, and a stop with a clear error on a non-finite loss."""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from tf_varattn.config import Config
from tf_varattn.data.pipeline import make_dataset
from tf_varattn.data.prepare import TaskData
from tf_varattn.decoding import Decoder
from tf_varattn.diagnostics import LatentDiagnostics
from tf_varattn.evaluation import evaluate_split, output_length
from tf_varattn.interrupts import stop_point, stop_points
from tf_varattn.models import build_model
from tf_varattn.progress import Progress
from tf_varattn.training import checkpoints
from tf_varattn.training.distribute import make_strategy
from tf_varattn.training.runs import check_config, read_history, write_json
from tf_varattn.training.schedules import learning_rate
from tf_varattn.training.step import logged_terms, make_train_step

PENDING_HISTORY = "history.pending.json"


def _megabytes(value: float) -> str:
    return f"{value:.2f}" if value < 1 else f"{value:.0f}"  # a tiny model's 0.16 MB is not "0 MB"


def checkpoint_megabytes(model) -> float:
    """The size of one checkpoint of ``model`` (its variables and the optimizer's), in MB."""
    variables = list(model.variables) + list(model.optimizer.variables)
    return sum(int(np.prod(v.shape)) * tf.as_dtype(v.dtype).size for v in variables) / 1e6


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, a damaged checkpoint)."""


class Trainer:
    """Trains one config into ``run_dir``; running it again resumes after the last finished epoch."""

    def __init__(self, config: Config, run_dir: os.PathLike, data: TaskData, log: Callable[[str], None] = print,
                 keep_checkpoints: int = 2, progress: bool = True, distribution_strategy: str = "none",
                 checkpoint_minutes: Optional[float] = 10.0):
        self.config, self.run_dir, self.data, self.log = data.sized(config), Path(run_dir), data, log
        self.progress = progress
        self.checkpoint_seconds = None if checkpoint_minutes is None else 60.0 * checkpoint_minutes
        check_config(self.run_dir, self.config)
        keras.utils.set_random_seed(self.config.seed)
        self.strategy = make_strategy(distribution_strategy)
        with self.strategy.scope():
            self.model = build_model(self.config, data.embeddings)
        self.logged = logged_terms(self.config)
        self.checkpoints = checkpoints.RunCheckpoints(self.run_dir, self.model, self.logged, keep_checkpoints,
                                                      keep_epochs=(self.config.eval_epoch,))
        self.decoder = Decoder(self.model)
        self.diagnostics = LatentDiagnostics(self.model, self.config.batch_size)
        self.train_step = make_train_step(self.model, self.strategy, self.config.epochs * self.steps_per_epoch())
        self.writers = {
            name: tf.summary.create_file_writer(str(self.run_dir / "tensorboard" / name)) for name in ("train", "val")
        }

    def restore(self, restart_from_epoch: Optional[int] = None) -> checkpoints.Position:
        """Restores the newest state (mid-epoch included), or that after ``restart_from_epoch``
        (setting later checkpoints aside). A damaged checkpoint stops with an error naming it and
        the newest readable one to restart from."""
        if restart_from_epoch is not None:
            available = self.checkpoints.finished_epochs()
            if restart_from_epoch and restart_from_epoch not in available:
                raise TrainingError(f"{self.run_dir} has no checkpoint of epoch {restart_from_epoch}; "
                                    f"available: {available or 'none'} (0 restarts from scratch).")
            for path in self.checkpoints.set_aside(restart_from_epoch):
                self.log(f"Set aside {path.name} (restarting from epoch {restart_from_epoch}).")
        try:
            position = self.checkpoints.restore_latest()
        except checkpoints.CheckpointError as error:
            raise TrainingError(f"{error} {self._restart_hint()}") from None
        if position.epochs or position.batches:
            where = f" and {position.batches} batches of epoch {position.epochs + 1}" if position.batches else ""
            self.log(f"Resuming {self.run_dir} after epoch {position.epochs}{where}.")
        return position

    def _restart_hint(self) -> str:
        for epoch in reversed(self.checkpoints.finished_epochs()):
            try:
                self.checkpoints.restore_epoch(epoch)
            except checkpoints.CheckpointError:
                continue
            return (f"The newest readable checkpoint is {self.checkpoints.epoch_prefixes()[epoch]} (epoch {epoch}): "
                    f"rerun with --restart_from_epoch={epoch} to resume from it (later checkpoints are set aside, "
                    "not deleted).")
        return "No readable checkpoint: rerun with --restart_from_epoch=0 to train from the start."

    def fit(self, stop_after_epoch: Optional[int] = None, restart_from_epoch: Optional[int] = None) -> list[dict]:
        """Trains the remaining epochs (up to ``stop_after_epoch`` if given) and returns the history.
        Ctrl-C or SIGTERM stops it between two steps (:mod:`tf_varattn.interrupts`) with a KeyboardInterrupt."""
        with stop_points():
            return self._fit(stop_after_epoch, restart_from_epoch)

    def _fit(self, stop_after_epoch: Optional[int], restart_from_epoch: Optional[int]) -> list[dict]:
        config = self.config
        self._remove_failed_saves()
        position = self.restore(restart_from_epoch)
        done = position.epochs
        self._settle_pending_history(done)
        history = read_history(self.run_dir)
        ahead = [entry["epoch"] for entry in history if entry["epoch"] > done]
        if ahead and restart_from_epoch is None:
            raise TrainingError(
                f"{self.run_dir / 'history.json'} records epoch(s) {ahead} as finished, but "
                f"{self.run_dir / 'checkpoints'} holds no checkpoint of them (newest: epoch {done or 'none'}); "
                "a checkpoint was deleted or never written. Rerun with "
                f"--restart_from_epoch={done} to train from epoch {done + 1} again (their history entries are "
                "replaced), or restore the missing checkpoint files.")
        history = [entry for entry in history if entry["epoch"] <= done]
        last = config.epochs if stop_after_epoch is None else min(config.epochs, stop_after_epoch)
        for epoch in range(done + 1, last + 1):
            stop_point()
            entry = self.train_epoch(epoch, position if epoch == done + 1 else checkpoints.Position(epoch - 1))
            entry.update(self.validate(epoch))
            history.append(entry)
            # The history names an epoch only once its checkpoint is written: pending until then.
            pending = self.run_dir / PENDING_HISTORY
            self._write(lambda: write_json(pending, history), pending)
            self._write(lambda: self.checkpoints.save_epoch(epoch), self.run_dir / "checkpoints")
            os.replace(pending, self.run_dir / "history.json")
            self.log(f"epoch {epoch}: " + ", ".join(f"{k}={v:.4g}" for k, v in entry.items() if isinstance(v, float)))
        return history

    def _write(self, save: Callable[[], object], place: Path) -> None:
        """Runs ``save``; a failure to write (a full disk, no permission) stops training with one
        line naming the place and the space a checkpoint needs, after removing what it left."""
        try:
            save()
        except (OSError, tf.errors.OpError) as error:
            self._remove_failed_saves()
            reason = getattr(error, "strerror", None) or str(error).strip().splitlines()[0][:200]
            raise TrainingError(
                f"could not write {place} ({type(error).__name__}: {reason}); a checkpoint of this model needs "
                f"about {_megabytes(checkpoint_megabytes(self.model))} MB free there. Free space (or move the run) and "
                "rerun the same command: it resumes from the last checkpoint.") from None

    def _remove_failed_saves(self) -> None:
        """Removes what an interrupted or failed save left (``*_temp*`` folders of the checkpoint writer)."""
        folder = self.run_dir / "checkpoints"
        for leftover in sorted(folder.glob("**/*_temp*")) if folder.is_dir() else []:
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
            self.log(f"Removed {leftover}, left by a checkpoint save that did not finish.")

    def _settle_pending_history(self, done: int) -> None:
        """A history written before a checkpoint save that did not finish: kept if the checkpoint
        of its last epoch exists after all, else dropped (that epoch is trained again)."""
        pending = self.run_dir / PENDING_HISTORY
        if not pending.is_file():
            return
        try:
            last = max(entry["epoch"] for entry in read_history(self.run_dir, PENDING_HISTORY))
        except (ValueError, KeyError, TypeError):
            last = None
        if last is not None and last <= done:
            os.replace(pending, self.run_dir / "history.json")
            self.log(f"Recovered the history of epoch {last} (its checkpoint was written).")
        else:
            pending.unlink()
            self.log(f"Dropped the unfinished history of epoch {last} (its checkpoint was never written).")

    def steps_per_epoch(self) -> int:
        """Optimiser steps in one pass over the training split."""
        count, size = len(self.data.encoded["train"]), self.config.batch_size
        return count // size if self.config.drop_remainder else math.ceil(count / size)

    def train_epoch(self, epoch: int, start: checkpoints.Position) -> dict:
        """One pass over the training split (epoch counted from 1), from ``start.batches`` on when
        resuming inside it (the batches are the same: their order depends on seed and epoch only)."""
        config, model = self.config, self.model
        model.set_epoch(epoch - 1)
        model.optimizer.learning_rate.assign(learning_rate(config, epoch - 1))
        train = self.data.encoded["train"]
        dataset = make_dataset(
            train, config.batch_size, config.shuffle, config.seed, epoch - 1, config.drop_remainder, config.bucket_pool
        ).skip(start.batches)
        if self.strategy.num_replicas_in_sync > 1:
            dataset = self.strategy.experimental_distribute_dataset(dataset)
        steps = self.steps_per_epoch()
        bar = Progress(steps, f"epoch {epoch}", stateful=("kl_weight", "learning_rate"),
                       initial=start.batches) if self.progress else None
        resumed = start.batches > 0
        totals = dict(zip(self.logged, start.sums.tolist() if resumed else [0.0] * len(self.logged)))
        values = dict(zip(self.logged, start.last.tolist())) if resumed else {}
        begin = last_save = time.perf_counter()
        batches = saved = start.batches
        for batch in dataset:
            logs = self.train_step(batch)
            batches += 1
            step = int(model.optimizer.iterations.numpy())
            values = {name: float(logs[name]) for name in self.logged}
            if not math.isfinite(values["loss"]):
                finished = self.checkpoints.finished_epochs()
                raise TrainingError(
                    f"Non-finite loss ({values['loss']}) at step {step} (epoch {epoch}, batch {batches}). "
                    f"Last good checkpoint: {self.checkpoints.epoch_prefixes()[finished[-1]] if finished else 'none (no epoch finished)'}. "
                    "Lower --learning_rate or check the data; nothing was skipped."
                )
            for name, value in values.items():
                totals[name] += value
            with self.writers["train"].as_default(step=step):
                for name, value in values.items():
                    tf.summary.scalar(name, value)
                if batches == 1 and config.variational and "z_mean" in logs:
                    tf.summary.histogram("z_mean", logs["z_mean"])
                    tf.summary.histogram("z_log_sigma", logs["z_log_sigma"])
            if bar is not None:
                bar.update(batches, [(name, values[name]) for name in self.logged])
            if self.checkpoint_seconds is not None and time.perf_counter() - last_save >= self.checkpoint_seconds:
                self._save_mid_epoch(epoch, batches, totals, values)
                last_save, saved = time.perf_counter(), batches
            try:
                stop_point()
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the steps since the last save are saved first
                # (one process: in a cluster every worker would have to save together)
                cluster = isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)
                if self.checkpoint_seconds is not None and saved != batches and not cluster:
                    self.log(f"Saving epoch {epoch} after {batches} batches before stopping.")
                    self._save_mid_epoch(epoch, batches, totals, values)
                raise
        count = max(batches, 1)
        entry = {"epoch": epoch, "steps": int(model.optimizer.iterations.numpy()), "train_seconds": round(time.perf_counter() - begin, 1)}
        entry.update({f"train_{name}": totals[name] / count for name in self.logged})
        entry["kl_weight"], entry["learning_rate"] = values["kl_weight"], values["learning_rate"]
        return entry

    def _save_mid_epoch(self, epoch: int, batches: int, totals: dict, values: dict) -> None:
        """Saves the place after ``batches`` batches of ``epoch`` (with the running sums and last values)."""
        position = checkpoints.Position(
            epoch - 1, batches, np.array([totals[n] for n in self.logged]), np.array([values[n] for n in self.logged]))
        self._write(lambda: self.checkpoints.save_mid_epoch(position), self.run_dir / "checkpoints" / "mid_epoch")

    def validate(self, epoch: int) -> dict:
        """BLEU-1..4 and entropy / Dist-1 / Dist-2 of sampled outputs on the first ``eval_subset`` val
        inputs, and the latent diagnostics on the same pairs (:mod:`tf_varattn.diagnostics`: KL per
        token, active units, I(x; z); they leave the random streams as they were)."""
        config, start = self.config, time.perf_counter()
        metrics, outputs = evaluate_split(
            self.decoder, self.data.vocab, self.data.encoded["val"].source_ids, self.data.references("val"),
            mode="sample", num_samples=config.num_samples, limit=config.eval_subset,
            z_temperature=config.z_temperature, attention_temperature=config.attention_temperature,
            batch_size=max(1, 1000 // config.num_samples),
        )
        metrics.update(output_length(self.data.references("val")[: config.eval_subset], outputs))
        metrics.update(self.diagnostics(self.data.encoded["val"], limit=config.eval_subset))
        with self.writers["val"].as_default(step=int(self.model.optimizer.iterations.numpy())):
            for name, value in metrics.items():
                tf.summary.scalar(name, value)
        self.writers["val"].flush()
        self.writers["train"].flush()
        return {**{f"val_{k}": float(v) for k, v in metrics.items()}, "val_seconds": round(time.perf_counter() - start, 1)}
