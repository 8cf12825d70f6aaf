"""Checkpoints with ``tf.train.Checkpoint`` and ``tf.train.CheckpointManager``: the model, the
optimizer, every random generator's state and the training position (finished epochs, batches
done in the epoch in progress, the running sums of its logged terms), so that a run resumes
exactly where the uninterrupted one would be, in the middle of an epoch too.

Layout of ``<run_dir>/checkpoints/``: ``epoch-N.*`` at the end of epochs (the newest few),
``kept/epoch-N.*`` for epochs kept for good (the one the paper evaluates), ``mid_epoch/step-*``
(the newest save inside the epoch in progress).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf


class CheckpointError(ValueError):
    """A checkpoint cannot be read (truncated, emptied, bit-flipped) or does not fit the model."""


@dataclasses.dataclass
class Position:
    """Where training stands: ``epochs`` finished, then ``batches`` of the next epoch done, with
    the sums and last values of the logged terms over those batches."""

    epochs: int = 0
    batches: int = 0
    sums: Optional[np.ndarray] = None
    last: Optional[np.ndarray] = None


def _random_states(model) -> list:
    """The state variables of the model's random generators (``keras.random.SeedGenerator``):
    Keras does not track them for ``tf.train.Checkpoint``, so they are added explicitly."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _epoch_of(prefix: str) -> int:
    return int(prefix.rsplit("-", 1)[1])


def epoch_prefixes(run_dir: os.PathLike) -> dict[int, str]:
    """Finished epoch -> checkpoint prefix, for every complete epoch checkpoint of a run on disk."""
    folder, found = Path(run_dir) / "checkpoints", {}
    for place in (folder, folder / "kept"):
        for index in sorted(place.glob("epoch-*.index")):
            prefix = str(index.with_suffix(""))
            found[_epoch_of(prefix)] = prefix
    return dict(sorted(found.items()))


def epoch_prefix(run_dir: os.PathLike, epoch: int) -> str:
    """The checkpoint prefix of ``epoch``; :class:`CheckpointError` naming the others if there is none."""
    prefixes = epoch_prefixes(run_dir)
    if epoch not in prefixes:
        raise CheckpointError(f"{Path(run_dir) / 'checkpoints'} has no checkpoint of epoch {epoch}; "
                              f"available: {list(prefixes)}.")
    return prefixes[epoch]


def checkpoint_fingerprint(run_dir: os.PathLike, epoch: int) -> str:
    """A digest of the weights saved after ``epoch``: the SHA-256 of the checkpoint's index file,
    which records a checksum of every saved tensor."""
    return hashlib.sha256(Path(f"{epoch_prefix(run_dir, epoch)}.index").read_bytes()).hexdigest()


