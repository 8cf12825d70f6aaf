"""Per-epoch checkpoints of every model and optimizer variable (random-generator states
included), so a resumed run continues exactly where the uninterrupted one would be."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np


def _variables(model):
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return list(model.variables) + list(model.optimizer.variables)


def _layout(variables) -> list[str]:
    """Variable names (without Keras's per-process uniquifying suffixes) and shapes."""
    return [f"{re.sub(r'_[0-9]+(?=/|$)', '', v.path)}:{tuple(v.shape)}" for v in variables]


def checkpoint_path(run_dir: os.PathLike, epoch: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"epoch-{epoch:03d}.npz"


def save_checkpoint(model, run_dir: os.PathLike, epoch: int) -> Path:
    """Writes ``checkpoints/epoch-NNN.npz`` atomically and returns its path."""
    path = checkpoint_path(run_dir, epoch)
    path.parent.mkdir(parents=True, exist_ok=True)
    variables = _variables(model)
    arrays = {f"v{index}": np.asarray(v.numpy()) for index, v in enumerate(variables)}
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, layout=np.array(json.dumps(_layout(variables))), **arrays)
    os.replace(temporary, path)
    return path


class CheckpointError(ValueError):
    """A checkpoint file cannot be read (truncated, emptied, bit-flipped) or does not fit the model."""


def restore_checkpoint(model, path: os.PathLike) -> None:
    """Assigns every variable from ``path``; a damaged file or a different model layout is a
    :class:`CheckpointError` that says which."""
    variables = _variables(model)
    try:
        with np.load(path) as stored:
            layout = json.loads(str(stored["layout"]))
            if layout != _layout(variables):
                raise CheckpointError(f"{path} was written by a model with different variables; "
                                      "it cannot be restored into this config.")
            values = [stored[f"v{index}"] for index in range(len(variables))]  # reads (and CRC-checks) all first
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as error:
        raise CheckpointError(f"{path} cannot be read ({type(error).__name__}: {error}): "
                              "the file is damaged or incomplete.") from None
    for variable, value in zip(variables, values):
        variable.assign(value)


def finished_epochs(run_dir: os.PathLike) -> list[int]:
    """Epochs with a complete checkpoint, ascending."""
    folder = Path(run_dir) / "checkpoints"
    return sorted(int(p.stem.split("-")[1]) for p in folder.glob("epoch-*.npz") if not p.name.endswith(".tmp.npz"))


def prune_checkpoints(run_dir: os.PathLike, keep_last: int, keep_epochs: tuple[int, ...] = ()) -> None:
    """Deletes all but the newest ``keep_last`` checkpoints and those of ``keep_epochs``."""
    epochs = finished_epochs(run_dir)
    for epoch in epochs[: max(len(epochs) - keep_last, 0)]:
        if epoch not in keep_epochs:
            checkpoint_path(run_dir, epoch).unlink()


def set_aside(run_dir: os.PathLike, after_epoch: int) -> list[Path]:
    """Renames the checkpoints of epochs after ``after_epoch`` to ``*.set-aside`` (never deleted),
    so that training resumes from ``after_epoch``; returns the new paths."""
    moved = []
    for epoch in finished_epochs(run_dir):
        if epoch > after_epoch:
            path = checkpoint_path(run_dir, epoch)
            target = path.with_name(path.name + ".set-aside")
            os.replace(path, target)
            moved.append(target)
    return moved


def latest_checkpoint(run_dir: os.PathLike) -> Optional[tuple[int, Path]]:
    epochs = finished_epochs(run_dir)
    return (epochs[-1], checkpoint_path(run_dir, epochs[-1])) if epochs else None