class RunCheckpoints:
    """All checkpoints of one run directory for one model (optimizer attached)."""

    def __init__(self, run_dir: os.PathLike, model, logged: Sequence[str] = (), keep_last: int = 2,
                 keep_epochs: Sequence[int] = ()):
        self.folder = Path(run_dir) / "checkpoints"
        self.keep_epochs = set(keep_epochs)
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        self._epochs = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._batches = tf.Variable(0, dtype=tf.int64, trainable=False)
        # Any length: a reader (evaluation) need not know which terms training logs.
        self._sums = tf.Variable(tf.zeros([len(logged)], tf.float64), trainable=False, shape=tf.TensorShape(None))
        self._last = tf.Variable(tf.zeros([len(logged)], tf.float64), trainable=False, shape=tf.TensorShape(None))
        self.checkpoint = tf.train.Checkpoint(
            model=model, optimizer=model.optimizer, random_states=_random_states(model),
            epochs=self._epochs, batches=self._batches, sums=self._sums, last=self._last,
        )
        self.epoch_manager = tf.train.CheckpointManager(self.checkpoint, str(self.folder), max_to_keep=keep_last,
                                                        checkpoint_name="epoch")
        self.mid_manager = tf.train.CheckpointManager(self.checkpoint, str(self.folder / "mid_epoch"), max_to_keep=1,
                                                      checkpoint_name="step")

    # -- where the checkpoints are --------------------------------------------------------------
    def epoch_prefixes(self) -> dict[int, str]:
        """Finished epoch -> checkpoint prefix, for every complete epoch checkpoint on disk."""
        return epoch_prefixes(self.folder.parent)

    def finished_epochs(self) -> list[int]:
        return list(self.epoch_prefixes())

    # -- saving -----------------------------------------------------------------------------------
    def _set_position(self, position: Position) -> None:
        self._epochs.assign(position.epochs)
        self._batches.assign(position.batches)
        if position.sums is not None:
            self._sums.assign(position.sums)
            self._last.assign(position.last)

    def save_epoch(self, epoch: int) -> str:
        """Saves the state after ``epoch`` (the newest ``keep_last`` are kept, and ``keep_epochs``
        for good); the epoch's mid-epoch checkpoint is then obsolete and removed."""
        self._set_position(Position(epochs=epoch))
        prefix = self.epoch_manager.save(checkpoint_number=epoch)
        if epoch in self.keep_epochs:
            self.checkpoint.write(str(self.folder / "kept" / f"epoch-{epoch}"))
        shutil.rmtree(self.folder / "mid_epoch", ignore_errors=True)
        self.mid_manager = tf.train.CheckpointManager(self.checkpoint, str(self.folder / "mid_epoch"), max_to_keep=1,
                                                      checkpoint_name="step")
        return prefix

    def save_mid_epoch(self, position: Position) -> str:
        """Saves the state inside an epoch (replacing the previous mid-epoch save)."""
        self._set_position(position)
        return self.mid_manager.save()

    # -- restoring --------------------------------------------------------------------------------
    def _read(self, prefix: str) -> None:
        try:
            self.checkpoint.read(prefix).assert_existing_objects_matched().expect_partial()
        except (tf.errors.OpError, ValueError, AssertionError, IndexError, KeyError) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise CheckpointError(f"{prefix} cannot be read ({type(error).__name__}: {message}): "
                                  "the checkpoint is damaged, incomplete or from another config.") from None

    def _position(self) -> Position:
        return Position(int(self._epochs.numpy()), int(self._batches.numpy()), self._sums.numpy(), self._last.numpy())

    def restore_epoch(self, epoch: int) -> Position:
        self._read(epoch_prefix(self.folder.parent, epoch))
        return self._position()

    def restore_latest(self) -> Position:
        """Restores the newest state: a mid-epoch save after the newest finished epoch if there is
        one, else the newest epoch checkpoint; nothing to restore gives ``Position()``."""
        epochs = self.finished_epochs()
        newest = epochs[-1] if epochs else 0
        mid = self.mid_manager.latest_checkpoint
        if mid is not None:
            try:
                after = int(tf.train.load_variable(mid, "epochs/.ATTRIBUTES/VARIABLE_VALUE"))
            except (tf.errors.OpError, ValueError, IndexError, KeyError) as error:
                raise CheckpointError(f"{mid} cannot be read ({type(error).__name__}): the mid-epoch checkpoint "
                                      "is damaged.") from None
            if after == newest:
                self._read(mid)
                return self._position()
        return self.restore_epoch(newest) if epochs else Position()

    def set_aside(self, after_epoch: int) -> list[Path]:
        """Renames the checkpoints of later epochs (and any mid-epoch save) to ``*.set-aside``, so
        training resumes after ``after_epoch``; nothing is deleted. Returns the new paths."""
        moved = []
        # Every copy of a later epoch: the rotating one in checkpoints/ and the one kept for good in kept/.
        for place in (self.folder, self.folder / "kept"):
            for index in sorted(place.glob("epoch-*.index")):
                prefix = index.with_suffix("")
                if _epoch_of(str(prefix)) > after_epoch:
                    for path in place.glob(prefix.name + ".*"):
                        target = path.with_name(path.name + ".set-aside")
                        os.replace(path, target)
                        moved.append(target)
        mid = self.folder / "mid_epoch"
        if mid.is_dir():
            target = mid.with_name("mid_epoch.set-aside")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(mid, target)
            moved.append(target)
        return moved
